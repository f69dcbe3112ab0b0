CREATE TABLE `admins` (
	`id` text PRIMARY KEY NOT NULL,
	`email` text NOT NULL,
	`role` text NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	CONSTRAINT "admins_role" CHECK(role IN ('support', 'moderator', 'analyst', 'admin', 'super_admin'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `admins_email_unique` ON `admins` (`email`);--> statement-breakpoint
CREATE INDEX `admins_role_active_idx` ON `admins` (`role`,`active`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`pk` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`created_at` text NOT NULL,
	`admin_id` text NOT NULL,
	`admin_email` text,
	`admin_role` text,
	`action` text NOT NULL,
	`target_type` text,
	`target_id` text,
	`outcome` text NOT NULL,
	`status_code` integer NOT NULL,
	`severity` text NOT NULL,
	`before_state` text,
	`after_state` text,
	`details` text,
	`ip` text,
	`user_agent` text,
	`request_id` text,
	`prev_hash` text NOT NULL,
	`hash` text NOT NULL,
	CONSTRAINT "audit_log_severity" CHECK(severity IN ('info', 'warning', 'critical')),
	CONSTRAINT "audit_log_outcome" CHECK(outcome IN ('success', 'denied', 'failed'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_log_id_unique` ON `audit_log` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `audit_log_prev_hash_unique` ON `audit_log` (`prev_hash`);--> statement-breakpoint
CREATE INDEX `audit_log_admin_idx` ON `audit_log` (`admin_id`,`pk`);--> statement-breakpoint
CREATE INDEX `audit_log_action_idx` ON `audit_log` (`action`,`pk`);--> statement-breakpoint
CREATE INDEX `audit_log_target_idx` ON `audit_log` (`target_id`,`pk`);--> statement-breakpoint
CREATE INDEX `audit_log_created_idx` ON `audit_log` (`created_at`);--> statement-breakpoint
CREATE TABLE `conversation_members` (
	`user_id` text NOT NULL,
	`partner_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`last_activity_at` text NOT NULL,
	PRIMARY KEY(`user_id`, `partner_id`)
);
--> statement-breakpoint
CREATE INDEX `conversation_members_activity_idx` ON `conversation_members` (`user_id`,`last_activity_at`,`partner_id`);--> statement-breakpoint
CREATE TABLE `conversations` (
	`id` text PRIMARY KEY NOT NULL,
	`user_low` text NOT NULL,
	`user_high` text NOT NULL,
	`last_seq` integer NOT NULL,
	`created_at` text NOT NULL,
	`last_activity_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `credit_balances` (
	`user_id` text PRIMARY KEY NOT NULL,
	`balance` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL,
	CONSTRAINT "balance_non_negative" CHECK(balance >= 0)
);
--> statement-breakpoint
CREATE TABLE `credit_transactions` (
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
	CONSTRAINT "credit_transactions_kind" CHECK(kind IN ('grant', 'message'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credit_transactions_id_unique` ON `credit_transactions` (`id`);--> statement-breakpoint
CREATE INDEX `credit_transactions_user_pk_idx` ON `credit_transactions` (`user_id`,`pk`);--> statement-breakpoint
CREATE TABLE `messages` (
	`pk` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`seq` integer NOT NULL,
	`sender_id` text NOT NULL,
	`receiver_id` text NOT NULL,
	`content` text NOT NULL,
	`message_type` text DEFAULT 'text' NOT NULL,
	`status` text DEFAULT 'sent' NOT NULL,
	`moderation_status` text DEFAULT 'pending' NOT NULL,
	`moderation_reason` text,
	`delivered_at` text,
	`read_at` text,
	`attachments` text NOT NULL,
	`metadata` text NOT NULL,
	`credits_cost` integer NOT NULL,
	`credits_transaction_id` text,
	`client_message_id` text,
	`is_deleted` integer DEFAULT false NOT NULL,
	`deleted_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	CONSTRAINT "messages_type" CHECK(message_type IN ('text', 'image', 'video', 'audio', 'file')),
	CONSTRAINT "messages_status" CHECK(status IN ('sent', 'delivered', 'read', 'failed')),
	CONSTRAINT "messages_moderation" CHECK(moderation_status IN ('pending', 'approved', 'flagged', 'blocked')),
	CONSTRAINT "messages_seq_positive" CHECK(seq > 0)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `messages_id_unique` ON `messages` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `messages_conversation_seq_unique` ON `messages` (`conversation_id`,`seq`);--> statement-breakpoint
CREATE UNIQUE INDEX `messages_sender_client_id_unique` ON `messages` (`sender_id`,`client_message_id`);--> statement-breakpoint
CREATE INDEX `messages_unread_idx` ON `messages` (`receiver_id`,`sender_id`,`status`,`is_deleted`,`moderation_status`) WHERE status <> 'read' AND is_deleted = 0 AND moderation_status <> 'blocked';--> statement-breakpoint
CREATE INDEX `messages_sender_created_idx` ON `messages` (`sender_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_receiver_created_idx` ON `messages` (`receiver_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_created_stats_idx` ON `messages` (`created_at`,`sender_id`,`status`,`message_type`,`moderation_status`,`is_deleted`);--> statement-breakpoint
CREATE INDEX `messages_moderation_created_idx` ON `messages` (`moderation_status`,`created_at`);--> statement-breakpoint
CREATE TABLE `role_permissions` (
	`role` text NOT NULL,
	`permission` text NOT NULL,
	PRIMARY KEY(`role`, `permission`)
);
