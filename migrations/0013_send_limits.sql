PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_send_refusals` (
	`reason` text NOT NULL,
	CONSTRAINT "send_refused_rate_burst" CHECK(reason <> 'rate_burst'),
	CONSTRAINT "send_refused_rate_minute" CHECK(reason <> 'rate_minute'),
	CONSTRAINT "send_refused_suspended" CHECK(reason <> 'suspended'),
	CONSTRAINT "send_refused_unmatched" CHECK(reason <> 'unmatched'),
	CONSTRAINT "send_refused_blocking" CHECK(reason <> 'blocking'),
	CONSTRAINT "send_refused_blocked" CHECK(reason <> 'blocked'),
	CONSTRAINT "send_refused_first_contact_limit" CHECK(reason <> 'first_contact_limit'),
	CONSTRAINT "send_refused_first_contact_content" CHECK(reason <> 'first_contact_content')
);
--> statement-breakpoint
INSERT INTO `__new_send_refusals`("reason") SELECT "reason" FROM `send_refusals`;--> statement-breakpoint
DROP TABLE `send_refusals`;--> statement-breakpoint
ALTER TABLE `__new_send_refusals` RENAME TO `send_refusals`;--> statement-breakpoint
PRAGMA foreign_keys=ON;