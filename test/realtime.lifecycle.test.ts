import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findById } from "../src/db/messages";
import {
  type ConversationRoom,
  EVENT_LOG_RETENTION,
  MAX_JOINS_PER_MINUTE,
  MAX_SOCKETS_PER_USER,
  TYPING_TTL_MS,
} from "../src/durable-objects/conversation-room";
import { RoomStorage } from "../src/durable-objects/room-storage";
import type { SocketMeta } from "../src/durable-objects/sockets";
import { conversationIdOf } from "../src/lib/ids";
import { as, db, json, pair, seedCredits, send } from "./helpers";
import { connect, openSocket, roomStub, type TestSocket } from "./sockets";

describe("typing", () => {
  it("start reaches the partner's devices (not the typist's), a refresh sends nothing, stop ends it", async () => {
    const { alice, bob } = await pair(0);
    const typist = await openSocket(alice, { partner: bob });
    const typistLaptop = await openSocket(alice, { partner: bob });
    const bobPhone = await openSocket(bob, { partner: alice });
    const bobLaptop = await openSocket(bob, { partner: alice });
    for (const s of [typist, typistLaptop, bobPhone, bobLaptop]) await s.drain();

    typist.send({ type: "typing", state: "start" });
    typist.send({ type: "typing", state: "start" }); // refresh
    await typist.settle();
    for (const s of [bobPhone, bobLaptop]) expect(await s.drain()).toEqual([{ type: "typing", user_id: alice, state: "start" }]);
    expect(await typistLaptop.drain()).toEqual([]);

    typist.send({ type: "typing", state: "stop" });
    typist.send({ type: "typing", state: "stop" }); // already stopped: nothing
    await typist.settle();
    for (const s of [bobPhone, bobLaptop]) expect(await s.drain()).toEqual([{ type: "typing", user_id: alice, state: "stop" }]);
    for (const s of [typist, typistLaptop, bobPhone, bobLaptop]) s.close();
  });

  it("a start without a refresh expires through the object's alarm: the partner gets stop", async () => {
    const { alice, bob } = await pair(0);
    const typist = await openSocket(alice, { partner: bob });
    const partner = await openSocket(bob, { partner: alice });
    await typist.drain();
    await partner.drain();
    const before = Date.now();
    typist.send({ type: "typing", state: "start" });
    expect(await partner.nextOf("typing")).toEqual({ type: "typing", user_id: alice, state: "start" });
    // The alarm is set for the typing deadline, about 5 s out.
    const alarmAt = await runInDurableObject(roomStub(alice, bob), (_room: ConversationRoom, state) => state.storage.getAlarm());
    expect(alarmAt).toBeGreaterThanOrEqual(before + TYPING_TTL_MS);
    expect(alarmAt).toBeLessThanOrEqual(Date.now() + TYPING_TTL_MS);
    // The deadline lives in storage and an alarm; fire it now instead of sleeping 5 s.
    expect(await runDurableObjectAlarm(roomStub(alice, bob))).toBe(true);
    expect(await partner.nextOf("typing")).toEqual({ type: "typing", user_id: alice, state: "stop" });
    expect(await runDurableObjectAlarm(roomStub(alice, bob))).toBe(false); // nothing left to expire
    typist.close();
    partner.close();
  });

  it("a refresh after the alarm was armed keeps typing alive until its own deadline", async () => {
    const { alice, bob } = await pair(0);
    const typist = await openSocket(alice, { partner: bob });
    const partner = await openSocket(bob, { partner: alice });
    await partner.drain();
    typist.send({ type: "typing", state: "start" });
    await partner.nextOf("typing");
    // Push alice's deadline past the armed alarm, as a refresh a few seconds later would.
    await runInDurableObject(roomStub(alice, bob), (_room: ConversationRoom, state) => {
      const store = new RoomStorage(state.storage);
      const typing = store.typingOf(alice);
      if (!typing) throw new Error("alice is not typing");
      store.setTyping(alice, { ...typing, expiresAt: typing.expiresAt + 60000 });
    });
    expect(await runDurableObjectAlarm(roomStub(alice, bob))).toBe(true);
    expect(await partner.drain()).toEqual([]); // still typing
    expect(await runDurableObjectAlarm(roomStub(alice, bob))).toBe(true); // re-armed for the new deadline
    expect(await partner.nextOf("typing")).toEqual({ type: "typing", user_id: alice, state: "stop" });
    typist.close();
    partner.close();
  });
});

