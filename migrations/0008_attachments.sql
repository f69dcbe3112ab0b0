CREATE TABLE `attachment_claim_guard` (
	`failed` integer NOT NULL,
	CONSTRAINT "attachment_claim_complete" CHECK(failed = 0)
);
--> statement-breakpoint
CREATE TABLE `attachments` (
	`id` text PRIMARY KEY NOT NULL,
	`uploader_id` text NOT NULL,
	`mime_type` text NOT NULL,
	`size_bytes` integer NOT NULL,
	`name` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`r2_key` text,
	`width` integer,
	`height` integer,
	`message_id` text,
	`created_at` text NOT NULL,
	`upload_expires_at` text NOT NULL,
	`uploaded_at` text,
	`sent_at` text,
	CONSTRAINT "attachments_state" CHECK(state IN ('pending', 'uploaded', 'sent', 'deleting')),
	CONSTRAINT "attachments_size_positive" CHECK(size_bytes > 0),
	CONSTRAINT "attachments_sent_has_message" CHECK(state <> 'sent' OR message_id IS NOT NULL)
);
--> statement-breakpoint
CREATE INDEX `attachments_message_idx` ON `attachments` (`message_id`);--> statement-breakpoint
CREATE INDEX `attachments_state_created_idx` ON `attachments` (`state`,`created_at`);