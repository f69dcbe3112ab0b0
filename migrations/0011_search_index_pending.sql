CREATE TABLE `messages_fts_pending` (
	`pk` integer PRIMARY KEY NOT NULL
);