describe("presence", () => {
  it("online when a user's first device joins, offline when their last leaves; closing the typing device ends typing", async () => {
    const { alice, bob } = await pair(0);
    const watcher = await openSocket(alice, { partner: bob });
    expect(await watcher.nextOf("presence")).toEqual({ type: "presence", user_id: bob, online: false });

    const bobPhone = await openSocket(bob, { partner: alice });
    expect(await bobPhone.nextOf("presence")).toEqual({ type: "presence", user_id: alice, online: true });
    expect(await watcher.drain()).toEqual([{ type: "presence", user_id: bob, online: true }]);
    const bobLaptop = await openSocket(bob, { partner: alice });
    expect(await watcher.drain()).toEqual([]); // second device: already online

    // The typing device closes: its typing ends, but bob's phone keeps him online.
    bobLaptop.send({ type: "typing", state: "start" });
    expect(await watcher.nextOf("typing")).toMatchObject({ state: "start" });
    bobLaptop.close();
    expect(await watcher.nextOf("typing")).toEqual({ type: "typing", user_id: bob, state: "stop" });
    await bobPhone.settle();
    expect(await watcher.drain()).toEqual([]); // no presence change

    // A device that was not typing closes: bob's typing on the other device goes on.
    const bobTablet = await openSocket(bob, { partner: alice });
    bobPhone.send({ type: "typing", state: "start" });
    expect(await watcher.nextOf("typing")).toMatchObject({ state: "start" });
    bobTablet.close();
    await bobPhone.settle();
    expect(await watcher.drain()).toEqual([]);

    // The last device closes: typing stops and bob goes offline.
    bobPhone.close();
    expect(await watcher.nextOf("typing")).toEqual({ type: "typing", user_id: bob, state: "stop" });
    expect(await watcher.nextOf("presence")).toEqual({ type: "presence", user_id: bob, online: false });
    watcher.close();
  });
});

describe("joining without since", () => {
  it("a message committed between the client's HTTP fetch and its plain connect is recoverable: sync names it", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const fetched = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    const held = Math.max(...fetched.messages.map((m: { seq: number }) => m.seq));
    expect(held).toBe(1);
    const between = await send(alice, bob, "committed in between");

    const socket = await openSocket(bob, { partner: alice });
    expect(socket.joined).toEqual({ type: "sync", last_seq: 2 }); // above what the client holds: it knows
    expect((await socket.drain()).filter((e) => e.type !== "presence")).toEqual([]); // not sent live: it predates the socket
    // The client refetches what lies above `held`, and gets exactly the message it missed.
    const refetched = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    expect(refetched.messages.filter((m: { seq: number }) => m.seq > held).map((m: { id: string }) => m.id)).toEqual([between.id]);
    // Live events continue after the sync's seq, once each.
    const live = await send(alice, bob, "live");
    expect(await socket.drain()).toEqual([{ type: "message.new", message: expect.objectContaining({ id: live.id, seq: 3 }) }]);
    socket.close();
  });

  it("an empty conversation starts with sync {last_seq: 0}, before presence", async () => {
    const { alice, bob } = await pair(0);
    const socket = await connect(alice, { partner: bob });
    expect(await socket.drain()).toEqual([
      { type: "sync", last_seq: 0 },
      { type: "presence", user_id: bob, online: false },
    ]);
    socket.close();
  });
});

