import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { as, BASE, balanceOf, count, json, newUser, pair, seedCredits, tokenFor } from "./helpers";

const SEND = "/api/v2/messages/send";

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

  it("20 parallel sends with 5 credits: exactly 5 messages, balance 0, 15 × 402, seq 1..5", async () => {
    const { alice, bob } = await pair(5);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => as(alice).post(SEND, { receiver_id: bob, content: `m${i}` })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 402)).toHaveLength(15);
    expect(await balanceOf(alice)).toBe(0);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(5);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(5);
    const seqs = (await Promise.all(results.filter((r) => r.status === 201).map((r) => json(r)))).map((m) => m.seq).sort();
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
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

  it("the same client_message_id from two different senders are two messages", async () => {
    const { alice, bob } = await pair(2);
    await seedCredits(bob, 2);
    const a = await as(alice).post(SEND, { receiver_id: bob, content: "x", client_message_id: "shared" });
    const b = await as(bob).post(SEND, { receiver_id: alice, content: "y", client_message_id: "shared" });
    expect([a.status, b.status]).toEqual([201, 201]);
  });

  it("rejects sending to yourself with 400 and charges nothing", async () => {
    const { alice } = await pair(3);
    const res = await as(alice).post(SEND, { receiver_id: alice, content: "me" });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: { code: "validation_failed", details: { receiver_id: expect.any(Array) } } });
    expect(await balanceOf(alice)).toBe(3);
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
    ["metadata over 2 KiB", { metadata: { blob: "x".repeat(2100) } }, "metadata"],
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

  it("counts 4000 emoji as 4000 characters (code points, not UTF-16 units)", async () => {
    const { alice, bob } = await pair(1);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "😀".repeat(4000) });
    expect(res.status).toBe(201);
  });

  it("rate-limits bursts per user with 429 and Retry-After, writing and charging nothing", async () => {
    const { alice, bob } = await pair(100);
    // The limiter counts in fixed windows, so a window may roll over mid-burst: send until refused.
    let accepted = 0;
    let limited: Response | undefined;
    while (!limited && accepted < 100) {
      const res = await as(alice).post(SEND, { receiver_id: bob, content: `burst ${accepted}` });
      if (res.status === 201) accepted++;
      else limited = res;
    }
    expect(limited?.status).toBe(429);
    expect(accepted).toBeGreaterThanOrEqual(30); // a burst of 30 always fits
    expect(["10", "60"]).toContain(limited?.headers.get("retry-after"));
    expect(await json(limited as Response)).toMatchObject({ error: { code: "rate_limited" } });
    expect(await balanceOf(alice)).toBe(100 - accepted);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(accepted);
    // Another user is not affected.
    const { alice: carol } = await pair(1);
    expect((await as(carol).post(SEND, { receiver_id: bob, content: "hi" })).status).toBe(201);
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
