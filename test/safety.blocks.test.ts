/**
 * Blocks (issue 11): one-sided, reversible, enforced inside the send's own batch. What the blocker
 * and the blocked user each see over HTTP and on their sockets, and 100 sends racing one block.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { conversationIdOf } from "../src/lib/ids";
import { as, BASE, balanceOf, conversationOf, count, json, newUser, pair, seedCredits, send, tokenFor } from "./helpers";
import { balancesOffLedger, block, SEND, trySend, unblock, unmatch } from "./safety";
import { forwardedUpgrade, openSocket, upgrade } from "./sockets";

const unreadOf = async (user: string, sender?: string) =>
  (await json(await as(user).get(`/api/v2/messages/unread-count${sender ? `?sender_id=${sender}` : ""}`))).unread_count;
const listOf = async (user: string) =>
  (await json(await as(user).get("/api/v2/messages/conversations"))).conversations.map((c: { partner_id: string }) => c.partner_id);
const historyOf = (user: string, partner: string) => as(user).get(`/api/v2/messages/conversation/${partner}`);

/** What a refused send must leave exactly as it was. */
async function footprint(sender: string, receiver: string) {
  return {
    balance: await balanceOf(sender),
    ledger: await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", sender),
    messages: await count("SELECT 1 FROM messages WHERE conversation_id = ?", conversationIdOf(sender, receiver)),
    conversation: await conversationOf(sender, receiver),
    refusals: await count("SELECT 1 FROM send_refusals"),
  };
}