describe("resume with since", () => {
  it("after a disconnect with 3 messages and a read receipt: missed messages in order, the receipt, sync, then live", async () => {
    const { alice, bob } = await pair(10);
    await seedCredits(bob, 10);
    const first = await send(alice, bob, "before 1");
    const second = await send(alice, bob, "before 2");

    const aliceSocket = await openSocket(alice, { partner: bob });
    await aliceSocket.drain();
    const last = await send(bob, alice, "seen live");
    expect((await aliceSocket.nextOf("message.new")).message.seq).toBe(3);
    aliceSocket.close();

    // While alice is away: bob reads her first message, sends 3, and one of them is delivered.
    await as(bob).post("/api/v2/messages/mark-read", { message_ids: [first.id] });
    const missed = [await send(bob, alice, "away 1"), await send(bob, alice, "away 2"), await send(bob, alice, "away 3")];
    await as(alice).post(`/api/v2/messages/mark-delivered/${missed[1].id}`);

    const back = await openSocket(alice, { partner: bob, since: last.seq });
    const events = await back.drain();
    expect(events.map((e) => e.type)).toEqual(["message.new", "message.new", "message.new", "message.status", "sync", "presence"]);
    expect(events.slice(0, 3).map((e) => [e.message.seq, e.message.content, e.message.status])).toEqual([
      [4, "away 1", "sent"],
      [5, "away 2", "delivered"],
      [6, "away 3", "sent"],
    ]);
    expect(events[3]).toMatchObject({ type: "message.status", message_id: first.id, status: "read" });
    expect(events[4]).toEqual({ type: "sync", last_seq: 6 });
    expect(JSON.stringify(events)).not.toContain(second.id); // unchanged while away: not resent

    // Live events follow, once each.
    const live = await send(bob, alice, "live again");
    expect(await back.drain()).toEqual([{ type: "message.new", message: expect.objectContaining({ id: live.id, seq: 7 }) }]);
    back.close();
  });

  it("since=0 replays the whole conversation with current state, and deletions as tombstones", async () => {
    const { alice, bob } = await pair(3);
    const a = await send(alice, bob, "one");
    await send(alice, bob, "two");
    await as(alice).del(`/api/v2/messages/${a.id}`);
    const s = await openSocket(bob, { partner: alice, since: 0 });
    const events = await s.drain();
    expect(events.map((e) => e.type)).toEqual(["message.new", "message.new", "sync", "presence"]);
    expect(events[0]?.message).toMatchObject({ seq: 1, is_deleted: true, content: null });
    expect(events[1]?.message).toMatchObject({ seq: 2, content: "two" });
    expect(events[2]).toEqual({ type: "sync", last_seq: 2 });
    s.close();
  });

  it("up to date: just sync; ahead of the conversation: resync", async () => {
    const { alice, bob } = await pair(2);
    await send(alice, bob);
    const current = await openSocket(alice, { partner: bob, since: 1 });
    expect((await current.drain()).map((e) => e.type)).toEqual(["sync", "presence"]);
    const ahead = await openSocket(alice, { partner: bob, since: 99 });
    const events = await ahead.drain();
    expect(events[0]).toEqual({ type: "resync", reason: expect.any(String), last_seq: 1 });
    current.close();
    ahead.close();
  });

  it("past the event log's window the server answers resync", async () => {
    const { alice, bob } = await pair(2);
    const m = await send(alice, bob);
    await runInDurableObject(roomStub(alice, bob), (_room: ConversationRoom, state) => {
      // As if more than the retained number of changes had happened since message 1.
      state.storage.kv.put("pruned_hw", 5);
    });
    const s = await openSocket(bob, { partner: alice, since: m.seq });
    expect((await s.drain())[0]).toMatchObject({ type: "resync", last_seq: 1 });
    s.close();
  });

  it("the log keeps the last 1000 changes: once a change after `since` is pruned, resume answers resync", async () => {
    const { alice, bob } = await pair(2);
    const first = await send(alice, bob, "one");
    await send(alice, bob, "two");
    const row = await findById(db, first.id);
    if (!row) throw new Error("no row");
    const stub = roomStub(alice, bob);
    const kept = await runInDurableObject(stub, async (room: ConversationRoom, state) => {
      for (let i = 0; i < EVENT_LOG_RETENTION + 5; i++)
        await room.publish(row.conversationId, [{ type: "message.moderated", message: row }]);
      return state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n;
    });
    expect(kept).toBe(EVENT_LOG_RETENTION);
    const stale = await openSocket(bob, { partner: alice, since: 1 });
    expect((await stale.drain())[0]).toMatchObject({ type: "resync", last_seq: 2 });
    // A client starting from nothing needs no log: every message comes with its current state.
    const fresh = await openSocket(bob, { partner: alice, since: 0 });
    expect((await fresh.drain()).map((e) => e.type)).toEqual(["message.new", "message.new", "sync", "presence"]);
    stale.close();
    fresh.close();
  });

  it("a message committed while the replay runs is delivered once, not twice", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "first");
    const sends = Promise.all([send(alice, bob, "racing 1"), send(alice, bob, "racing 2")]);
    const s = await openSocket(bob, { partner: alice, since: 1 });
    await sends;
    const events = await s.drain();
    const seqs = events.filter((e) => e.type === "message.new").map((e) => e.message.seq);
    expect(seqs.sort()).toEqual([2, 3]);
    s.close();
  });
});

