/**
 * D1's `socket_presence`: each realtime object counts its sockets there, and the send reads it in its
 * own transaction, so a new message wakes only the room and inboxes that hold a socket. What matters
 * to a user: nothing is missed by a socket that joins while messages are being sent, a stale count
 * heals, and nobody's storage is touched for a conversation nobody has open.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { conversationIdOf } from "../src/lib/ids";
import { pair, seedCredits, send } from "./helpers";
import { openSocket } from "./sockets";

const socketsIn = async (scope: string) =>
  (await env.DB.prepare("SELECT sockets FROM socket_presence WHERE scope = ?").bind(scope).first<{ sockets: number }>())?.sockets ?? null;

/** Polls until `read` answers `want` (the count after a close is written in the background). */
async function eventually<T>(read: () => Promise<T>, want: T, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got = await read();
  while (got !== want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    got = await read();
  }
  expect(got).toBe(want);
}

const objectIds = async (ns: DurableObjectNamespace) => (await listDurableObjectIds(ns)).map((id) => id.toString());

describe("socket_presence", () => {
  it("a message in a conversation nobody has open wakes neither its room nor either inbox; a socket opened later has it", async () => {
    const { alice, bob } = await pair(3);
    const m = await send(alice, bob, "nobody is here");
    const conversationId = conversationIdOf(alice, bob);
    expect(await objectIds(env.CONVERSATION_ROOM)).not.toContain(env.CONVERSATION_ROOM.idFromName(conversationId).toString());
    const inboxes = await objectIds(env.INBOX);
    for (const user of [alice, bob]) expect(inboxes).not.toContain(env.INBOX.idFromName(user).toString());
    expect(await socketsIn(conversationId)).toBeNull();

    const room = await openSocket(bob, { partner: alice });
    expect(room.joined).toEqual({ type: "sync", last_seq: m.seq });
    const inbox = await openSocket(bob);
    expect(inbox.joined).toMatchObject({ conversations: [{ partner_id: alice, last_seq: m.seq, unread_count: 1 }] });
    room.close();
    inbox.close();
  });

  it("an object is present from its first socket (before it syncs) until its last one closed, per room and per inbox", async () => {
    const { alice, bob } = await pair(0);
    const conversationId = conversationIdOf(alice, bob);
    const phone = await openSocket(alice, { partner: bob });
    expect(await socketsIn(conversationId)).toBe(1);
    const [laptop, partner, inbox, inboxLaptop] = await Promise.all([
      openSocket(alice, { partner: bob }),
      openSocket(bob, { partner: alice }),
      openSocket(alice),
      openSocket(alice),
    ]);
    expect(await socketsIn(conversationId)).toBe(1);
    expect(await socketsIn(`inbox:${alice}`)).toBe(1);
    expect(await socketsIn(`inbox:${bob}`)).toBeNull();

    // Closing some keeps it present; a message still reaches the sockets left.
    phone.close();
    inbox.close();
    await phone.closedBy();
    await inbox.closedBy();
    await partner.drain();
    await inboxLaptop.drain();
    await seedCredits(bob, 1);
    await send(bob, alice, "still here?");
    expect((await laptop.nextOf("message.new")).message.content).toBe("still here?");
    expect((await inboxLaptop.nextOf("message.new")).message.content).toBe("still here?");
    expect(await socketsIn(conversationId)).toBe(1);
    expect(await socketsIn(`inbox:${alice}`)).toBe(1);

    laptop.close();
    partner.close();
    inboxLaptop.close();
    await eventually(() => socketsIn(conversationId), 0);
    await eventually(() => socketsIn(`inbox:${alice}`), 0);
  });

  it("a socket that joins while messages are being sent misses none: each is in its sync or arrives live, once", async () => {
    const { alice, bob } = await pair(40);
    const sending = Promise.all(Array.from({ length: 30 }, (_, i) => send(alice, bob, `m${i}`)));
    const [room, inbox] = await Promise.all([openSocket(bob, { partner: alice }), openSocket(bob)]);
    await sending;
    const roomLive = (await room.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq as number);
    const inboxLive = (await inbox.drain()).filter((e) => e.type === "message.new").map((e) => e.message.seq as number);
    const all = Array.from({ length: 30 }, (_, i) => i + 1);
    // The room: live messages in order, gapless after the sync.
    const roomSynced = room.joined?.last_seq as number;
    expect(roomLive).toEqual(all.filter((seq) => seq > roomSynced));
    // The inbox: its sync's last seq for the partner, then every later one live (in any order).
    const listed = (inbox.joined?.conversations ?? []) as { partner_id: string; last_seq: number }[];
    const inboxSynced = listed.find((c) => c.partner_id === alice)?.last_seq ?? 0;
    expect([...inboxLive].sort((a, b) => a - b)).toEqual(all.filter((seq) => seq > inboxSynced));
    room.close();
    inbox.close();
  });

  it("a count that overstates (sockets dropped without a close event) heals at the first message that wakes an object for nothing", async () => {
    const { alice, bob } = await pair(3);
    const conversationId = conversationIdOf(alice, bob);
    const room = await openSocket(bob, { partner: alice });
    const inbox = await openSocket(bob);
    room.close();
    inbox.close();
    await eventually(() => socketsIn(conversationId), 0);
    await eventually(() => socketsIn(`inbox:${bob}`), 0);
    // As a restart would leave it: the rows still count a socket each.
    await env.DB.prepare("UPDATE socket_presence SET sockets = 1 WHERE scope IN (?, ?)").bind(conversationId, `inbox:${bob}`).run();
    await send(alice, bob, "wakes both");
    await eventually(() => socketsIn(conversationId), 0);
    await eventually(() => socketsIn(`inbox:${bob}`), 0);
    // And a socket opened now is counted again and gets the next message live.
    const back = await openSocket(bob, { partner: alice });
    expect(await socketsIn(conversationId)).toBe(1);
    await send(alice, bob, "live");
    expect((await back.nextOf("message.new")).message.content).toBe("live");
    back.close();
  });
});
