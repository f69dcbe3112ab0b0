-- Hand-written: the audit chain moves out of audit_log into audit_seals (see src/db/schema.ts).

-- The chain sealed so far, as it was: same hashes, same order. Rows hashed before key ids existed
-- were sealed with the one AUDIT_HMAC_KEY, which is `k1` (the default AUDIT_HMAC_KEY_ID).
INSERT INTO `audit_seals` (`audit_pk`, `prev_hash`, `hash`, `key_id`, `sealed_at`)
	SELECT `pk`, `prev_hash`, `hash`, 'k1', `created_at` FROM `audit_log` ORDER BY `pk`;
--> statement-breakpoint

-- Append-only, like audit_log: a seal is never changed or removed.
CREATE TRIGGER `audit_seals_no_update` BEFORE UPDATE ON `audit_seals` BEGIN
	SELECT RAISE(ABORT, 'append-only: audit_seals');
END;
--> statement-breakpoint
CREATE TRIGGER `audit_seals_no_delete` BEFORE DELETE ON `audit_seals` BEGIN
	SELECT RAISE(ABORT, 'append-only: audit_seals');
END;