describe("reconnect limits", () => {
  it(`a participant reconnecting in a loop is closed with 4029 after ${MAX_JOINS_PER_MINUTE} joins a minute; the partner's live events still arrive`, async () => {
    const { alice, bob } = await pair(10);
    const partner = await openSocket(bob, { partner: alice });
    await partner.drain();
    const loop = (async () => {
      // Bob's join counts for bob only: alice gets all of hers.
      for (let i = 0; i < MAX_JOINS_PER_MINUTE; i++) {
        const s = await connect(alice, { partner: bob, since: 0 });
        expect((await s.nextOf("sync")).type).toBe("sync");
        s.close();
      }
      const refused = await connect(alice, { partner: bob, since: 0 });
      return refused;
    })();
    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(await send(alice, bob, `while looping ${i}`));
    const refused = await loop;
    expect(await refused.closedBy()).toEqual({ code: 4029, reason: expect.stringContaining("per minute") });
    expect(refused.unread).toEqual([]); // refused before anything was read or sent
    const seen = (await partner.drain()).filter((e) => e.type === "message.new").map((e) => e.message.id);
    expect(seen).toEqual(sent.map((m) => m.id));
    // A plain join counts too, and the partner is not affected by alice's limit.
    expect(await (await connect(alice, { partner: bob })).closedBy()).toMatchObject({ code: 4029 });
    const bobLaptop = await openSocket(bob, { partner: alice });
    expect(bobLaptop.joined).toEqual({ type: "sync", last_seq: 5 });

    // A minute later (the window is a sliding minute of join times in the room's storage) alice may join again.
    await runInDurableObject(roomStub(alice, bob), (_room: ConversationRoom, state) => {
      for (const [key, times] of state.storage.kv.list<number[]>({ prefix: "joins:" })) {
        state.storage.kv.put(
          key,
          times.map((at) => at - 61000),
        );
      }
    });
    const back = await openSocket(alice, { partner: bob });
    expect(back.joined).toEqual({ type: "sync", last_seq: 5 });
    for (const s of [partner, bobLaptop, back]) s.close();
  });

  it(`at most ${MAX_SOCKETS_PER_USER} sockets per user in one room: one more is closed with 4029, a closed one frees its place`, async () => {
    const { alice, bob } = await pair(0);
    const open = [];
    for (let i = 0; i < MAX_SOCKETS_PER_USER; i++) open.push(await openSocket(alice, { partner: bob }));
    const extra = await connect(alice, { partner: bob });
    expect(await extra.closedBy()).toEqual({ code: 4029, reason: expect.stringContaining("sockets per conversation") });
    const bobSocket = await openSocket(bob, { partner: alice }); // the other participant has places of their own
    expect(bobSocket.closed).toBeNull();
    const first = open.shift() as TestSocket;
    first.close();
    await first.closedBy();
    open.push(await openSocket(alice, { partner: bob }));
    for (const s of open) expect(s.closed).toBeNull();
    for (const s of [...open, bobSocket]) s.close();
  });
});

