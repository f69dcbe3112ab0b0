import { describe, expect, it } from "vitest";
import { exportBoundary, exportPage, searchPage } from "../src/db/admin-messages";
import { ledgerPage } from "../src/db/credits";
import {
  changedSince,
  clientIdQuery,
  conversationQuery,
  createdAtUpToQuery,
  historyQuery,
  inboxSyncQuery,
  markManyDelivered,
  markRead,
  sendReachQuery,
  unreadQuery,
} from "../src/db/messages";
import { db, planOf } from "./helpers";

/** A plan that scans a table without an index reads every row: the hot paths must never do that. */
const FULL_SCAN = /^SCAN (messages|conversation_members|credit_transactions|last_message)\b(?!.*USING)/;

describe("hot queries use indexes (EXPLAIN QUERY PLAN)", () => {
  it("conversation history: a range of (conversation_id, seq)", async () => {
    const plan = await planOf({ toSQL: () => historyQuery("a:b", { beforeSeq: 10, skip: 0, limit: 51 }) });
    expect(plan.join("\n")).toMatch(/SEARCH messages USING INDEX messages_conversation_seq_unique \(conversation_id=\? AND seq<\?\)/);
    expect(plan.some((d) => FULL_SCAN.test(d))).toBe(false);
    expect(plan.join("\n")).not.toContain("TEMP B-TREE"); // ordered by the index, no sort
  });

  it("conversation list: the member index, an index lookup for unread and for the last message", async () => {
    const plan = await planOf(
      conversationQuery(db, "me", { before: { at: "2026-11-01T00:00:00.000Z", partnerId: "p" }, skip: 0, limit: 51 }),
    );
    const text = plan.join("\n");
    expect(text).toMatch(/SEARCH cm?\w* USING (COVERING )?INDEX conversation_members_activity_idx \(user_id=\?/);
    expect(text).toMatch(/messages USING (COVERING )?INDEX messages_unread_idx \(receiver_id=\? AND sender_id=\?\)/);
    expect(text).toMatch(/messages USING (COVERING )?INDEX messages_conversation_seq_unique \(conversation_id=\?\)/);
    expect(text).toMatch(/SEARCH last_message USING INTEGER PRIMARY KEY/);
    expect(plan.some((d) => FULL_SCAN.test(d))).toBe(false);
    expect(text).not.toContain("TEMP B-TREE");
  });

  it("inbox sync: the member index in order, a primary-key lookup per conversation, the unread index", async () => {
    const text = (await planOf(inboxSyncQuery(db, "me", 51))).join("\n");
    expect(text).toMatch(/SEARCH conversation_members USING (COVERING )?INDEX conversation_members_activity_idx \(user_id=\?\)/);
    expect(text).toMatch(/SEARCH conversations USING INDEX sqlite_autoindex_conversations_1 \(id=\?\)/);
    expect(text).toMatch(/messages USING (COVERING )?INDEX messages_unread_idx \(receiver_id=\? AND sender_id=\?\)/);
    expect(text).not.toContain("TEMP B-TREE");
  });

  it("unread count, overall and per sender: the partial unread index", async () => {
    for (const q of [unreadQuery("me"), unreadQuery("me", "them")]) {
      const plan = (await planOf(q)).join("\n");
      expect(plan).toMatch(/SEARCH messages USING COVERING INDEX messages_unread_idx \(receiver_id=\?/);
    }
  });

  it("the send's reach (who to notify, read in its RETURNING): primary-key lookups of socket_presence, the receiver's push index", async () => {
    const q = sendReachQuery({
      conversationId: "a:b",
      senderInbox: "inbox:a",
      receiverInbox: "inbox:b",
      receiverId: "b",
      now: "2026-01-01",
    });
    const plan = await planOf({ toSQL: () => q });
    expect(plan.filter((d) => /socket_presence/.test(d))).toEqual([
      "SEARCH socket_presence USING INDEX sqlite_autoindex_socket_presence_1 (scope=?)",
      "SEARCH socket_presence USING INDEX sqlite_autoindex_socket_presence_1 (scope=?)",
      "SEARCH socket_presence USING INDEX sqlite_autoindex_socket_presence_1 (scope=?)",
    ]);
    expect(plan.join("\n")).toMatch(/SEARCH push_subscriptions USING INDEX push_subscriptions_user_seen_idx \(user_id=\?\)/);
    expect(plan.some((d) => /^SCAN (socket_presence|push_subscriptions)/.test(d))).toBe(false);
  });

  it("idempotency lookup: the unique (sender_id, client_message_id) index", async () => {
    const plan = (await planOf(clientIdQuery(db, "me", "c-1"))).join("\n");
    expect(plan).toMatch(/SEARCH messages USING INDEX messages_sender_client_id_unique \(sender_id=\? AND client_message_id=\?\)/);
  });

  it("resume: missed messages by (conversation_id, seq), older changes by (conversation_id, updated_at)", async () => {
    const caughtUp = (await planOf(createdAtUpToQuery(db, "a:b", 7))).join("\n");
    expect(caughtUp).toMatch(/SEARCH messages USING INDEX messages_conversation_seq_unique \(conversation_id=\? AND seq<\?\)/);
    expect(caughtUp).not.toContain("TEMP B-TREE");
    const changed = (await planOf(changedSince(db, "a:b", 7, "2026-11-01T00:00:00.000Z", 501))).join("\n");
    expect(changed).toMatch(/SEARCH messages USING INDEX messages_conversation_updated_idx \(conversation_id=\? AND updated_at>\?\)/);
    expect(changed).not.toContain("TEMP B-TREE");
  });

  it("receipts for up to 100 ids: one bound JSON array, each id looked up in the unique id index", async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `msg_${i}`);
    const now = "2026-11-25T00:00:00.000Z";
    for (const q of [
      markRead(db, ids, "me", now),
      markRead(db, ["one"], "me", now, "a:b"),
      markManyDelivered(db, ids, "me", now),
      markManyDelivered(db, ["one"], "me", now, "a:b"),
    ]) {
      const plan = (await planOf(q)).join("\n");
      expect(plan).toMatch(/SEARCH messages USING INDEX messages_id_unique \(id=\?\)/);
      expect(plan).not.toMatch(/messages_(receiver|conversation)_/);
    }
  });

  it("ledger page: (user_id, pk)", async () => {
    const plan = (await planOf(ledgerPage(db, "me", { beforePk: 100, limit: 51 }))).join("\n");
    expect(plan).toMatch(/SEARCH credit_transactions USING INDEX credit_transactions_user_pk_idx \(user_id=\? AND pk<\?\)/);
    expect(plan).not.toContain("TEMP B-TREE");
  });

  it("admin search and export pages walk an index in order (at most the ties are sorted)", async () => {
    const after = { createdAt: "2026-01-01T00:00:00.000Z", pk: 100 };
    const cases: [string, { toSQL(): { sql: string; params: unknown[] } }, RegExp][] = [
      [
        "export, no filter",
        exportPage(db, { includeDeleted: false }, { after }, 500),
        /SEARCH messages USING INDEX messages_created_stats_idx \(created_at<\?\)/,
      ],
      [
        "export by sender",
        exportPage(db, { senderId: "x", includeDeleted: false }, { after, until: { createdAt: "2025-01-01T00:00:00.000Z", pk: 5 } }, 500),
        /SEARCH messages USING INDEX messages_sender_created_idx \(sender_id=\? AND created_at>\? AND created_at<\?\)/,
      ],
      [
        "export by receiver",
        exportPage(db, { receiverId: "x", includeDeleted: true }, { after }, 500),
        /messages_receiver_created_idx \(receiver_id=\? AND created_at<\?\)/,
      ],
      [
        "export part boundary, no filter",
        exportBoundary(db, { includeDeleted: false }, after, 249_500),
        /SEARCH messages USING (COVERING )?INDEX messages_created_stats_idx \(created_at<\?\)/,
      ],
      [
        "export part boundary by sender",
        exportBoundary(db, { senderId: "x", includeDeleted: false }, undefined, 249_500),
        /SEARCH messages USING (COVERING )?INDEX messages_sender_created_idx \(sender_id=\?\)/,
      ],
      [
        "search by moderation state",
        searchPage(db, { moderationStatus: "flagged", includeDeleted: false }, { offset: 0, limit: 50 }),
        /messages_moderation_created_idx \(moderation_status=\?\)/,
      ],
    ];
    for (const [name, query, expected] of cases) {
      const plan = (await planOf(query)).join("\n");
      expect(plan, name).toMatch(expected);
      expect(plan, name).not.toMatch(/TEMP B-TREE FOR ORDER BY/); // "FOR LAST TERM OF ORDER BY" (ties only) is fine
    }
  });
});
