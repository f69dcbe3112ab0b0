CREATE TABLE `blocks` (
	`blocker_id` text NOT NULL,
	`blocked_id` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`blocker_id`, `blocked_id`)
);
--> statement-breakpoint
CREATE INDEX `blocks_blocker_created_idx` ON `blocks` (`blocker_id`,`created_at`,`blocked_id`);--> statement-breakpoint
CREATE TABLE `erasures` (
	`user_id` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`removed` integer DEFAULT 0 NOT NULL,
	`requested_by` text NOT NULL,
	`started_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`finished_at` text,
	CONSTRAINT "erasures_status" CHECK(status IN ('running', 'done'))
);
--> statement-breakpoint
CREATE TABLE `reports` (
	`pk` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`reporter_id` text NOT NULL,
	`reported_user_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`reason` text NOT NULL,
	`details` text,
	`message_ids` text NOT NULL,
	`also_blocked` integer DEFAULT false NOT NULL,
	`snapshot` text NOT NULL,
	`snapshot_redacted_at` text,
	`status` text DEFAULT 'open' NOT NULL,
	`resolution` text,
	`resolution_note` text,
	`resolved_by` text,
	`resolved_at` text,
	`created_at` text NOT NULL,
	CONSTRAINT "reports_reason" CHECK(reason IN ('harassment', 'spam', 'scam', 'inappropriate', 'underage', 'other')),
	CONSTRAINT "reports_status" CHECK(status IN ('open', 'resolved')),
	CONSTRAINT "reports_resolution" CHECK(resolution IS NULL OR resolution IN ('no_action', 'warned', 'content_removed', 'user_suspended'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `reports_id_unique` ON `reports` (`id`);--> statement-breakpoint
CREATE INDEX `reports_status_created_idx` ON `reports` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `reports_reported_created_idx` ON `reports` (`reported_user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `reports_reporter_created_idx` ON `reports` (`reporter_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `reports_reason_created_idx` ON `reports` (`reason`,`created_at`);--> statement-breakpoint
CREATE INDEX `reports_created_idx` ON `reports` (`created_at`);--> statement-breakpoint
CREATE INDEX `reports_redaction_idx` ON `reports` (`resolved_at`) WHERE snapshot_redacted_at IS NULL AND resolved_at IS NOT NULL;--> statement-breakpoint
CREATE TABLE `send_refusals` (
	`reason` text NOT NULL,
	CONSTRAINT "send_refused_suspended" CHECK(reason <> 'suspended'),
	CONSTRAINT "send_refused_unmatched" CHECK(reason <> 'unmatched'),
	CONSTRAINT "send_refused_blocking" CHECK(reason <> 'blocking'),
	CONSTRAINT "send_refused_blocked" CHECK(reason <> 'blocked'),
	CONSTRAINT "send_refused_first_contact_limit" CHECK(reason <> 'first_contact_limit'),
	CONSTRAINT "send_refused_first_contact_content" CHECK(reason <> 'first_contact_content')
);
--> statement-breakpoint
CREATE TABLE `suspensions` (
	`user_id` text PRIMARY KEY NOT NULL,
	`reason` text NOT NULL,
	`until` text,
	`admin_id` text NOT NULL,
	`created_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `unmatches` (
	`user_id` text NOT NULL,
	`partner_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`unmatched_by` text NOT NULL,
	`unmatched_at` text NOT NULL,
	`messages_erased_at` text,
	PRIMARY KEY(`user_id`, `partner_id`)
);
--> statement-breakpoint
CREATE INDEX `unmatches_pending_erasure_idx` ON `unmatches` (`unmatched_at`) WHERE messages_erased_at IS NULL AND user_id < partner_id;--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_credit_transactions` (
	`pk` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`user_id` text NOT NULL,
	`amount` integer NOT NULL,
	`balance_after` integer NOT NULL,
	`kind` text NOT NULL,
	`reason` text,
	`message_id` text,
	`admin_id` text,
	`created_at` text NOT NULL,
	CONSTRAINT "credit_transactions_kind" CHECK(kind IN ('grant', 'message', 'refund'))
);
--> statement-breakpoint
INSERT INTO `__new_credit_transactions`("pk", "id", "user_id", "amount", "balance_after", "kind", "reason", "message_id", "admin_id", "created_at") SELECT "pk", "id", "user_id", "amount", "balance_after", "kind", "reason", "message_id", "admin_id", "created_at" FROM `credit_transactions`;--> statement-breakpoint
DROP TABLE `credit_transactions`;--> statement-breakpoint
ALTER TABLE `__new_credit_transactions` RENAME TO `credit_transactions`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `credit_transactions_id_unique` ON `credit_transactions` (`id`);--> statement-breakpoint
CREATE INDEX `credit_transactions_user_pk_idx` ON `credit_transactions` (`user_id`,`pk`);--> statement-breakpoint
CREATE UNIQUE INDEX `credit_transactions_refund_unique` ON `credit_transactions` (`message_id`) WHERE kind = 'refund';--> statement-breakpoint
ALTER TABLE `conversation_members` ADD `sent_count` integer DEFAULT 0 NOT NULL;