-- Hand-written: the full-text index is filled by an indexer, not by the send.
-- A new message only leaves its pk in `messages_fts_pending` (one small row); services/search-index.ts
-- moves pending rows into `messages_fts` in batches, before each search or export with `q` and once a
-- minute. A row still pending is not in the index yet, so deleting (or re-writing) it must not issue
-- FTS5's 'delete' (for an external-content table that would remove tokens it never added): it only
-- leaves the pending list. Rows indexed already get the 'delete' as before.
DROP TRIGGER `messages_fts_ai`;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ai` AFTER INSERT ON `messages` BEGIN
	INSERT INTO messages_fts_pending(pk) VALUES (new.pk);
END;
--> statement-breakpoint
DROP TRIGGER `messages_fts_ad`;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_ad` AFTER DELETE ON `messages` BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, content)
		SELECT 'delete', old.pk, old.content WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE pk = old.pk);
	DELETE FROM messages_fts_pending WHERE pk = old.pk;
END;
--> statement-breakpoint
DROP TRIGGER `messages_fts_au`;
--> statement-breakpoint
CREATE TRIGGER `messages_fts_au` AFTER UPDATE OF content ON `messages` BEGIN
	INSERT INTO messages_fts(messages_fts, rowid, content)
		SELECT 'delete', old.pk, old.content WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE pk = old.pk);
	INSERT OR IGNORE INTO messages_fts_pending(pk) VALUES (new.pk);
END;
