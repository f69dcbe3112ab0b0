CREATE TABLE `room_visits` (
	`user_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`first_at` text NOT NULL,
	PRIMARY KEY(`user_id`, `conversation_id`)
);
