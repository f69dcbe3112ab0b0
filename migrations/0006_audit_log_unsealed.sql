DROP INDEX `audit_log_prev_hash_unique`;--> statement-breakpoint
ALTER TABLE `audit_log` DROP COLUMN `prev_hash`;--> statement-breakpoint
ALTER TABLE `audit_log` DROP COLUMN `hash`;