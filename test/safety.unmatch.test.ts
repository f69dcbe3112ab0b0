/**
 * Unmatch (issue 11): mutual and permanent, enforced inside the send's batch; the messages kept for
 * REPORT_RETENTION_DAYS for moderators, then erased by the scheduled job (driven here with a clock
 * the test sets, and with a query budget it measures).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dbOf } from "../src/db/client";
import { conversationIdOf } from "../src/lib/ids";
import { runScheduledJobs } from "../src/scheduled";
import { eraseUnmatchedConversations, RETENTION_MAX_QUERIES } from "../src/services/erasure";
import { keysOf, uploaded } from "./attachments";
import { as, balanceOf, count, createAdmin, db, json, newUser, pair, seedCredits, send } from "./helpers";
import { png } from "./media";
import { balancesOffLedger, countingD1, seedMessages, trySend, unblock, unmatch } from "./safety";
import { openSocket, upgrade } from "./sockets";

const DAY = 86_400_000;
const listOf = async (user: string) =>
  (await json(await as(user).get("/api/v2/messages/conversations"))).conversations.map((c: { partner_id: string }) => c.partner_id);
const unreadOf = async (user: string) => (await json(await as(user).get("/api/v2/messages/unread-count"))).unread_count;

describe("unmatch", () => {
  it("ends the conversation for both: lists, unread counts and history (404) both sides, sends 404 both ways and uncharged", async () => {
    const [a, b, other] = [newUser("a"), newUser("b"), newUser("o")];
    await Promise.all([seedCredits(a, 5), seedCredits(b, 5), seedCredits(other, 5)]);
    await send(a, b, "hello b");
    await send(b, a, "hello a");
    await send(other, a, "hi from other");
    const res = await as(b).post(`/api/v2/conversations/${a}/unmatch`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toEqual({ partner_id: a, unmatched_at: expect.any(String) });

    expect(await listOf(a)).toEqual([other]);
    expect(await listOf(b)).toEqual([]);
    expect(await unreadOf(a)).toBe(1);
    expect(await unreadOf(b)).toBe(0);
    for (const [u, p] of [
      [a, b],
      [b, a],
    ] as const) {
      const history = await as(u).get(`/api/v2/messages/conversation/${p}`);
      expect(history.status).toBe(404);
      const before = await balanceOf(u);
      const sent = await trySend(u, p, "still there?");
      expect(sent).toMatchObject({ status: 404, body: { error: { code: "not_found" } } });
      expect(await balanceOf(u)).toBe(before);
    }
    expect(await count("SELECT 1 FROM messages WHERE conversation_id = ?", conversationIdOf(a, b))).toBe(2); // kept for moderators

    // Idempotent: again (from either side) answers the first unmatch's time; unblocking never brings it back.
    expect(await unmatch(a, b)).toEqual({ partner_id: b, unmatched_at: body.unmatched_at });
    await as(a).post("/api/v2/blocks", { user_id: b });
    await unblock(a, b);
    expect(await listOf(a)).toEqual([other]);
    expect((await trySend(a, b, "after unblock")).status).toBe(404);
    expect(await balancesOffLedger()).toEqual([]);
  });

  it("works before any message (a match never written to), and a user cannot unmatch themselves", async () => {
    const [a, b] = [newUser("a"), newUser("b")];
    await seedCredits(a, 2);
    expect((await as(a).post(`/api/v2/conversations/${b}/unmatch`)).status).toBe(200);
    expect((await trySend(a, b, "first message")).status).toBe(404);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(0);
    expect(await balanceOf(a)).toBe(2);
    const self = await as(a).post(`/api/v2/conversations/${a}/unmatch`);
    expect(self.status).toBe(400);
    expect((await as(a).post(`/api/v2/conversations/${b}/unmatch`, { reason: "x" })).status).toBe(400); // takes no body
  });

  it("closes both users' sockets on the conversation (4404), refuses new ones, and both inboxes drop it live", async () => {
    const { alice: a, bob: b } = await pair(3);
    await send(a, b, "hi");
    const [aRoom, bRoom, aInbox, bInbox] = await Promise.all([
      openSocket(a, { partner: b }),
      openSocket(b, { partner: a }),
      openSocket(a),
      openSocket(b),
    ]);
    await Promise.all([aInbox.drain(), bInbox.drain()]);
    await unmatch(a, b);
    for (const s of [aRoom, bRoom]) expect(await s.closedBy()).toEqual({ code: 4404, reason: "conversation unavailable" });
    for (const s of [aInbox, bInbox]) {
      const partner = s === aInbox ? b : a;
      expect(await s.nextOf("conversation.removed")).toEqual({ type: "conversation.removed", partner_id: partner, reason: "unmatched" });
    }
    expect(await bInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 0 });
    expect((await upgrade(a, { partner: b })).status).toBe(404);
    expect((await upgrade(b, { partner: a })).status).toBe(404);
    aInbox.close();
    bInbox.close();
  });

  it("moderators still see the messages (search and the conversation view) during the retention hold", async () => {
    const { alice: a, bob: b } = await pair(3);
    const m = await send(a, b, `kept for moderators ${crypto.randomUUID()}`);
    await unmatch(b, a);
    const mod = await createAdmin("moderator");
    const search = await json(await as(mod).get(`/api/admin/messages/search?sender_id=${a}`));
    expect(search.messages.map((x: { id: string }) => x.id)).toEqual([m.id]);
    const view = await json(await as(mod).get(`/api/admin/messages/conversation/${a}/${b}`));
    expect(view.messages.map((x: { content: string }) => x.content)).toEqual([m.content]);
  });
});

describe("the retention job (scheduled)", () => {
  it(`erases an unmatched conversation's messages REPORT_RETENTION_DAYS (${env.REPORT_RETENTION_DAYS}) after the unmatch, with search entries, attachment bytes and push claims; not a day sooner`, async () => {
    const { alice: a, bob: b } = await pair(5);
    const word = `erasable${crypto.randomUUID().replaceAll("-", "")}`;
    const attachment = await uploaded(a, "image/png", png(4, 4), "holiday.png");
    await send(a, b, `text with ${word}`);
    await send(a, b, "a photo", { message_type: "image", attachments: [{ attachment_id: attachment }] });
    const conversationId = conversationIdOf(a, b);
    await env.DB.prepare(
      "INSERT INTO push_state (receiver_id, conversation_id, seq, prev_seq, updated_at) VALUES (?, ?, 2, 0, '2026-01-01T00:00:00.000Z')",
    )
      .bind(b, conversationId)
      .run();
    const { unmatched_at } = await unmatch(a, b);
    const unmatchedAt = Date.parse(unmatched_at);
    const days = Number(env.REPORT_RETENTION_DAYS);

    await runScheduledJobs(env, new Date(unmatchedAt + (days - 1) * DAY));
    expect(await count("SELECT 1 FROM messages WHERE conversation_id = ?", conversationId)).toBe(2);
    expect(await count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${word}"`)).toBe(1); // indexed by the same cron
    expect(await keysOf(attachment)).toHaveLength(1);

    await runScheduledJobs(env, new Date(unmatchedAt + days * DAY + 1000));
    expect(await count("SELECT 1 FROM messages WHERE conversation_id = ?", conversationId)).toBe(0);
    expect(await count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${word}"`)).toBe(0);
    expect(await keysOf(attachment)).toEqual([]);
    expect(await count("SELECT 1 FROM attachments WHERE id = ?", attachment)).toBe(0);
    expect(await count("SELECT 1 FROM push_state WHERE conversation_id = ?", conversationId)).toBe(0);
    const rows = await env.DB.prepare("SELECT messages_erased_at FROM unmatches WHERE conversation_id = ?").bind(conversationId).all();
    expect(rows.results).toHaveLength(2);
    for (const r of rows.results) expect(r.messages_erased_at).toEqual(expect.any(String));
    // Still unmatched for good; the ledger keeps the charges.
    expect((await trySend(b, a, "hello?")).status).toBe(404);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", a)).toBe(2);
    expect(await balancesOffLedger()).toEqual([]);

    // Running again changes nothing (every job may run twice).
    const again = await eraseUnmatchedConversations(db, env, new Date(unmatchedAt + days * DAY + 2000));
    expect(again).toEqual({ conversations: 0, removed: 0 });
  });

  it("pages: a run stays within its query budget, and later runs finish what it left", async () => {
    const [a, b] = [newUser("big"), newUser("big")];
    await seedMessages(a, b, 2500);
    const { unmatched_at } = await unmatch(a, b);
    const later = new Date(Date.parse(unmatched_at) + (Number(env.REPORT_RETENTION_DAYS) + 1) * DAY);
    const budget = 30; // room for about one chunk of 1000 a run
    const runs: { queries: number; removed: number }[] = [];
    for (let i = 0; i < 10 && (await count("SELECT 1 FROM messages WHERE sender_id = ?", a)) > 0; i++) {
      const counted = countingD1(env.DB);
      const result = await eraseUnmatchedConversations(dbOf(counted.d1), env, later, budget);
      runs.push({ queries: counted.queries(), removed: result.removed });
    }
    expect(runs.length).toBeGreaterThan(1);
    for (const r of runs) expect(r.queries).toBeLessThanOrEqual(budget);
    expect(runs.reduce((n, r) => n + r.removed, 0)).toBe(2500);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(0);
    expect(RETENTION_MAX_QUERIES).toBeLessThan(1000 - 200); // beside the attachments purge, under the Paid limit
  }, 60_000);
});
