import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import type { ConversationRoom } from "../src/durable-objects/conversation-room";
import { SYNC_CONVERSATIONS } from "../src/durable-objects/inbox";
import { FRAME_BURST, FRAME_REFILL_PER_SECOND, FrameLimiter } from "../src/durable-objects/sockets";
import { conversationIdOf } from "../src/lib/ids";
import { as, BASE, json, newUser, pair, seedCredits, send, tokenFor } from "./helpers";
import { connect, openSocket, roomStub, TestSocket, upgrade, wsUrl } from "./sockets";

/** alice and bob, two devices each, on their conversation; opening presences consumed. */
async function fourDevices(credits = 10) {
  const { alice, bob } = await pair(credits);
  await seedCredits(bob, credits);
  const alicePhone = await openSocket(alice, { partner: bob });
  const aliceLaptop = await openSocket(alice, { partner: bob });
  const bobPhone = await openSocket(bob, { partner: alice });
  const bobLaptop = await openSocket(bob, { partner: alice });
  const all = [alicePhone, aliceLaptop, bobPhone, bobLaptop];
  for (const s of all) await s.drain(); // presence noise from the joins
  return { alice, bob, alicePhone, aliceLaptop, bobPhone, bobLaptop, all };
}

const closeAll = (sockets: TestSocket[]) => {
  for (const s of sockets) s.close();
};

