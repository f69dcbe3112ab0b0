/**
 * What holds when fan-out goes wrong: a notification that never reaches the room, one that arrives
 * late or out of order. D1 is the truth; sockets and resume must end up agreeing with it.
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { findById } from "../src/db/messages";
import type { MessageRow } from "../src/db/schema";
import type { ConversationRoom } from "../src/durable-objects/conversation-room";
import { as as asUser, BASE, createAdmin, db, json, pair, send, tokenFor } from "./helpers";
import { openSocket, roomStub } from "./sockets";

/** The Worker with every conversation room unreachable: D1 writes still commit, fan-out fails. */
const roomsDown = {
  ...env,
  CONVERSATION_ROOM: {
    getByName: () => ({
      publish: async () => {
        throw new Error("room unreachable (test)");
      },
    }),
  },
} as unknown as Env;

async function callWithRoomsDown(userId: string, method: string, path: string, body?: unknown) {
  return app.request(
    `${BASE}${path}`,
    {
      method,
      headers: { authorization: `Bearer ${await tokenFor(userId)}`, ...(body !== undefined && { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    roomsDown,
  );
}

/** A message committed while its room was unreachable: stored, announced to no one. Its row. */
async function sendUnannounced(from: string, to: string, content: string): Promise<MessageRow> {
  const res = await callWithRoomsDown(from, "POST", "/api/v2/messages/send", { receiver_id: to, content });
  expect(res.status).toBe(201);
  const row = await findById(db, (await json(res)).id);
  if (!row) throw new Error("no row");
  return row;
}

/** The room finally hears of a message, as a late notification would tell it. */
const announceLate = (m: MessageRow) => roomStub(m.senderId, m.receiverId).publish(m.conversationId, [{ type: "message.new", message: m }]);

describe("a notification that never reached the room", () => {
  it("the HTTP writes stand, and resume replays the receipt, the deletion and the moderation from D1", async () => {
    const { alice, bob } = await pair(5);
    const [m1, m2, m3] = [await send(alice, bob, "one"), await send(alice, bob, "two"), await send(alice, bob, "three")];
    const aliceSocket = await openSocket(alice, { partner: bob, since: 3 });
    const bobSocket = await openSocket(bob, { partner: alice, since: 3 });
    expect((await aliceSocket.drain()).map((e) => e.type)).toEqual(["sync", "presence", "presence"]);
    aliceSocket.close();
    bobSocket.close();

    // While both are away, every change's notification fails.
    const read = await callWithRoomsDown(bob, "POST", "/api/v2/messages/mark-read", { message_ids: [m1.id] });
    expect(read.status).toBe(200);
    expect(await json(read)).toEqual({ success: true, marked_count: 1 });
    expect((await callWithRoomsDown(alice, "DELETE", `/api/v2/messages/${m2.id}`)).status).toBe(200);
    const moderator = await createAdmin("moderator");
    const blocked = await callWithRoomsDown(moderator, "POST", `/api/admin/messages/${m3.id}/moderate`, {
      moderation_status: "blocked",
      reason: "spam",
    });
    expect(blocked.status).toBe(200);
    expect(await findById(db, m1.id)).toMatchObject({ status: "read" });
    expect(await findById(db, m2.id)).toMatchObject({ isDeleted: true });

    const alice2 = await openSocket(alice, { partner: bob, since: 3 });
    const replay = (await alice2.drain()).filter((e) => e.type !== "presence");
    expect(replay).toEqual([
      { type: "message.status", message_id: m1.id, status: "read", delivered_at: expect.any(String), read_at: expect.any(String) },
      { type: "message.deleted", message_id: m2.id },
      {
        type: "message.moderated",
        message_id: m3.id,
        moderation_status: "blocked",
        message: expect.objectContaining({ content: "three" }),
      },
      { type: "sync", last_seq: 3 },
    ]);
    // The receiver's replay of the blocked message hides its content.
    const bob2 = await openSocket(bob, { partner: alice, since: 3 });
    const bobReplay = await bob2.drain();
    expect(bobReplay.find((e) => e.type === "message.moderated")).toMatchObject({
      message_id: m3.id,
      moderation_status: "blocked",
      message: { content: null },
    });
    alice2.close();
    bob2.close();
  });

  it("a message whose notification was lost still reaches live sockets, before the next one and in seq order", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const bobSocket = await openSocket(bob, { partner: alice });
    await bobSocket.drain();

    const two = await sendUnannounced(alice, bob, "two");
    expect(await bobSocket.drain()).toEqual([]);
    await send(alice, bob, "three");
    const events = await bobSocket.drain();
    expect(events.map((e) => [e.type, e.message.seq, e.message.content])).toEqual([
      ["message.new", 2, "two"],
      ["message.new", 3, "three"],
    ]);

    // The lost notification turning up late delivers nothing twice.
    await announceLate(two);
    expect(await bobSocket.drain()).toEqual([]);
    bobSocket.close();
  });
});

describe("a room nobody has open", () => {
  /** The room's stored hw, and a fresh instance's view of it (as after an eviction: memory gone, storage kept). */
  const storedHw = (alice: string, bob: string) =>
    runInDurableObject(
      roomStub(alice, bob),
      async (_: ConversationRoom, state: DurableObjectState) => state.storage.kv.get<number>("hw") ?? 0,
    );
  const forget = (alice: string, bob: string) =>
    runInDurableObject(roomStub(alice, bob), async (room: ConversationRoom) => {
      Object.assign(room as unknown as Record<string, unknown>, { hwCache: undefined, hwStored: undefined });
    });

  it("writes nothing for its messages, and a socket opened after it woke gets the next ones in order, once", async () => {
    const { alice, bob } = await pair(10);
    const first = await openSocket(bob, { partner: alice });
    await send(alice, bob, "one");
    expect((await first.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq)).toEqual([1]);
    first.close();
    await first.closedBy();
    expect(await storedHw(alice, bob)).toBe(0); // a message is not a storage write, socket or not

    for (const text of ["two", "three", "four"]) await send(alice, bob, text);
    expect(await storedHw(alice, bob)).toBe(0); // no socket: hw moved in memory only
    await forget(alice, bob);

    const later = await openSocket(bob, { partner: alice });
    expect(later.joined).toEqual({ type: "sync", last_seq: 4 });
    expect(await storedHw(alice, bob)).toBe(4); // caught up with D1 by the join
    await send(alice, bob, "five");
    await send(alice, bob, "six");
    expect((await later.drain()).filter((e) => e.type === "message.new").map((e) => [e.message.seq, e.message.content])).toEqual([
      [5, "five"],
      [6, "six"],
    ]);
    // With a socket open the messages write nothing either: the socket's attachment records how far it got.
    expect(await storedHw(alice, bob)).toBe(4);
    await forget(alice, bob);
    await send(alice, bob, "seven");
    expect((await later.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq)).toEqual([7]);
    later.close();
  });

  it("after a wake, late announcements still reach the socket that lacks them, and only that one", async () => {
    const { alice, bob } = await pair(10);
    await send(alice, bob, "one");
    const older = await openSocket(bob, { partner: alice });
    expect(older.joined).toEqual({ type: "sync", last_seq: 1 });
    const two = await sendUnannounced(alice, bob, "two");
    const three = await sendUnannounced(alice, bob, "three");
    // A second socket joins past them (its sync names seq 3), then the room is evicted, memory gone.
    const newer = await openSocket(alice, { partner: bob });
    expect(newer.joined).toEqual({ type: "sync", last_seq: 3 });
    await Promise.all([older.drain(), newer.drain()]);
    await forget(alice, bob);
    await announceLate(two);
    await announceLate(three);
    expect((await older.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq)).toEqual([2, 3]);
    expect((await newer.drain()).filter((e) => e.type === "message.new")).toEqual([]);
    await send(alice, bob, "four");
    for (const s of [older, newer])
      expect((await s.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq)).toEqual([4]);
    older.close();
    newer.close();
  });

  it("a socket resuming after the room woke with an older hw gets every message after its seq, once, in order", async () => {
    const { alice, bob } = await pair(10);
    for (const text of ["one", "two", "three"]) await send(alice, bob, text);
    await forget(alice, bob);
    const resumed = await openSocket(bob, { partner: alice, since: 1 });
    const replay = (await resumed.drain()).filter((e) => e.type === "message.new" || e.type === "sync");
    expect(replay.map((e) => (e.type === "sync" ? ["sync", e.last_seq] : [e.message.seq]))).toEqual([[2], [3], ["sync", 3]]);
    await send(alice, bob, "four");
    expect((await resumed.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq)).toEqual([4]);
    resumed.close();
  });
});

describe("late and lost notifications on live sockets", () => {
  it("a socket opened without since names, in its first sync, a message committed before it connected but announced after", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const late = await sendUnannounced(alice, bob, "two");
    const bobSocket = await openSocket(bob, { partner: alice });
    expect(bobSocket.joined).toEqual({ type: "sync", last_seq: 2 });
    await bobSocket.drain();
    await announceLate(late); // at or below the socket's sync: the client already knows to fetch it
    expect(await bobSocket.drain()).toEqual([]);
    // What a client holding seq 1 does on seeing last_seq 2: resume from 1 (or refetch over HTTP).
    const resumed = await openSocket(bob, { partner: alice, since: 1 });
    expect((await resumed.drain()).filter((e) => e.type !== "presence")).toEqual([
      { type: "message.new", message: expect.objectContaining({ id: late.id, seq: 2, content: "two" }) },
      { type: "sync", last_seq: 2 },
    ]);
    await send(alice, bob, "three");
    for (const s of [bobSocket, resumed]) expect((await s.drain()).map((e) => [e.type, e.message?.seq])).toEqual([["message.new", 3]]);
    bobSocket.close();
    resumed.close();
  });

  it("a receipt arriving before its message's announcement announces it first (with the newer state), once", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const aliceSocket = await openSocket(alice, { partner: bob });
    await aliceSocket.drain();
    const sent = await sendUnannounced(alice, bob, "two");
    await asUser(bob).post("/api/v2/messages/mark-read", { message_ids: [sent.id] });
    expect(await aliceSocket.drain()).toEqual([
      { type: "message.new", message: expect.objectContaining({ seq: 2, status: "read" }) },
      { type: "message.status", message_id: sent.id, status: "read", delivered_at: expect.any(String), read_at: expect.any(String) },
    ]);
    await announceLate(sent); // the stale announcement
    expect(await aliceSocket.drain()).toEqual([]);
    aliceSocket.close();
  });

  it("a gap the room cannot fill (D1 failing) sends resync and keeps every socket open", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const bobSocket = await openSocket(bob, { partner: alice });
    await bobSocket.drain();
    await sendUnannounced(alice, bob, "two");
    const row = await sendUnannounced(alice, bob, "three");
    await runInDurableObject(roomStub(alice, bob), async (room: ConversationRoom) => {
      const holder = room as unknown as { env: Env };
      const real = holder.env;
      holder.env = {
        ...real,
        DB: {
          prepare: () => {
            throw new Error("D1 down (test)");
          },
        } as unknown as D1Database,
      };
      try {
        await room.publish(row.conversationId, [{ type: "message.new", message: row }]);
      } finally {
        holder.env = real;
      }
    });
    expect(await bobSocket.drain()).toEqual([{ type: "resync", reason: expect.any(String), last_seq: 3 }]);
    expect(bobSocket.closed).toBeNull();
    await send(alice, bob, "four");
    expect((await bobSocket.nextOf("message.new")).message.seq).toBe(4);
    bobSocket.close();
  });
});