describe("a block (A blocks B)", () => {
  it("B's sends to A answer 404 like an unreachable user and charge nothing; A's sends to B answer 409 until A unblocks", async () => {
    const [a, b] = [newUser("a"), newUser("b")];
    await Promise.all([seedCredits(a, 5), seedCredits(b, 5)]);
    await send(b, a, "hi from b");
    await send(a, b, "hi from a");
    const created = await as(a).post("/api/v2/blocks", { user_id: b });
    expect(created.status).toBe(201);
    expect(await json(created)).toEqual({ user_id: b, created_at: expect.any(String) });

    const beforeB = await footprint(b, a);
    const fromB = await trySend(b, a, "are you there?", { client_message_id: "b-1" });
    expect(fromB.status).toBe(404);
    expect(fromB.body).toEqual({ error: { code: "not_found", message: "This user cannot be reached" } });
    expect(await footprint(b, a)).toEqual(beforeB);

    const beforeA = await footprint(a, b);
    const fromA = await trySend(a, b, "one more thing");
    expect(fromA.status).toBe(409);
    expect(fromA.body).toMatchObject({ error: { code: "conflict", details: { reason: "blocking" } } });
    expect(await footprint(a, b)).toEqual(beforeA);

    // What B gets is exactly what a user gets from a pair that unmatched: nothing tells a block apart.
    const [c, d] = [newUser("c"), newUser("d")];
    await seedCredits(c, 1);
    await unmatch(d, c);
    expect((await trySend(c, d, "hello?")).body).toEqual(fromB.body);

    await unblock(a, b);
    expect((await trySend(b, a, "back again")).status).toBe(201);
    expect((await trySend(a, b, "welcome back")).status).toBe(201);
    expect(await balancesOffLedger()).toEqual([]);
  });

  it("takes the conversation out of A's list, unread counts and history (404); B's list and history stay as they were", async () => {
    const [a, b, other] = [newUser("a"), newUser("b"), newUser("o")];
    await Promise.all([seedCredits(b, 5), seedCredits(other, 5)]);
    await send(b, a, "one");
    await send(b, a, "two");
    await send(other, a, "from someone else");
    expect(await unreadOf(a)).toBe(3);
    const bHistory = await json(await historyOf(b, a));
    const bList = await listOf(b);

    await block(a, b);
    expect(await listOf(a)).toEqual([other]);
    expect(await unreadOf(a)).toBe(1);
    expect(await unreadOf(a, b)).toBe(0);
    const hidden = await historyOf(a, b);
    expect(hidden.status).toBe(404);
    expect(await json(hidden)).toMatchObject({ error: { code: "not_found" } });
    expect((await json(await as(a).get("/api/v2/messages/stats"))).conversations).toBe(1);

    expect(await json(await historyOf(b, a))).toEqual(bHistory);
    expect(await listOf(b)).toEqual(bList);

    // Unblocking restores it all, history included.
    await unblock(a, b);
    expect((await listOf(a)).sort()).toEqual([b, other].sort());
    expect(await unreadOf(a)).toBe(3);
    expect(await unreadOf(a, b)).toBe(2);
    const back = await json(await historyOf(a, b));
    expect(back.messages.map((m: { content: string }) => m.content)).toEqual(["two", "one"]);
  });

  it("closes both users' conversation sockets (4404), refuses new upgrades of either with 404 while it stands, and sockets open again after unblock", async () => {
    const { alice: a, bob: b } = await pair(3);
    const [aPhone, aLaptop, bPhone] = await Promise.all([
      openSocket(a, { partner: b }),
      openSocket(a, { partner: b }),
      openSocket(b, { partner: a }),
    ]);
    await block(a, b);
    for (const s of [aPhone, aLaptop, bPhone]) expect(await s.closedBy()).toEqual({ code: 4404, reason: "conversation unavailable" });
    // Nothing of the other came before the close (no typing, presence or receipts after the block), only
    // the event that tells a client not to reconnect (for proxies that deliver the close code late).
    for (const s of [aPhone, aLaptop, bPhone]) {
      expect(s.unread.filter((e) => e.type !== "presence")).toEqual([
        { type: "error", code: "not_found", message: "conversation unavailable", close_code: 4404 },
      ]);
    }

    for (const [who, partner] of [
      [a, b],
      [b, a],
    ] as const) {
      const refused = await upgrade(who, { partner });
      expect(refused.status).toBe(404);
      expect(await json(refused)).toMatchObject({ error: { code: "not_found" } });
    }

    await unblock(a, b);
    const again = await openSocket(b, { partner: a });
    const mine = await openSocket(a, { partner: b });
    await send(a, b, "hello again");
    expect((await again.nextOf("message.new")).message.content).toBe("hello again");
    again.close();
    mine.close();
  });

  it("a room told of the block refuses the upgrade before anything reads D1 for it", async () => {
    const { alice: a, bob: b } = await pair(1);
    await block(b, a);
    const res = await forwardedUpgrade(a, b);
    expect(res.status).toBe(404);
    expect(res.webSocket).toBeNull();
  });

  it("a block the room was never told of (a lost notification) refuses the upgrade from the join's own D1 read, and closes the room's open sockets with 4404", async () => {
    const { alice: a, bob: b } = await pair(1);
    const open = await openSocket(b, { partner: a });
    const visits = await count("SELECT 1 FROM room_visits WHERE user_id = ?", a);
    await env.DB.prepare("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)")
      .bind(b, a, new Date().toISOString())
      .run();
    const refused = await upgrade(a, { partner: b });
    expect(refused.status).toBe(404);
    expect(await json(refused)).toEqual({ error: { code: "not_found", message: "Conversation not found" } });
    expect(await open.closedBy()).toMatchObject({ code: 4404 });
    // The refused join recorded no visit.
    expect(await count("SELECT 1 FROM room_visits WHERE user_id = ?", a)).toBe(visits);
  });

  it("a room whose unblock notification was lost lets the pair in again: it confirms a refusal with D1 first", async () => {
    const { alice: a, bob: b } = await pair(1);
    await block(a, b);
    expect((await upgrade(b, { partner: a })).status).toBe(404);
    // The block ends in D1 without the room being told (a lost notification).
    await env.DB.prepare("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?").bind(a, b).run();
    const back = await openSocket(b, { partner: a });
    expect(back.joined).toEqual({ type: "sync", last_seq: 0 });
    back.close();
  });

  it("only the blocker's inbox sockets get conversation.removed (and a new unread count); the blocked user's inbox gets nothing", async () => {
    const [a, b] = [newUser("a"), newUser("b")];
    await seedCredits(b, 3);
    await send(b, a, "unread one");
    const [aInbox, aOtherDevice, bInbox] = await Promise.all([openSocket(a), openSocket(a), openSocket(b)]);
    await Promise.all([aInbox.drain(), aOtherDevice.drain(), bInbox.drain()]);
    await block(a, b);
    for (const s of [aInbox, aOtherDevice]) {
      expect(await s.nextOf("conversation.removed")).toEqual({ type: "conversation.removed", partner_id: b, reason: "blocked" });
      expect(await s.nextOf("unread")).toEqual({ type: "unread", unread_count: 0 });
    }
    expect(await bInbox.drain()).toEqual([]);
    // A fresh inbox socket of A's does not list B.
    const fresh = await openSocket(a);
    expect(fresh.joined?.conversations).toEqual([]);
    expect(fresh.joined?.unread_count).toBe(0);
    await aInbox.drain(); // the recount a joining device causes

    await unblock(a, b);
    expect(await aInbox.nextOf("conversation.restored")).toEqual({ type: "conversation.restored", partner_id: b });
    expect(await aInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 1 });
    expect(await bInbox.drain()).toEqual([]);
    for (const s of [aInbox, aOtherDevice, bInbox, fresh]) s.close();
  });

  it("blocking twice keeps the first block (200); yourself is a 400; unblocking is idempotent; GET /blocks pages newest first", async () => {
    const a = newUser("a");
    const others = [newUser("x"), newUser("y"), newUser("z")];
    const first = await json(await as(a).post("/api/v2/blocks", { user_id: others[0] }));
    const again = await as(a).post("/api/v2/blocks", { user_id: others[0] });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(first);
    for (const o of others.slice(1)) await block(a, o);

    const self = await as(a).post("/api/v2/blocks", { user_id: a });
    expect(self.status).toBe(400);
    expect(await json(self)).toMatchObject({ error: { code: "validation_failed", details: { user_id: expect.any(Array) } } });
    expect((await as(a).post("/api/v2/blocks", { user_id: "bad id!" })).status).toBe(400);
    expect((await as(a).post("/api/v2/blocks", { user_id: others[1], extra: 1 })).status).toBe(400);

    const page1 = await json(await as(a).get("/api/v2/blocks?limit=2"));
    expect(page1.blocks.map((x: { user_id: string }) => x.user_id)).toEqual([others[2], others[1]]);
    expect(page1.has_more).toBe(true);
    const page2 = await json(await as(a).get(`/api/v2/blocks?limit=2&before=${page1.next_cursor}`));
    expect(page2).toEqual({ blocks: [first], next_cursor: null, has_more: false });
    expect((await as(a).get("/api/v2/blocks?before=garbage")).status).toBe(400);

    expect(await unblock(a, others[0] as string)).toEqual({ user_id: others[0], blocked: false });
    expect(await unblock(a, others[0] as string)).toEqual({ user_id: others[0], blocked: false });
    expect((await json(await as(a).get("/api/v2/blocks"))).blocks).toHaveLength(2);
    // Nobody else's blocks show.
    expect((await json(await as(newUser("n")).get("/api/v2/blocks"))).blocks).toEqual([]);
  });
});

