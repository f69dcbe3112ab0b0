CREATE TABLE `push_state` (
	`receiver_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`seq` integer NOT NULL,
	`prev_seq` integer NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`receiver_id`, `conversation_id`)
);
--> statement-breakpoint
CREATE TABLE `push_subscriptions` (
	`endpoint` text PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`user_id` text NOT NULL,
	`p256dh` text NOT NULL,
	`auth` text NOT NULL,
	`expires_at` text,
	`created_at` text NOT NULL,
	`last_seen_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `push_subscriptions_id_unique` ON `push_subscriptions` (`id`);--> statement-breakpoint
CREATE INDEX `push_subscriptions_user_seen_idx` ON `push_subscriptions` (`user_id`,`last_seen_at`);