-- Hand-written: what 0009 cannot say in Drizzle's schema.

-- 0009 rebuilt credit_transactions (its kind CHECK gained 'refund'), which dropped the ledger's
-- append-only triggers with the old table: put them back, unchanged.
CREATE TRIGGER `credit_transactions_no_update` BEFORE UPDATE ON `credit_transactions` BEGIN
	SELECT RAISE(ABORT, 'append-only: credit_transactions');
END;
--> statement-breakpoint
CREATE TRIGGER `credit_transactions_no_delete` BEFORE DELETE ON `credit_transactions` BEGIN
	SELECT RAISE(ABORT, 'append-only: credit_transactions');
END;
--> statement-breakpoint

-- The first-contact rule counts what each member has sent; existing conversations start from
-- what they already hold (one index range per member row).
UPDATE `conversation_members` SET `sent_count` = (
	SELECT COUNT(*) FROM `messages`
	WHERE `messages`.`conversation_id` = `conversation_members`.`conversation_id`
	  AND `messages`.`sender_id` = `conversation_members`.`user_id`
);