describe("late snapshots", () => {
  it("a delivered snapshot arriving after the read one is dropped: receipts never move back on a socket", async () => {
    const { alice, bob } = await pair(5);
    const m = await send(alice, bob);
    const aliceSocket = await openSocket(alice, { partner: bob });
    await aliceSocket.drain();
    await asUser(bob).post(`/api/v2/messages/mark-delivered/${m.id}`);
    const delivered = await findById(db, m.id);
    await asUser(bob).post("/api/v2/messages/mark-read", { message_ids: [m.id] });
    expect((await aliceSocket.drain()).map((e) => e.status)).toEqual(["delivered", "read"]);
    if (!delivered) throw new Error("no row");

    await roomStub(alice, bob).publish(delivered.conversationId, [{ type: "message.status", message: delivered }]);
    expect(await aliceSocket.drain()).toEqual([]);
    aliceSocket.close();
  });
});

describe("inbox sockets see list changes", () => {
  it("a blocked message reaches both inboxes at once (hidden from the receiver), a deletion too", async () => {
    const { alice, bob } = await pair(5);
    const m = await send(alice, bob, "rude words");
    const other = await send(alice, bob, "second");
    const bobInbox = await openSocket(bob);
    const aliceInbox = await openSocket(alice);
    await bobInbox.drain();
    await aliceInbox.drain();

    const moderator = await createAdmin("moderator");
    const res = await asUser(moderator).post(`/api/admin/messages/${m.id}/moderate`, { moderation_status: "blocked", reason: "abuse" });
    expect(res.status).toBe(200);
    expect(await bobInbox.drain()).toEqual([
      { type: "message.moderated", message_id: m.id, moderation_status: "blocked", message: expect.objectContaining({ content: null }) },
      { type: "unread", unread_count: 1 },
    ]);
    expect(await aliceInbox.drain()).toEqual([
      {
        type: "message.moderated",
        message_id: m.id,
        moderation_status: "blocked",
        message: expect.objectContaining({ content: "rude words" }),
      },
    ]);

    expect((await asUser(alice).del(`/api/v2/messages/${other.id}`)).status).toBe(200);
    expect(await bobInbox.drain()).toEqual([
      { type: "message.deleted", message_id: other.id },
      { type: "unread", unread_count: 0 },
    ]);
    expect(await aliceInbox.drain()).toEqual([{ type: "message.deleted", message_id: other.id }]);
    bobInbox.close();
    aliceInbox.close();
  });
});