describe("upgrade authentication", () => {
  it("no token, a bad token or no upgrade: no socket", async () => {
    const { exports } = await import("cloudflare:workers");
    const noAuth = await exports.default.fetch("http://pairly.test/api/v2/messages/ws?partner_id=bob", {
      headers: { upgrade: "websocket" },
    });
    expect(noAuth.status).toBe(401);
    expect(noAuth.webSocket).toBeNull();
    expect(await json(noAuth)).toMatchObject({ error: { code: "unauthorized" } });
    const badProto = await exports.default.fetch("http://pairly.test/api/v2/messages/ws", {
      headers: { upgrade: "websocket", "sec-websocket-protocol": "pairly.v1, bearer.garbage" },
    });
    expect(badProto.status).toBe(401);
    expect(badProto.webSocket).toBeNull();
    const plain = await as(newUser()).get("/api/v2/messages/ws");
    expect(plain.status).toBe(426);
    expect(await json(plain)).toMatchObject({ error: { code: "upgrade_required" } });
  });

  it("browsers authenticate with the token as a subprotocol, and get pairly.v1 back", async () => {
    const { alice, bob } = await pair(0);
    const res = await upgrade(alice, { partner: bob, via: "protocol" });
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-protocol")).toBe("pairly.v1");
    res.webSocket?.accept();
    res.webSocket?.close(1000);
  });

  it("a user can only join their own conversation: partner_id is the other side, never yourself", async () => {
    const alice = newUser();
    const self = await upgrade(alice, { partner: alice });
    expect(self.status).toBe(400);
    const bad = await upgrade(alice, { partner: "not valid!" });
    expect(bad.status).toBe(400);
    const inboxSince = await upgrade(alice, { since: 3 });
    expect(inboxSince.status).toBe(400);
  });

  it("no way to join another pair's conversation: naming either of them lands in your own conversation with them", async () => {
    const { alice, bob } = await pair(5);
    const private1 = await send(alice, bob, "between alice and bob");
    const aliceSocket = await openSocket(alice, { partner: bob });
    const bobSocket = await openSocket(bob, { partner: alice });
    for (const s of [aliceSocket, bobSocket]) await s.drain();
    const mallory = newUser("mallory");
    // The conversation id itself is no valid partner id, so it cannot be named either.
    expect((await upgrade(mallory, { partner: conversationIdOf(alice, bob) })).status).toBe(400);
    for (const partner of [alice, bob]) {
      const snoop = await connect(mallory, { partner, since: 0 });
      // Her own conversation with that user: empty, so the replay is only its sync, and the presence is hers to see.
      expect((await snoop.drain()).filter((e) => e.type !== "presence")).toEqual([{ type: "sync", last_seq: 0 }]);
      const typing = aliceSocket;
      typing.send({ type: "typing", state: "start" });
      typing.send({ type: "read", message_ids: [private1.id] });
      await send(alice, bob, `after ${partner}`);
      await typing.settle();
      expect(await snoop.drain()).toEqual([]);
      snoop.send({ type: "read", message_ids: [private1.id] }); // not hers: changes nothing
      await snoop.settle();
      snoop.close();
      await aliceSocket.drain();
    }
    // Neither participant ever saw mallory (no presence, no events from her sockets).
    expect(JSON.stringify(await bobSocket.drain())).not.toContain(mallory);
    expect((await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`))).messages.at(-1)).toMatchObject({
      id: private1.id,
      status: "sent",
    });
    aliceSocket.close();
    bobSocket.close();
  });
});

describe("fan-out of HTTP changes", () => {
  it("a new message reaches every device of both participants, in order", async () => {
    const { alice, bob, all } = await fourDevices();
    const m1 = await send(alice, bob, "one");
    const m2 = await send(bob, alice, "two");
    for (const s of all) {
      const events = await s.drain();
      expect(events.map((e) => [e.type, e.message?.seq])).toEqual([
        ["message.new", 1],
        ["message.new", 2],
      ]);
      expect(events[0]?.message).toMatchObject({ id: m1.id, content: "one", status: "sent" });
      expect(events[1]?.message).toMatchObject({ id: m2.id, content: "two" });
    }
    closeAll(all);
  });

  it("delivered, read and delete over HTTP reach every device, committed before they are sent", async () => {
    const { alice, bob, all } = await fourDevices();
    const m = await send(alice, bob, "receipts");
    for (const s of all) await s.drain();
    const delivered = await json(await as(bob).post(`/api/v2/messages/mark-delivered/${m.id}`));
    const read = await as(bob).post("/api/v2/messages/mark-read", { message_ids: [m.id] });
    expect(await json(read)).toMatchObject({ marked_count: 1 });
    await as(alice).del(`/api/v2/messages/${m.id}`);
    const history = await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`));
    const final = history.messages[0];
    for (const s of all) {
      const events = await s.drain();
      expect(events).toEqual([
        { type: "message.status", message_id: m.id, status: "delivered", delivered_at: delivered.delivered_at, read_at: null },
        { type: "message.status", message_id: m.id, status: "read", delivered_at: delivered.delivered_at, read_at: final.read_at },
        { type: "message.deleted", message_id: m.id },
      ]);
    }
    closeAll(all);
  });

  it("an idempotent repeat sends no second event", async () => {
    const { alice, bob, all } = await fourDevices();
    const m = await send(alice, bob);
    await as(bob).post(`/api/v2/messages/mark-delivered/${m.id}`);
    for (const s of all) await s.drain();
    await as(bob).post(`/api/v2/messages/mark-delivered/${m.id}`);
    await as(bob).post("/api/v2/messages/mark-read", { message_ids: ["msg_unknown"] });
    for (const s of all) expect(await s.drain()).toEqual([]);
    closeAll(all);
  });

  it("a stranger's socket never receives another pair's events", async () => {
    const { alice, bob, all } = await fourDevices();
    const mallory = newUser("mallory");
    const snoopBob = await openSocket(mallory, { partner: bob });
    const snoopAlice = await openSocket(mallory, { partner: alice });
    const snoopInbox = await openSocket(mallory);
    for (const s of [snoopBob, snoopAlice, snoopInbox]) await s.drain();
    const m = await send(alice, bob, "private");
    await as(bob).post("/api/v2/messages/mark-read", { message_ids: [m.id] });
    const typing = all[0] as TestSocket;
    typing.send({ type: "typing", state: "start" });
    await typing.settle();
    for (const s of [snoopBob, snoopAlice, snoopInbox]) expect(await s.drain()).toEqual([]);
    closeAll([...all, snoopBob, snoopAlice, snoopInbox]);
  });
});

