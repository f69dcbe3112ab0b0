-- Hand-written: what Drizzle's schema cannot express.

-- Full-text search for moderators. External content (the text lives once, in `messages`);
-- triggers keep the index in step with inserts, content edits and hard deletes. Soft deletes
-- and moderation leave the text alone and are filtered through the join on `messages`.
CREATE VIRTUAL TABLE `messages_fts` USING fts5(
	content,
	content='messages',
	content_rowid='pk',
	tokenize='unicode61 remove_diacritics 2'
);
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages` BEGIN
	INSERT INTO messages_fts(rowid, content) VALUES (new.pk, new.content);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages` BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
END;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_au` AFTER UPDATE OF content ON `messages` BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.pk, old.content);
	INSERT INTO messages_fts(rowid, content) VALUES (new.pk, new.content);
END;
--> statement-breakpoint

-- Append-only tables: no route can change history, and neither can a stray SQL statement.
CREATE TRIGGER `audit_log_no_update` BEFORE UPDATE ON `audit_log` BEGIN
	SELECT RAISE(ABORT, 'append-only: audit_log');
END;
--> statement-breakpoint
CREATE TRIGGER `audit_log_no_delete` BEFORE DELETE ON `audit_log` BEGIN
	SELECT RAISE(ABORT, 'append-only: audit_log');
END;
--> statement-breakpoint
CREATE TRIGGER `credit_transactions_no_update` BEFORE UPDATE ON `credit_transactions` BEGIN
	SELECT RAISE(ABORT, 'append-only: credit_transactions');
END;
--> statement-breakpoint
CREATE TRIGGER `credit_transactions_no_delete` BEFORE DELETE ON `credit_transactions` BEGIN
	SELECT RAISE(ABORT, 'append-only: credit_transactions');
END;
--> statement-breakpoint

-- The contract's role table. Permissions are read from here on every admin request.
INSERT INTO `role_permissions` (`role`, `permission`) VALUES
	('support', 'moderation.view'),
	('moderator', 'moderation.view'),
	('moderator', 'moderation.action'),
	('analyst', 'analytics.view'),
	('analyst', 'analytics.export'),
	('admin', 'moderation.view'),
	('admin', 'moderation.action'),
	('admin', 'analytics.view'),
	('admin', 'analytics.export'),
	('admin', 'credits.manage'),
	('super_admin', 'moderation.view'),
	('super_admin', 'moderation.action'),
	('super_admin', 'analytics.view'),
	('super_admin', 'analytics.export'),
	('super_admin', 'credits.manage'),
	('super_admin', 'super_admin');