describe("moderation undone while away", () => {
  it("an unblock (back to pending) whose notification was lost is replayed on resume with the content", async () => {
    const { alice, bob } = await pair(5);
    const m = await send(alice, bob, "borderline");
    await send(alice, bob, "later");
    const moderator = await createAdmin("moderator");
    await asUser(moderator).post(`/api/admin/messages/${m.id}/moderate`, { moderation_status: "blocked", reason: "review" });
    const bobSocket = await openSocket(bob, { partner: alice, since: 2 });
    await bobSocket.drain();
    bobSocket.close();

    const unblocked = await callWithRoomsDown(moderator, "POST", `/api/admin/messages/${m.id}/moderate`, { moderation_status: "pending" });
    expect(unblocked.status).toBe(200);
    const back = await openSocket(bob, { partner: alice, since: 2 });
    const replay = (await back.drain()).filter((e) => e.type !== "presence");
    expect(replay).toEqual([
      {
        type: "message.moderated",
        message_id: m.id,
        moderation_status: "pending",
        message: expect.objectContaining({ content: "borderline" }),
      },
      { type: "sync", last_seq: 2 },
    ]);
    back.close();
  });
});

describe("deleted messages are never announced", () => {
  it("a hard delete of a message the room never announced sends only message.deleted, never its content", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const bobSocket = await openSocket(bob, { partner: alice });
    const aliceSocket = await openSocket(alice, { partner: bob });
    for (const s of [bobSocket, aliceSocket]) await s.drain();
    const secret = await sendUnannounced(alice, bob, "a secret the moderator removes");
    const boss = await createAdmin("super_admin");
    const res = await asUser(boss).del(`/api/admin/messages/${secret.id}/hard-delete`);
    expect(res.status).toBe(200);
    for (const s of [bobSocket, aliceSocket]) expect(await s.drain()).toEqual([{ type: "message.deleted", message_id: secret.id }]);
    // The next message follows without bringing the deleted one back (its seq stays unused).
    await send(alice, bob, "three");
    for (const s of [bobSocket, aliceSocket]) {
      const events = await s.drain();
      expect(events.map((e) => [e.type, e.message?.seq])).toEqual([["message.new", 3]]);
      expect(JSON.stringify(events)).not.toContain("secret");
    }
    // Its late announcement sends nothing either.
    await announceLate(secret);
    expect(await bobSocket.drain()).toEqual([]);
    bobSocket.close();
    aliceSocket.close();
  });

  it("a gap filled from D1 skips a message the room saw deleted, and a soft-deleted one is only a deletion", async () => {
    const { alice, bob } = await pair(5);
    await send(alice, bob, "one");
    const bobSocket = await openSocket(bob, { partner: alice });
    await bobSocket.drain();
    const removed = await sendUnannounced(alice, bob, "removed by its sender");
    expect((await asUser(alice).del(`/api/v2/messages/${removed.id}`)).status).toBe(200);
    expect(await bobSocket.drain()).toEqual([{ type: "message.deleted", message_id: removed.id }]);
    await send(alice, bob, "three");
    expect((await bobSocket.drain()).map((e) => [e.type, e.message?.seq])).toEqual([["message.new", 3]]);
    bobSocket.close();
  });
});