describe("hibernation", () => {
  it("a room evicted between two events still fans out to its sockets, and its typing alarm still fires", async () => {
    const { alice, bob } = await pair(5);
    const aliceSocket = await openSocket(alice, { partner: bob });
    const bobSocket = await openSocket(bob, { partner: alice });
    await aliceSocket.drain();
    await bobSocket.drain();
    await send(alice, bob, "before eviction");
    expect((await bobSocket.nextOf("message.new")).message.content).toBe("before eviction");
    expect((await aliceSocket.nextOf("message.new")).message.content).toBe("before eviction");

    bobSocket.send({ type: "typing", state: "start" });
    expect(await aliceSocket.nextOf("typing")).toMatchObject({ state: "start" });
    await evictDurableObject(roomStub(alice, bob)); // in-memory state gone; sockets hibernate

    const m = await send(alice, bob, "after eviction");
    expect(await bobSocket.nextOf("message.new")).toMatchObject({ message: { id: m.id, content: "after eviction" } });
    expect(await aliceSocket.nextOf("message.new")).toMatchObject({ message: { id: m.id } });
    // Who each socket is survived too: bob's read over his socket is bob's.
    bobSocket.send({ type: "read", message_ids: [m.id] });
    expect(await aliceSocket.nextOf("message.status")).toMatchObject({ message_id: m.id, status: "read" });
    expect(await runDurableObjectAlarm(roomStub(alice, bob))).toBe(true);
    expect(await aliceSocket.nextOf("typing")).toEqual({ type: "typing", user_id: bob, state: "stop" });
    const history = await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`));
    expect(history.messages[0]).toMatchObject({ id: m.id, status: "read" });
    aliceSocket.close();
    bobSocket.close();
  });

  it("an inbox evicted between two messages still delivers them with the new count", async () => {
    const { alice, bob } = await pair(5);
    const inbox = await openSocket(bob);
    expect(await inbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 0 });
    await send(alice, bob, "one");
    expect((await inbox.drain()).map((e) => e.type)).toEqual(["message.new", "unread"]);
    await evictDurableObject(env.INBOX.getByName(bob));
    await send(alice, bob, "two");
    expect(await inbox.drain()).toEqual([
      { type: "message.new", message: expect.objectContaining({ content: "two", seq: 2 }) },
      { type: "unread", unread_count: 2 },
    ]);
    inbox.close();
  });
});

describe("token expiry", () => {
  /** As if the token each of `userId`'s sockets in the room was opened with had expired. */
  const expireTokensOf = (userId: string, stub: ReturnType<typeof roomStub>) =>
    runInDurableObject(stub, (_room: ConversationRoom, state) => {
      for (const ws of state.getWebSockets()) {
        const meta = ws.deserializeAttachment() as SocketMeta;
        if (meta.userId === userId) ws.serializeAttachment({ ...meta, expiresAt: Date.now() - 1 });
      }
    });

  it("a socket opened with a token that has since expired is closed (4001) at its next event and gets nothing more", async () => {
    const { alice, bob } = await pair(5);
    const bobPhone = await openSocket(bob, { partner: alice });
    const aliceSocket = await openSocket(alice, { partner: bob });
    await bobPhone.drain();
    await aliceSocket.drain();
    await expireTokensOf(bob, roomStub(alice, bob));
    const bobLaptop = await openSocket(bob, { partner: alice }); // a fresh token: unaffected
    await bobLaptop.drain();

    await send(alice, bob, "after expiry");
    expect((await bobLaptop.nextOf("message.new")).message.content).toBe("after expiry");
    await expect(bobPhone.nextOf("message.new", 1000)).rejects.toThrow(/socket closed \(4001\)/);
    expect(bobPhone.closed).toEqual({ code: 4001, reason: "token expired" });
    bobLaptop.close();
    aliceSocket.close();
  });

  it("a frame from an expired socket changes nothing", async () => {
    const { alice, bob } = await pair(5);
    const m = await send(alice, bob);
    const bobSocket = await openSocket(bob, { partner: alice });
    await bobSocket.drain();
    await expireTokensOf(bob, roomStub(alice, bob));
    bobSocket.send({ type: "read", message_ids: [m.id] });
    await expect(bobSocket.nextOf("message.status", 1000)).rejects.toThrow(/socket closed \(4001\)/);
    const history = await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`));
    expect(history.messages[0]).toMatchObject({ id: m.id, status: "sent", read_at: null });
  });
});