describe("socket frames", () => {
  it("ack and read over the socket follow the HTTP rules and fan out to the sender's devices", async () => {
    const { alice, bob, alicePhone, aliceLaptop, bobPhone, bobLaptop } = await fourDevices();
    const m = await send(alice, bob, "ack me");
    for (const s of [alicePhone, aliceLaptop, bobPhone, bobLaptop]) await s.drain();

    bobPhone.send({ type: "ack", message_ids: [m.id] });
    for (const s of [alicePhone, aliceLaptop, bobLaptop]) {
      expect(await s.nextOf("message.status")).toMatchObject({ message_id: m.id, status: "delivered", read_at: null });
    }
    bobPhone.send({ type: "read", message_ids: [m.id] });
    for (const s of [alicePhone, aliceLaptop, bobLaptop]) {
      expect(await s.nextOf("message.status")).toMatchObject({ message_id: m.id, status: "read" });
    }
    // The acking device gets the echo too (clients apply status events idempotently).
    expect((await bobPhone.drain()).map((e) => e.status)).toEqual(["delivered", "read"]);
    // Stored, and visible over HTTP.
    const history = await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`));
    expect(history.messages[0]).toMatchObject({ id: m.id, status: "read" });

    // Never backwards, and never by the sender: no change, no event.
    bobPhone.send({ type: "ack", message_ids: [m.id] });
    alicePhone.send({ type: "read", message_ids: [m.id] });
    for (const s of [alicePhone, aliceLaptop, bobPhone, bobLaptop]) expect((await s.drain()).filter((e) => e.type !== "pong")).toEqual([]);
    closeAll([alicePhone, aliceLaptop, bobPhone, bobLaptop]);
  });

  it("a socket cannot touch messages of another conversation", async () => {
    const { alice, bob } = await pair(2);
    const carol = newUser("carol");
    const other = await send(alice, carol, "to carol");
    const carolInBob = await openSocket(carol, { partner: bob });
    carolInBob.send({ type: "read", message_ids: [other.id] });
    await carolInBob.settle();
    const history = await json(await as(carol).get(`/api/v2/messages/conversation/${alice}`));
    expect(history.messages[0]).toMatchObject({ id: other.id, status: "sent" });
    carolInBob.close();
  });

  // Each frame names a real unread message, so "nothing changed" is something that could have changed.
  it.each([
    ["not JSON", (id: string) => `{"type":"read","message_ids":["${id}"]`, "validation_failed"],
    ["an unknown type", (id: string) => ({ type: "dance", message_ids: [id] }), "validation_failed"],
    ["wrong fields", (id: string) => ({ type: "read", message_id: id }), "validation_failed"],
    ["an extra field", (id: string) => ({ type: "read", message_ids: [id], status: "read" }), "validation_failed"],
    ["an empty read", () => ({ type: "read", message_ids: [] }), "validation_failed"],
    ["over 4 KiB", (id: string) => ({ type: "read", message_ids: [id], pad: "x".repeat(4200) }), "payload_too_large"],
  ])("%s → an error event, nothing changed, the socket stays open", async (_name, frameOf, code) => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const s = await openSocket(bob, { partner: alice });
    const sender = await openSocket(alice, { partner: bob });
    await s.drain();
    await sender.drain();
    s.send(frameOf(m.id));
    expect(await s.nextOf("error")).toMatchObject({ type: "error", code, message: expect.any(String) });
    expect(await sender.drain()).toEqual([]);
    expect((await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`))).messages[0]).toMatchObject({
      id: m.id,
      status: "sent",
      read_at: null,
    });
    // Still open and working.
    s.send({ type: "read", message_ids: [m.id] });
    expect(await s.nextOf("message.status")).toMatchObject({ message_id: m.id, status: "read" });
    expect(s.closed).toBeNull();
    s.close();
    sender.close();
  });

  it("ping → pong", async () => {
    const { alice, bob } = await pair(0);
    const s = await openSocket(alice, { partner: bob });
    s.send({ type: "ping" });
    expect(await s.nextOf("pong")).toEqual({ type: "pong" });
    s.send('{ "type": "ping" }'); // not the exact auto-response text: answered by the object
    expect(await s.nextOf("pong")).toEqual({ type: "pong" });
    s.close();
  });

  it(`frames are rate-limited per socket: a start/stop flood reaches the partner exactly up to the bucket (${FRAME_BURST})`, async () => {
    const { alice, bob } = await pair(0);
    const flooder = await openSocket(alice, { partner: bob });
    const watcher = await openSocket(bob, { partner: alice });
    await watcher.drain(); // the flooder sends nothing before its flood: its bucket is full
    // The room's own bucket, with its refill stopped (time passes while the flood is handled): the count
    // the partner sees is then exactly the burst. The refill itself is checked on FrameLimiter below.
    await runInDurableObject(roomStub(alice, bob), (room: ConversationRoom) => {
      (room as unknown as { limiter: { perSecond: number } }).limiter.perSecond = 0;
    });
    // Every one of these would fan out (start, stop, start, ...) if nothing limited them.
    for (let i = 0; i < 200; i++) flooder.send({ type: "typing", state: i % 2 === 0 ? "start" : "stop" });
    // Each refused frame gets an error, in order: once all are in, every frame has been handled.
    const refused = [];
    for (let i = 0; i < 200 - FRAME_BURST; i++) refused.push(await flooder.nextOf("error"));
    expect(refused.every((e) => e.code === "rate_limited")).toBe(true);
    const seen = await watcher.drain();
    expect(seen).toEqual(
      Array.from({ length: FRAME_BURST }, (_, i) => ({ type: "typing", user_id: alice, state: i % 2 === 0 ? "start" : "stop" })),
    );
    expect(flooder.closed).toBeNull();
    flooder.close();
    watcher.close();
  });

  it(`the bucket refills at ${FRAME_REFILL_PER_SECOND} frames a second, up to ${FRAME_BURST}`, () => {
    const limiter = new FrameLimiter();
    const t = 1_000_000;
    expect(Array.from({ length: FRAME_BURST + 1 }, () => limiter.allow("s", t))).toEqual([...Array(FRAME_BURST).fill(true), false]);
    expect(limiter.allow("s", t + 1000 / FRAME_REFILL_PER_SECOND - 1)).toBe(false);
    expect(limiter.allow("s", t + 1000 / FRAME_REFILL_PER_SECOND)).toBe(true);
    expect(limiter.allow("other", t)).toBe(true); // per socket
    const later = t + 3_600_000; // an hour idle: full again, never more than the burst
    expect(Array.from({ length: FRAME_BURST + 1 }, () => limiter.allow("s", later)).filter(Boolean)).toHaveLength(FRAME_BURST);
  });

  it("the user a socket belongs to comes from its token only: forged internal headers are ignored", async () => {
    const { alice, bob } = await pair(2);
    const mallory = newUser("mallory");
    const bobSocket = await openSocket(bob, { partner: alice });
    await bobSocket.drain();
    const res = await exports.default.fetch(wsUrl({ partner: bob }), {
      headers: {
        upgrade: "websocket",
        authorization: `Bearer ${await tokenFor(mallory)}`,
        "x-pairly-user": alice,
        "x-pairly-scope": conversationIdOf(alice, bob),
      },
    });
    expect(res.status).toBe(101);
    res.webSocket?.accept();
    const forged = new TestSocket(res.webSocket as WebSocket);
    await send(alice, bob, "private");
    expect((await bobSocket.nextOf("message.new")).message.content).toBe("private");
    // Mallory landed in her own (empty) conversation with bob: alice's never hears of her, she hears nothing of it.
    expect((await forged.drain()).filter((e) => e.type !== "presence")).toEqual([{ type: "sync", last_seq: 0 }]);
    expect(await bobSocket.drain()).toEqual([]);
    forged.close();
    bobSocket.close();
  });
});

