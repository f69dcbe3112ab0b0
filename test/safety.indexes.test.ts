/** The safety queries use indexes (EXPLAIN QUERY PLAN), like the hot paths in test/indexes.test.ts. */
import { describe, expect, it } from "vitest";
import { refundStatements } from "../src/db/credits";
import { sentChunkQuery, sentCountQuery } from "../src/db/erasure";
import { conversationQuery, unreadQuery } from "../src/db/messages";
import { dueRedactionsQuery, reportCountQuery, reportPageQuery } from "../src/db/reports";
import { blockPageQuery, conversationChunkQuery, dueUnmatchesQuery, sendGuardQuery } from "../src/db/safety";
import { db, planOf } from "./helpers";

const FULL_SCAN = /^SCAN (messages|blocks|unmatches|suspensions|reports|conversation_members|credit_transactions)\b(?!.*USING)/;
const noFullScan = (plan: string[]) => expect(plan.filter((d) => FULL_SCAN.test(d))).toEqual([]);

describe("safety queries use indexes (EXPLAIN QUERY PLAN)", () => {
  it("the send's guard: one primary-key lookup per rule, and a range of the sender's index per send limit", async () => {
    const statement = sendGuardQuery({
      senderId: "s",
      receiverId: "r",
      now: "2026-01-01T00:00:00.000Z",
      rate: { burst: 30, burstSince: "2025-12-31T23:59:50.000Z", minute: 60, minuteSince: "2025-12-31T23:59:00.000Z" },
      firstContact: { limit: 3, restricted: false },
    });
    const plan = await planOf({ toSQL: () => statement });
    const text = plan.join("\n");
    // Both windows: index only (COVERING), bounded by sender and time, never the message rows.
    const ofMessages = plan.filter((d) => /\bmessages\b/.test(d));
    expect(ofMessages.length).toBeGreaterThanOrEqual(2);
    for (const d of ofMessages)
      expect(d).toMatch(/^SEARCH messages USING COVERING INDEX messages_sender_created_idx \(sender_id=\? AND created_at>\?\)$/);
    expect(text).toMatch(/SEARCH suspensions USING INDEX sqlite_autoindex_suspensions_1 \(user_id=\?\)/);
    expect(text).toMatch(/SEARCH unmatches USING (COVERING )?INDEX sqlite_autoindex_unmatches_1 \(user_id=\? AND partner_id=\?\)/);
    expect(text).toMatch(/SEARCH blocks USING (COVERING )?INDEX sqlite_autoindex_blocks_1 \(blocker_id=\? AND blocked_id=\?\)/);
    expect(text).toMatch(
      /SEARCH conversation_members USING INDEX sqlite_autoindex_conversation_members_1 \(user_id=\? AND partner_id=\?\)/,
    );
    noFullScan(plan);
  });

  it("unread counts skip hidden partners along the unread index (primary-key ranges of blocks and unmatches)", async () => {
    for (const q of [unreadQuery("me"), unreadQuery("me", "them")]) {
      const text = (await planOf(q)).join("\n");
      expect(text).toMatch(/SEARCH messages USING COVERING INDEX messages_unread_idx \(receiver_id=\?/);
      expect(text).toMatch(
        /SEARCH blocks USING (COVERING )?INDEX (sqlite_autoindex_blocks_1|blocks_blocker_created_idx) \(blocker_id=\?\)/,
      );
      expect(text).toMatch(/SEARCH unmatches USING (COVERING )?INDEX sqlite_autoindex_unmatches_1 \(user_id=\?\)/);
    }
  });

  it("the conversation list leaves blocked partners out by a primary-key lookup per row, still in index order", async () => {
    const plan = await planOf(conversationQuery(db, "me", { skip: 0, limit: 51 }));
    const text = plan.join("\n");
    expect(text).toMatch(/conversation_members_activity_idx \(user_id=\?/);
    expect(text).toMatch(/SEARCH blocks USING (COVERING )?INDEX sqlite_autoindex_blocks_1 \(blocker_id=\? AND blocked_id=\?\)/);
    expect(text).not.toContain("TEMP B-TREE");
  });

  it("the block list, the retention job's queue, the erasure's chunks and counts", async () => {
    const blocksPlan = (await planOf(blockPageQuery(db, "me", { before: { at: "2026-01-01", userId: "x" }, limit: 51 }))).join("\n");
    expect(blocksPlan).toMatch(/SEARCH blocks USING (COVERING )?INDEX blocks_blocker_created_idx \(blocker_id=\?/);
    expect(blocksPlan).not.toContain("TEMP B-TREE");

    const due = (await planOf(dueUnmatchesQuery(db, "2026-01-01T00:00:00.000Z", 20))).join("\n");
    expect(due).toMatch(/SEARCH unmatches USING INDEX unmatches_pending_erasure_idx \(unmatched_at<\?\)/);
    expect(due).not.toContain("TEMP B-TREE");

    expect((await planOf(conversationChunkQuery(db, "a:b", 1000))).join("\n")).toMatch(
      /SEARCH messages USING INDEX messages_conversation_seq_unique \(conversation_id=\?\)/,
    );
    const chunk = (await planOf(sentChunkQuery(db, "me", 1000))).join("\n");
    expect(chunk).toMatch(/SEARCH messages USING INDEX messages_sender_created_idx \(sender_id=\?\)/);
    expect(chunk).not.toContain("TEMP B-TREE");
    expect((await planOf(sentCountQuery(db, "me"))).join("\n")).toMatch(
      /SEARCH messages USING COVERING INDEX messages_sender_(created_idx|client_id_unique) \(sender_id=\?\)/,
    );
  });

  it("the report queue: each filter rides its own index, newest first; the redaction job its partial index", async () => {
    const filters = [
      [{ status: "open" as const }, "reports_status_created_idx"],
      [{ userId: "u" }, "reports_reported_created_idx"],
      [{ reporterId: "r" }, "reports_reporter_created_idx"],
      [{ reason: "spam" as const }, "reports_reason_created_idx"],
      [{ from: "2026-01-01" }, "reports_created_idx"],
      [{}, "reports_created_idx"],
    ] as const;
    for (const [f, index] of filters) {
      const plan = await planOf(reportPageQuery(db, f, { offset: 0, limit: 50 }));
      expect(plan.join("\n"), index).toContain(`USING INDEX ${index}`);
      noFullScan(plan.filter((d) => !d.startsWith("SCAN reports USING")));
      expect((await planOf(reportCountQuery(db, f))).join("\n"), index).toMatch(/USING (COVERING )?INDEX reports_/);
    }
    expect((await planOf(dueRedactionsQuery(db, "2026-01-01", 100))).join("\n")).toMatch(
      /SEARCH reports USING INDEX reports_redaction_idx \(resolved_at>\? AND resolved_at<\?\)/,
    );
  });

  it("the refund's guard finds an earlier refund through the partial unique index", async () => {
    const [, insert] = refundStatements(db, { messageId: "m", transactionId: "t", adminId: "a", now: "now" });
    const text = (await planOf(insert)).join("\n");
    expect(text).toMatch(/credit_transactions USING (COVERING )?INDEX credit_transactions_refund_unique \(message_id=\?\)/);
    expect(text).toMatch(/SEARCH m USING INDEX messages_id_unique \(id=\?\)/);
  });
});
