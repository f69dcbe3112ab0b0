import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { as, BASE, balanceOf, conversationOf, count, json, newUser, pair, seedCredits, send, tokenFor } from "./helpers";
import { openSocket } from "./sockets";

const SEND = "/api/v2/messages/send";

/** Everything a send writes for this sender and pair; a refused send must leave all of it as it was. */
async function stateOf(sender: string, receiver: string) {
  const members = await env.DB.prepare(
    "SELECT user_id, last_activity_at FROM conversation_members WHERE user_id IN (?, ?) ORDER BY user_id",
  )
    .bind(sender, receiver)
    .all();
  return {
    balance: await env.DB.prepare("SELECT balance, updated_at FROM credit_balances WHERE user_id = ?").bind(sender).first(),
    ledger: await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", sender),
    messages: await count("SELECT 1 FROM messages WHERE sender_id IN (?, ?) AND receiver_id IN (?, ?)", sender, receiver, sender, receiver),
    conversation: await conversationOf(sender, receiver),
    members: members.results,
  };
}

/** A send through the app with other settings (they are read per request). */
async function sendWith(vars: Partial<Env>, from: string, body: Record<string, unknown>) {
  return app.request(
    `${BASE}${SEND}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(from)}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    },
    { ...env, ...vars },
  );
}

const sendCosting = (cost: number, from: string, body: Record<string, unknown>) => sendWith({ MESSAGE_COST: String(cost) }, from, body);

/** Moves a sender's stored messages `seconds` into the past, as if they had been sent then. */
const age = (sender: string, seconds: number) =>
  env.DB.prepare("UPDATE messages SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, ?) WHERE sender_id = ?")
    .bind(`-${seconds} seconds`, sender)
    .run();

describe("POST /send", () => {
  it("stores the message, charges one credit and writes one ledger row, all linked", async () => {
    const { alice, bob } = await pair(3);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "  hi bob  ", client_message_id: "c-1" });
    expect(res.status).toBe(201);
    const m = await json(res);
    expect(m).toMatchObject({
      sender_id: alice,
      receiver_id: bob,
      content: "hi bob",
      message_type: "text",
      status: "sent",
      moderation_status: "pending",
      delivered_at: null,
      read_at: null,
      attachments: [],
      metadata: {},
      credits_cost: 1,
      client_message_id: "c-1",
      seq: 1,
      is_deleted: false,
      deleted_at: null,
    });
    expect(Object.keys(m).sort()).toEqual(
      [
        "id",
        "sender_id",
        "receiver_id",
        "content",
        "message_type",
        "status",
        "moderation_status",
        "delivered_at",
        "read_at",
        "attachments",
        "metadata",
        "credits_cost",
        "credits_transaction_id",
        "client_message_id",
        "seq",
        "is_deleted",
        "deleted_at",
        "created_at",
        "updated_at",
      ].sort(),
    );
    expect(m.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await balanceOf(alice)).toBe(2);
    const ledger = await json(await as(alice).get("/api/v2/credits/transactions"));
    expect(ledger.transactions[0]).toMatchObject({
      id: m.credits_transaction_id,
      amount: -1,
      balance_after: 2,
      kind: "message",
      message_id: m.id,
    });
  });

  it("accepts attachments, a message type and metadata", async () => {
    const { alice, bob } = await pair(1);
    const attachment = { url: "https://cdn.example/p.jpg", mime_type: "image/jpeg", size_bytes: 2048, name: "p.jpg" };
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "look",
      message_type: "image",
      attachments: [attachment],
      metadata: { w: 3 },
    });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ message_type: "image", attachments: [attachment], metadata: { w: 3 } });
  });

  it("refuses a send it cannot pay for with 402, and changes nothing", async () => {
    const alice = newUser();
    const bob = newUser();
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "hi" });
    expect(res.status).toBe(402);
    expect(await json(res)).toMatchObject({ error: { code: "insufficient_credits", details: { required: 1 } } });
    expect(await balanceOf(alice)).toBe(0);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(0);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", alice)).toBe(0);
    expect(await count("SELECT 1 FROM conversations WHERE id LIKE ?", `%${alice}%`)).toBe(0);
  });

  it("refuses with 402 when the balance is spent, leaving balance, ledger, messages and the conversation's seq as they were", async () => {
    const { alice, bob } = await pair(2);
    await seedCredits(bob, 1);
    await send(alice, bob, "one");
    await send(bob, alice, "reply");
    await send(alice, bob, "two");
    const before = await stateOf(alice, bob);
    // Alice has a balance row at 0, a ledger and a conversation at seq 3.
    expect(before).toMatchObject({ balance: { balance: 0 }, ledger: 3, messages: 3, conversation: { last_seq: 3 } });
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "three", client_message_id: "broke-1" });
    expect(res.status).toBe(402);
    expect(await json(res)).toEqual({ error: { code: "insufficient_credits", message: expect.any(String), details: { required: 1 } } });
    expect(await stateOf(alice, bob)).toEqual(before);
    // Once paid for, the same send takes the next number (none was burnt) and its client_message_id is still free.
    await seedCredits(alice, 1);
    expect(await send(alice, bob, "three", { client_message_id: "broke-1" })).toMatchObject({ seq: 4, content: "three" });
  });

  it("refuses with 402 when the balance is above zero but below MESSAGE_COST, and changes nothing", async () => {
    const { alice, bob } = await pair(3);
    await send(alice, bob, "first");
    const before = await stateOf(alice, bob);
    expect(before).toMatchObject({ balance: { balance: 2 }, ledger: 2, messages: 1, conversation: { last_seq: 1 } });
    const res = await sendCosting(3, alice, { receiver_id: bob, content: "too dear" });
    expect(res.status).toBe(402);
    expect(await json(res)).toMatchObject({ error: { code: "insufficient_credits", details: { required: 3 } } });
    expect(await stateOf(alice, bob)).toEqual(before);
    // The same send at a price the balance covers goes through and takes all of it.
    const paid = await sendCosting(2, alice, { receiver_id: bob, content: "affordable" });
    expect(paid.status).toBe(201);
    expect(await json(paid)).toMatchObject({ credits_cost: 2, seq: 2 });
    expect(await balanceOf(alice)).toBe(0);
  });

  it("20 parallel sends with 5 credits: exactly 5 messages, balance 0, 15 × 402, seq 1..5", async () => {
    const { alice, bob } = await pair(5);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => as(alice).post(SEND, { receiver_id: bob, content: `m${i}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 402)).toHaveLength(15);
    const refusals = await Promise.all(results.filter((r) => r.status === 402).map((r) => json(r)));
    expect(refusals).toEqual(
      Array(15).fill({ error: { code: "insufficient_credits", message: expect.any(String), details: { required: 1 } } }),
    );
    expect(await balanceOf(alice)).toBe(0);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(5);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(5);
    const seqs = (await Promise.all(results.filter((r) => r.status === 201).map((r) => json(r)))).map((m) => m.seq).sort();
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    // What is stored agrees: the refused 15 took no number, the high-water mark is exactly 5.
    expect((await conversationOf(alice, bob))?.last_seq).toBe(5);
    const stored = await env.DB.prepare("SELECT seq FROM messages WHERE sender_id = ? ORDER BY seq").bind(alice).all<{ seq: number }>();
    expect(stored.results.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it("seq is gapless per conversation under parallel sends from both sides", async () => {
    const { alice, bob } = await pair(10);
    await seedCredits(bob, 10);
    const results = await Promise.all([
      ...Array.from({ length: 8 }, (_, i) => as(alice).post(SEND, { receiver_id: bob, content: `a${i}` })),
      ...Array.from({ length: 8 }, (_, i) => as(bob).post(SEND, { receiver_id: alice, content: `b${i}` })),
    ]);
    expect(results.every((r) => r.status === 201)).toBe(true);
    const seqs = (await Promise.all(results.map((r) => json(r)))).map((m) => m.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it("a retry with the same client_message_id returns the original with 200 and charges nothing", async () => {
    const { alice, bob } = await pair(5);
    const body = { receiver_id: bob, content: "once", client_message_id: "retry-1" };
    const first = await as(alice).post(SEND, body);
    expect(first.status).toBe(201);
    const original = await json(first);
    const again = await as(alice).post(SEND, body);
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(original);
    expect(await balanceOf(alice)).toBe(4);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(1);
  });

  it("a retry is exactly-once even at zero balance (it never reaches the charge)", async () => {
    const { alice, bob } = await pair(1);
    const body = { receiver_id: bob, content: "last credit", client_message_id: "zero-1" };
    expect((await as(alice).post(SEND, body)).status).toBe(201);
    expect(await balanceOf(alice)).toBe(0);
    const retry = await as(alice).post(SEND, body);
    expect(retry.status).toBe(200);
    expect(await balanceOf(alice)).toBe(0);
  });

  it("racing duplicates of one client_message_id: one 201, the rest 200 with the same message, one charge", async () => {
    const { alice, bob } = await pair(10);
    const body = { receiver_id: bob, content: "race", client_message_id: "race-1" };
    const results = await Promise.all(Array.from({ length: 6 }, () => as(alice).post(SEND, body)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 201]);
    const ids = new Set((await Promise.all(results.map((r) => json(r)))).map((m) => m.id));
    expect(ids.size).toBe(1);
    expect(await balanceOf(alice)).toBe(9);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(1);
  });

  describe("a reused client_message_id that is not a retry", () => {
    it.each([
      ["other content", (bob: string) => ({ receiver_id: bob, content: "a different message" }), ["content"]],
      ["another receiver", () => ({ receiver_id: newUser("carol"), content: "once" }), ["receiver_id"]],
      ["another receiver and content", () => ({ receiver_id: newUser("carol"), content: "new" }), ["receiver_id", "content"]],
    ])("with %s → 409 conflict; nothing written, charged or announced", async (_name, bodyOf, fields) => {
      const { alice, bob } = await pair(5);
      const original = await send(alice, bob, "once", { client_message_id: "reuse-1" });
      const bobSocket = await openSocket(bob, { partner: alice });
      await bobSocket.drain();
      const before = await stateOf(alice, bob);
      const res = await as(alice).post(SEND, { ...bodyOf(bob), client_message_id: "reuse-1" });
      expect(res.status).toBe(409);
      expect(await json(res)).toEqual({
        error: {
          code: "conflict",
          message: expect.any(String),
          details: { client_message_id: [expect.any(String)], conflicting_fields: fields, message_id: original.id },
        },
      });
      expect(await stateOf(alice, bob)).toEqual(before);
      expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(1);
      expect(await bobSocket.drain()).toEqual([]);
      bobSocket.close();
    });

    it("content is compared after trimming, and other fields are not compared: that retry is 200", async () => {
      const { alice, bob } = await pair(5);
      const original = await send(alice, bob, "same words", { client_message_id: "trim-1", metadata: { attempt: 1 } });
      const retry = await as(alice).post(SEND, {
        receiver_id: bob,
        content: "  same words\n",
        client_message_id: "trim-1",
        metadata: { attempt: 2 },
      });
      expect(retry.status).toBe(200);
      expect(await json(retry)).toEqual(original);
      expect(await balanceOf(alice)).toBe(4);
    });

    it("racing sends of one client_message_id with different content: one 201, the other 409, one charge", async () => {
      const { alice, bob } = await pair(10);
      const results = await Promise.all(
        ["first", "second", "first", "second"].map((content) =>
          as(alice).post(SEND, { receiver_id: bob, content, client_message_id: "race-2" }),
        ),
      );
      const bodies = await Promise.all(results.map((r) => json(r)));
      const winner = bodies[results.findIndex((r) => r.status === 201)];
      expect(results.map((r) => r.status).filter((s) => s === 201)).toHaveLength(1);
      // Those with the winner's content are its retries (200), the others conflict (409).
      results.forEach((r, i) => {
        const content = ["first", "second", "first", "second"][i];
        if (r.status === 201) return;
        expect(r.status, content).toBe(content === winner.content ? 200 : 409);
      });
      expect(await balanceOf(alice)).toBe(9);
      expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(1);
      expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(1);
    });
  });

  it("the same client_message_id from two different senders are two messages", async () => {
    const { alice, bob } = await pair(2);
    await seedCredits(bob, 2);
    const a = await as(alice).post(SEND, { receiver_id: bob, content: "x", client_message_id: "shared" });
    const b = await as(bob).post(SEND, { receiver_id: alice, content: "y", client_message_id: "shared" });
    expect([a.status, b.status]).toEqual([201, 201]);
    const [ma, mb] = [await json(a), await json(b)];
    expect(ma.id).not.toBe(mb.id);
    const stored = await env.DB.prepare(
      "SELECT id, sender_id, content, seq FROM messages WHERE client_message_id = 'shared' AND sender_id IN (?, ?) ORDER BY seq",
    )
      .bind(alice, bob)
      .all();
    expect(stored.results).toEqual([
      { id: ma.id, sender_id: alice, content: "x", seq: 1 },
      { id: mb.id, sender_id: bob, content: "y", seq: 2 },
    ]);
    expect([await balanceOf(alice), await balanceOf(bob)]).toEqual([1, 1]);
  });

  it("rejects sending to yourself with 400, storing and charging nothing", async () => {
    const { alice } = await pair(3);
    const res = await as(alice).post(SEND, { receiver_id: alice, content: "me" });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: { code: "validation_failed", details: { receiver_id: expect.any(Array) } } });
    expect(await balanceOf(alice)).toBe(3);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ? OR receiver_id = ?", alice, alice)).toBe(0);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", alice)).toBe(1); // the grant only
    expect(await conversationOf(alice, alice)).toBeNull();
    expect(await count("SELECT 1 FROM conversation_members WHERE user_id = ?", alice)).toBe(0);
  });

  it.each([
    ["empty content", { content: "" }, "content"],
    ["whitespace-only content", { content: "   \n\t " }, "content"],
    ["content over 4000 characters", { content: "x".repeat(4001) }, "content"],
    ["an unknown message_type", { message_type: "sticker" }, "message_type"],
    ["a server-owned field", { status: "read" }, "status"],
    ["credits_cost from the client", { credits_cost: 0 }, "credits_cost"],
    ["an http attachment", { attachments: [{ url: "http://x.example/a", mime_type: "image/png", size_bytes: 1 }] }, "attachments.0.url"],
    ["an attachment without size", { attachments: [{ url: "https://x.example/a", mime_type: "image/png" }] }, "attachments.0.size_bytes"],
    [
      "an attachment with an extra field",
      { attachments: [{ url: "https://x.example/a", mime_type: "image/png", size_bytes: 1, x: 1 }] },
      "attachments.0.x",
    ],
    [
      "11 attachments",
      { attachments: Array.from({ length: 11 }, () => ({ url: "https://x.example/a", mime_type: "image/png", size_bytes: 1 })) },
      "attachments",
    ],
    ["an attachment without mime_type", { attachments: [{ url: "https://x.example/a", size_bytes: 1 }] }, "attachments.0.mime_type"],
    [
      "an attachment whose mime_type is not type/subtype",
      { attachments: [{ url: "https://x.example/a", mime_type: "jpeg", size_bytes: 1 }] },
      "attachments.0.mime_type",
    ],
    [
      "an attachment whose mime_type has a space",
      { attachments: [{ url: "https://x.example/a", mime_type: "image/ png", size_bytes: 1 }] },
      "attachments.0.mime_type",
    ],
    ["an ftp attachment", { attachments: [{ url: "ftp://x.example/a", mime_type: "image/png", size_bytes: 1 }] }, "attachments.0.url"],
    [
      "an attachment url that is not a URL",
      { attachments: [{ url: "x.example/a", mime_type: "image/png", size_bytes: 1 }] },
      "attachments.0.url",
    ],
    [
      "a second attachment with an http url",
      {
        attachments: [
          { url: "https://x.example/a", mime_type: "image/png", size_bytes: 1 },
          { url: "http://x.example/b", mime_type: "image/png", size_bytes: 1 },
        ],
      },
      "attachments.1.url",
    ],
    ["metadata over 2 KiB", { metadata: { blob: "x".repeat(2100) } }, "metadata"],
    ["metadata of 2049 bytes", { metadata: { b: "x".repeat(2041) } }, "metadata"],
    ["metadata over 2 KiB in bytes, not characters", { metadata: { b: "é".repeat(1021) } }, "metadata"],
    ["metadata that is an array", { metadata: [1, 2] }, "metadata"],
    ["metadata that is a string", { metadata: "{}" }, "metadata"],
    ["metadata that is null", { metadata: null }, "metadata"],
    ["a client_message_id over 64 characters", { client_message_id: "c".repeat(65) }, "client_message_id"],
    ["a client_message_id with a space", { client_message_id: "retry 1" }, "client_message_id"],
    ["a client_message_id with a non-ASCII character", { client_message_id: "café-1" }, "client_message_id"],
    ["a client_message_id with a control character", { client_message_id: "a\tb" }, "client_message_id"],
    ["an empty client_message_id", { client_message_id: "" }, "client_message_id"],
    ["a client_message_id that is not a string", { client_message_id: 42 }, "client_message_id"],
    ["a bad receiver id", { receiver_id: "no spaces allowed" }, "receiver_id"],
  ])("rejects %s with 400 and per-field details, changing nothing", async (_name, patch, field) => {
    const { alice, bob } = await pair(3);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "ok", ...patch });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error.code).toBe("validation_failed");
    expect(Object.keys(body.error.details)).toContain(field);
    expect(await balanceOf(alice)).toBe(3);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(0);
  });

  it("accepts the limits exactly: 2048 bytes of metadata and a 64-character client_message_id of printable ASCII", async () => {
    const { alice, bob } = await pair(1);
    const metadata = { b: "x".repeat(2040) };
    expect(new TextEncoder().encode(JSON.stringify(metadata)).length).toBe(2048);
    const clientMessageId = `~!#$%&'()*+,-./:;<=>?@[]^_\`{|}`.padEnd(64, "z");
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "at the limit", metadata, client_message_id: clientMessageId });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ metadata, client_message_id: clientMessageId });
    expect(await balanceOf(alice)).toBe(0);
  });

  it("counts 4000 emoji as 4000 characters (code points, not UTF-16 units)", async () => {
    const { alice, bob } = await pair(1);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "😀".repeat(4000) });
    expect(res.status).toBe(201);
  });

  it("rate-limits bursts per user with 429 and Retry-After, writing and charging nothing", async () => {
    const { alice, bob } = await pair(100);
    // A sliding window: the 31st message within 10 seconds is refused, wherever the clock's seconds fall.
    for (let i = 0; i < 30; i++) {
      expect((await as(alice).post(SEND, { receiver_id: bob, content: `burst ${i}`, client_message_id: `b-${i}` })).status).toBe(201);
    }
    const before = await stateOf(alice, bob);
    const limited = await as(alice).post(SEND, { receiver_id: bob, content: "burst 30", client_message_id: "b-30" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("10");
    expect(await json(limited)).toMatchObject({ error: { code: "rate_limited", details: { retry_after_seconds: 10 } } });
    expect(await stateOf(alice, bob)).toEqual(before);
    expect(await balanceOf(alice)).toBe(70);
    // A retry of a message already stored writes nothing, so the limit does not stand in its way...
    const retry = await as(alice).post(SEND, { receiver_id: bob, content: "burst 0", client_message_id: "b-0" });
    expect(retry.status).toBe(200);
    expect(await json(retry)).toMatchObject({ client_message_id: "b-0", content: "burst 0", seq: 1 });
    // A reused id with other content is no retry: 409 even at the limit, and nothing written.
    const reused = await as(alice).post(SEND, { receiver_id: bob, content: "not burst 0", client_message_id: "b-0" });
    expect(reused.status).toBe(409);
    expect(await json(reused)).toMatchObject({ error: { code: "conflict", details: { conflicting_fields: ["content"] } } });
    // ...while a new message is still refused, to any receiver.
    expect((await as(alice).post(SEND, { receiver_id: bob, content: "new", client_message_id: "b-new" })).status).toBe(429);
    const { bob: dave } = await pair(1);
    expect((await as(alice).post(SEND, { receiver_id: dave, content: "someone else" })).status).toBe(429);
    expect(await stateOf(alice, bob)).toEqual(before);
    // Another user is not affected.
    const { alice: carol } = await pair(1);
    expect((await as(carol).post(SEND, { receiver_id: bob, content: "hi" })).status).toBe(201);
    // Once the burst is more than 10 seconds old the window is free again (the minute still has room).
    await age(alice, 11);
    expect((await as(alice).post(SEND, { receiver_id: bob, content: "later" })).status).toBe(201);
  });

  it("limits each minute too (SEND_MINUTE_LIMIT), over a sliding window; both limits are settings", async () => {
    const { alice, bob } = await pair(100);
    const limits = { SEND_BURST_LIMIT: "3", SEND_MINUTE_LIMIT: "5" };
    for (let i = 0; i < 3; i++) expect((await sendWith(limits, alice, { receiver_id: bob, content: `a ${i}` })).status).toBe(201);
    expect((await sendWith(limits, alice, { receiver_id: bob, content: "a 3" })).status).toBe(429);
    await age(alice, 30); // out of the burst window, still in the minute's
    for (let i = 3; i < 5; i++) expect((await sendWith(limits, alice, { receiver_id: bob, content: `a ${i}` })).status).toBe(201);
    const before = await stateOf(alice, bob);
    const limited = await sendWith(limits, alice, { receiver_id: bob, content: "a 5" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(await json(limited)).toMatchObject({ error: { code: "rate_limited", details: { retry_after_seconds: 60 } } });
    expect(await stateOf(alice, bob)).toEqual(before);
    // The three older messages leave the minute's window after 60 seconds: room for three more.
    await age(alice, 31);
    for (let i = 5; i < 8; i++) expect((await sendWith(limits, alice, { receiver_id: bob, content: `a ${i}` })).status).toBe(201);
    expect((await sendWith(limits, alice, { receiver_id: bob, content: "a 8" })).status).toBe(429);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(8);
    expect(await balanceOf(alice)).toBe(92);
    // A setting that is no whole number >= 1 is a configuration error, not a silent default.
    expect((await sendWith({ SEND_BURST_LIMIT: "0" }, alice, { receiver_id: bob, content: "x" })).status).toBe(500);
  });

  it("racing sends never pass the limit: 40 at once give exactly 30 messages and 30 charges", async () => {
    const { alice, bob } = await pair(100);
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        as(alice)
          .post(SEND, { receiver_id: bob, content: `race ${i}` })
          .then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(30);
    expect(await balanceOf(alice)).toBe(70);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(30);
    expect(await conversationOf(alice, bob)).toMatchObject({ last_seq: 30 });
  });

  it("counts messages sent, not refused attempts: sends refused for credits leave the limit untouched", async () => {
    const { alice, bob } = await pair(0);
    for (let i = 0; i < 35; i++) expect((await as(alice).post(SEND, { receiver_id: bob, content: `broke ${i}` })).status).toBe(402);
    await seedCredits(alice, 1);
    expect((await as(alice).post(SEND, { receiver_id: bob, content: "funded" })).status).toBe(201);
  });

  it("with MESSAGE_COST=0 messages are free: no balance needed, no ledger row", async () => {
    const alice = newUser();
    const bob = newUser();
    const res = await app.request(
      `${BASE}${SEND}`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(alice)}`, "content-type": "application/json" },
        body: JSON.stringify({ receiver_id: bob, content: "free" }),
      },
      { ...env, MESSAGE_COST: "0" },
    );
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ credits_cost: 0, credits_transaction_id: null, seq: 1 });
    expect(await balanceOf(alice)).toBe(0);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", alice)).toBe(0);
  });
});