describe("a room created before its small values moved to the key-value store", () => {
  it("carries them over once, on its first construction, drops the old tables, and keeps its event log", async () => {
    const { alice, bob } = await pair(2);
    await send(alice, bob, "one");
    await send(alice, bob, "two");
    const stub = roomStub(alice, bob);
    const conversationId = conversationIdOf(alice, bob);
    const deadline = Date.now() + 60_000;
    // The storage such a room had: its values in `meta`, typing and join times in tables of their own.
    await runInDurableObject(stub, (_room: ConversationRoom, state) => {
      for (const [key] of state.storage.kv.list()) state.storage.kv.delete(key);
      state.storage.sql.exec(`
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE typing (user_id TEXT PRIMARY KEY, socket_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
        CREATE TABLE joins (user_id TEXT NOT NULL, at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS events (eseq INTEGER PRIMARY KEY AUTOINCREMENT, hw INTEGER NOT NULL, type TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL);
      `);
      state.storage.sql.exec(
        "INSERT INTO meta (key, value) VALUES ('conversation_id', ?), ('hw', '2'), ('pruned_hw', '1'), ('closed', '0'), ('typing_alarm_at', ?)",
        conversationId,
        String(deadline),
      );
      state.storage.sql.exec("INSERT INTO typing VALUES (?, 'sock-1', ?)", alice, deadline);
      state.storage.sql.exec("INSERT INTO joins VALUES (?, ?)", alice, Date.now());
      state.storage.sql.exec("INSERT INTO events (hw, type, message_id, seq) VALUES (2, 'message.status', 'msg_x', 1)");
    });
    await evictDurableObject(stub);

    const stored = await runInDurableObject(stub, (_room: ConversationRoom, state) => ({
      kv: Object.fromEntries(state.storage.kv.list()),
      tables: state.storage.sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' ORDER BY name")
        .toArray()
        .map((t) => t.name),
      events: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM events").one().n,
    }));
    expect(stored.kv).toEqual({
      conversation_id: conversationId,
      hw: 2,
      pruned_hw: 1,
      closed: false,
      typing_alarm_at: deadline,
      [`typing:${alice}`]: { socketId: "sock-1", expiresAt: deadline },
    });
    expect(stored.tables).toEqual(["events", "sqlite_sequence"]);
    expect(stored.events).toBe(1);
    // And it works as before: a join syncs at the conversation's newest seq.
    const s = await openSocket(bob, { partner: alice });
    expect(s.joined).toEqual({ type: "sync", last_seq: 2 });
    s.close();
  });
});
