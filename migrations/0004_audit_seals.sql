CREATE TABLE `audit_seals` (
	`audit_pk` integer PRIMARY KEY NOT NULL,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL,
	`key_id` text NOT NULL,
	`sealed_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_seals_prev_hash_unique` ON `audit_seals` (`prev_hash`);--> statement-breakpoint
CREATE INDEX `audit_log_throttled_idx` ON `audit_log` (`admin_id`,`created_at`) WHERE status_code = 429;