describe("inbox socket", () => {
  it("gets the unread count on connect, then every new message and each new count", async () => {
    const me = newUser("me");
    const [p1, p2] = [newUser("p"), newUser("p")];
    await seedCredits(p1, 5);
    await seedCredits(p2, 5);
    const early = await send(p1, me, "before connecting");
    const inbox = await openSocket(me);
    const laptop = await openSocket(me);
    expect(await inbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 1 });
    // A device connecting recounts for all of them (the newest count always wins).
    expect(await laptop.drain()).toEqual([{ type: "unread", unread_count: 1 }]);
    expect(await inbox.drain()).toEqual([{ type: "unread", unread_count: 1 }]);

    await send(p1, me, "from p1");
    await send(p2, me, "from p2");
    for (const s of [inbox, laptop]) {
      const events = await s.drain();
      expect(events.map((e) => (e.type === "unread" ? ["unread", e.unread_count] : [e.type, e.message.content]))).toEqual([
        ["message.new", "from p1"],
        ["unread", 2],
        ["message.new", "from p2"],
        ["unread", 3],
      ]);
    }
    await as(me).post("/api/v2/messages/mark-read", { message_ids: [early.id] });
    expect(await inbox.drain()).toEqual([{ type: "unread", unread_count: 2 }]);

    // My own sends reach my other devices' inboxes too, without an unread count.
    await seedCredits(me, 1);
    await send(me, p2, "reply");
    expect((await laptop.drain()).map((e) => e.type)).toEqual(["unread", "message.new"]);
    inbox.close();
    laptop.close();
  });

  it("starts with sync: recent conversations with their last seq and unread count, before the count and live events", async () => {
    const me = newUser("me");
    const [p1, p2, p3] = [newUser("p"), newUser("p"), newUser("p")];
    await seedCredits(p1, 5);
    await seedCredits(me, 5);
    const first = await send(p1, me, "one");
    await send(p1, me, "two");
    await as(me).post("/api/v2/messages/mark-read", { message_ids: [first.id] });
    await send(me, p2, "to p2");
    const inbox = await connect(me);
    expect(await inbox.drain()).toEqual([
      {
        type: "sync",
        conversations: [
          { partner_id: p2, last_seq: 1, unread_count: 0 },
          { partner_id: p1, last_seq: 2, unread_count: 1 },
        ],
        unread_count: 1,
        has_more: false,
      },
      { type: "unread", unread_count: 1 },
    ]);
    expect(JSON.stringify(inbox.joined)).not.toContain(p3);
    inbox.close();
  });

  it("a lost inbox event is recoverable: a later message's seq shows the gap per partner, a refetch or a reconnect's sync fills it", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const inbox = await openSocket(bob);
    const held = new Map<string, number>(
      inbox.joined?.conversations.map((c: { partner_id: string; last_seq: number }) => [c.partner_id, c.last_seq]),
    );
    expect(held.get(alice)).toBe(1);
    await inbox.drain();
    // The notification to bob's inbox is lost; the room and alice's inbox still hear of it.
    const lost = await app.request(
      `${BASE}/api/v2/messages/send`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(alice)}`, "content-type": "application/json" },
        body: JSON.stringify({ receiver_id: bob, content: "lost on the way" }),
      },
      {
        ...env,
        INBOX: {
          getByName: (id: string) =>
            id === bob ? { newMessage: () => Promise.reject(new Error("inbox down (test)")) } : env.INBOX.getByName(id),
        },
      } as unknown as Env,
    );
    expect(lost.status).toBe(201);
    expect((await inbox.drain()).filter((e) => e.type === "message.new")).toEqual([]);
    const next = await send(alice, bob, "three");
    const event = await inbox.nextOf("message.new");
    expect(event.message).toMatchObject({ id: next.id, seq: 3, sender_id: alice });
    // The client expected seq 2 from alice next: it sees the gap and refetches exactly what is missing.
    expect(event.message.seq).toBeGreaterThan((held.get(alice) ?? 0) + 1);
    const history = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    expect(history.messages.map((m: { seq: number; content: string }) => [m.seq, m.content])).toEqual([
      [3, "three"],
      [2, "lost on the way"],
      [1, "one"],
    ]);
    // A reconnecting device learns the same from its sync.
    const laptop = await openSocket(bob);
    expect(laptop.joined?.conversations).toEqual([{ partner_id: alice, last_seq: 3, unread_count: 3 }]);
    inbox.close();
    laptop.close();
  });

  it("racing sends reach the inbox with their seq, so a client orders them whatever order they arrive in", async () => {
    const { alice, bob } = await pair(10);
    const inbox = await openSocket(bob);
    await inbox.drain();
    const sent = await Promise.all(Array.from({ length: 6 }, (_, i) => send(alice, bob, `race ${i}`)));
    const events = [];
    for (let i = 0; i < sent.length; i++) events.push(await inbox.nextOf("message.new"));
    const bySeq = events.map((e) => e.message).sort((a, b) => a.seq - b.seq);
    expect(bySeq.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(bySeq.map((m) => m.id))).toEqual(new Set(sent.map((m) => m.id)));
    inbox.close();
  });

  it(`sync lists at most the ${SYNC_CONVERSATIONS} most recent conversations, then has_more (the rest come from GET /conversations)`, async () => {
    const me = newUser("busy");
    const partners = Array.from({ length: SYNC_CONVERSATIONS + 1 }, (_, i) => `${me}_p${String(i).padStart(2, "0")}`);
    const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
    await env.DB.batch(
      partners.flatMap((p, i) => {
        const id = conversationIdOf(me, p);
        const [low, high] = me < p ? [me, p] : [p, me];
        return [
          env.DB.prepare(
            "INSERT INTO conversations (id, user_low, user_high, last_seq, created_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?)",
          ).bind(id, low, high, i + 1, at(i), at(i)),
          env.DB.prepare(
            "INSERT INTO conversation_members (user_id, partner_id, conversation_id, last_activity_at) VALUES (?, ?, ?, ?)",
          ).bind(me, p, id, at(i)),
        ];
      }),
    );
    const inbox = await openSocket(me);
    expect(inbox.joined?.has_more).toBe(true);
    expect(inbox.joined?.conversations).toHaveLength(SYNC_CONVERSATIONS);
    // Newest activity first: the oldest conversation is the one left out.
    expect(inbox.joined?.conversations[0]).toEqual({ partner_id: partners.at(-1), last_seq: SYNC_CONVERSATIONS + 1, unread_count: 0 });
    expect(inbox.joined?.conversations.map((c: { partner_id: string }) => c.partner_id)).not.toContain(partners[0]);
    inbox.close();
  });

  it("a read sent on a conversation socket refreshes the reader's inbox unread count", async () => {
    const { alice, bob } = await pair(5);
    const [m1, m2] = [await send(alice, bob, "one"), await send(alice, bob, "two")];
    const bobInbox = await openSocket(bob);
    expect(await bobInbox.drain()).toEqual([{ type: "unread", unread_count: 2 }]);
    const bobRoom = await openSocket(bob, { partner: alice });
    await bobRoom.drain();
    bobRoom.send({ type: "read", message_ids: [m1.id] });
    expect(await bobInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 1 });
    bobRoom.send({ type: "ack", message_ids: [m2.id] }); // delivered is still unread: no count
    await bobRoom.nextOf("message.status");
    bobRoom.send({ type: "read", message_ids: [m2.id] });
    expect(await bobInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 0 });
    expect(await bobInbox.drain()).toEqual([]);
    bobInbox.close();
    bobRoom.close();
  });

  it("acks and reads from the inbox update the conversation room", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const aliceRoom = await openSocket(alice, { partner: bob });
    await aliceRoom.drain();
    const bobInbox = await openSocket(bob);
    await bobInbox.drain();
    bobInbox.send({ type: "read", message_ids: [m.id] });
    expect(await aliceRoom.nextOf("message.status")).toMatchObject({ message_id: m.id, status: "read" });
    expect(await bobInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 0 });
    bobInbox.send({ type: "typing", state: "start" });
    expect(await bobInbox.nextOf("error")).toMatchObject({ code: "validation_failed" });
    aliceRoom.close();
    bobInbox.close();
  });
});