describe("a block racing sends", () => {
  /** Sends through the app with the per-user rate limits lifted (100 at once would pass them). */
  const tokens = new Map<string, Promise<string>>();
  async function unlimitedSend(from: string, to: string, content: string) {
    if (!tokens.has(from)) tokens.set(from, tokenFor(from));
    const res = await app.request(
      `${BASE}${SEND}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokens.get(from)}`, "content-type": "application/json" },
        body: JSON.stringify({ receiver_id: to, content }),
      },
      { ...env, SEND_BURST_LIMIT: "1000", SEND_MINUTE_LIMIT: "1000" },
    );
    return res.status;
  }

  /** Commit order, observed by the database itself: a log row per message and per block, in the order their batches committed (a refused batch rolls its log row back with it). */
  async function withCommitLog(run: () => Promise<void>) {
    await env.DB.batch([
      env.DB.prepare(
        "CREATE TABLE IF NOT EXISTS test_commit_log (n INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT NOT NULL, ref TEXT NOT NULL)",
      ),
      env.DB.prepare(
        "CREATE TRIGGER IF NOT EXISTS test_log_message AFTER INSERT ON messages BEGIN INSERT INTO test_commit_log (what, ref) VALUES ('message', new.id); END",
      ),
      env.DB.prepare(
        "CREATE TRIGGER IF NOT EXISTS test_log_block AFTER INSERT ON blocks BEGIN INSERT INTO test_commit_log (what, ref) VALUES ('block', new.blocker_id); END",
      ),
    ]);
    try {
      await run();
    } finally {
      await env.DB.batch([
        env.DB.prepare("DROP TRIGGER IF EXISTS test_log_message"),
        env.DB.prepare("DROP TRIGGER IF EXISTS test_log_block"),
      ]);
    }
  }

  const blockVia = async (blocker: string, blocked: string) =>
    app.request(
      `${BASE}/api/v2/blocks`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(blocker)}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: blocked }),
      },
      env,
    );

  /** Whatever the interleaving: every stored message committed before the block, and exactly the stored ones were charged. */
  async function expectNothingAfterTheBlock(alice: string, bob: string, statuses: number[], credits: number) {
    expect(statuses.every((s) => s === 201 || s === 404)).toBe(true);
    const sent = statuses.filter((s) => s === 201).length;
    const { results } = await env.DB.prepare(
      "SELECT what FROM test_commit_log WHERE what = 'block' AND ref = ?2 OR what = 'message' AND ref IN (SELECT id FROM messages WHERE sender_id = ?1) ORDER BY n",
    )
      .bind(alice, bob)
      .all<{ what: string }>();
    const order = results.map((r) => r.what);
    expect(order.filter((w) => w === "message")).toHaveLength(sent);
    expect(order.indexOf("block")).toBe(sent); // every message committed before the block, none after
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(sent);
    expect(await balanceOf(alice)).toBe(credits - sent);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(sent);
    const { results: seqs } = await env.DB.prepare("SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq")
      .bind(conversationIdOf(alice, bob))
      .all<{ seq: number }>();
    expect(seqs.map((r) => r.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect((await conversationOf(alice, bob))?.last_seq ?? 0).toBe(sent);
    expect(await balancesOffLedger()).toEqual([]);
    expect(await count("SELECT 1 FROM send_refusals")).toBe(0);
    return sent;
  }

  it("100 parallel sends and one block: no message commits after the block's commit, and none of the refused is charged", async () => {
    const { alice, bob } = await pair(200);
    await withCommitLog(async () => {
      // 20 clients sending 5 each (20 sends in flight at any time); the block is issued once 40 have
      // been answered, so sends are in flight on both sides of its commit.
      let answered = 0;
      let release: () => void = () => {};
      const fortieth = new Promise<void>((resolve) => {
        release = resolve;
      });
      const lanes = Array.from({ length: 20 }, async (_, lane) => {
        const out: number[] = [];
        for (let i = 0; i < 5; i++) {
          out.push(await unlimitedSend(alice, bob, `racing ${lane}.${i}`));
          if (++answered === 40) release();
        }
        return out;
      });
      const blocking = fortieth.then(() => blockVia(bob, alice));
      const [statuses, blocked] = await Promise.all([Promise.all(lanes).then((l) => l.flat()), blocking]);
      expect(blocked.status).toBe(201);
      const sent = await expectNothingAfterTheBlock(alice, bob, statuses, 200);
      expect(sent).toBeGreaterThanOrEqual(40);
      expect(100 - sent).toBeGreaterThan(0); // each client sends on after its answer: the last sends always follow the block
    });
  });

  it("100 sends issued at once with the block among them: whichever commit first, none after the block", async () => {
    const { alice, bob } = await pair(200);
    await withCommitLog(async () => {
      const sends: Promise<number>[] = [];
      let blocking: Promise<Response> | undefined;
      for (let i = 0; i < 100; i++) {
        sends.push(unlimitedSend(alice, bob, `burst ${i}`));
        if (i === 49) blocking = blockVia(bob, alice);
      }
      const [statuses, blocked] = await Promise.all([Promise.all(sends), blocking as Promise<Response>]);
      expect(blocked.status).toBe(201);
      await expectNothingAfterTheBlock(alice, bob, statuses, 200);
    });
  });
});
