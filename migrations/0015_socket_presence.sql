CREATE TABLE `socket_presence` (
	`scope` text PRIMARY KEY NOT NULL,
	`sockets` integer NOT NULL,
	`version` integer NOT NULL
);
