import { waitUntil } from "cloudflare:workers";
import type { SendReach } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { logError } from "../lib/log";
import type { RoomEvent } from "../schemas/events";
import { notifyOffline } from "./push";

export const roomOf = (env: Env, conversationId: string) => env.CONVERSATION_ROOM.getByName(conversationId);
export const inboxOf = (env: Env, userId: string) => env.INBOX.getByName(userId);

/**
 * Fan-out after a D1 commit. The write already stands, so a failed notification is logged and
 * swallowed: clients catch up through `since` on their next connection (the room replays from D1).
 * `waitUntil` keeps the fan-out running if the client that made the change hangs up meanwhile.
 */
async function settle<T extends unknown[]>(work: { [K in keyof T]: Promise<T[K]> }, what: string): Promise<{ [K in keyof T]?: T[K] }> {
  const all = Promise.allSettled(work);
  waitUntil(all);
  const results = await all;
  for (const r of results) if (r.status === "rejected") logError("realtime.publish_failed", r.reason, { what });
  return results.map((r) => (r.status === "fulfilled" ? r.value : undefined)) as { [K in keyof T]?: T[K] };
}

/** Inboxes show message lists too: a deletion or a moderation must reach them, not only the room. */
const forInbox = (e: RoomEvent) => e.type === "message.deleted" || e.type === "message.moderated";

/** Room events, grouped per conversation, plus the inboxes they concern (list changes, unread counts). */
export async function publish(env: Env, events: RoomEvent[], unreadChangedFor: Iterable<string> = []): Promise<void> {
  const byRoom = new Map<string, RoomEvent[]>();
  for (const e of events) byRoom.set(e.message.conversationId, [...(byRoom.get(e.message.conversationId) ?? []), e]);
  const byInbox = new Map<string, RoomEvent[]>([...new Set(unreadChangedFor)].map((userId) => [userId, []]));
  for (const e of events.filter(forInbox)) {
    for (const userId of [e.message.senderId, e.message.receiverId]) byInbox.set(userId, [...(byInbox.get(userId) ?? []), e]);
  }
  const recount = new Set(unreadChangedFor);
  await settle(
    [
      ...[...byRoom].map(([conversationId, list]) => roomOf(env, conversationId).publish(conversationId, list)),
      ...[...byInbox].map(([userId, list]) => inboxOf(env, userId).changed(list, recount.has(userId))),
    ],
    events[0]?.type ?? "unread",
  );
}

/**
 * A new message, announced in the background: the sender's answer waits for the D1 commit only, not
 * for the room and the inboxes. Order does not depend on it: the room sends new messages in seq order
 * and fills a gap from D1 (a notification overtaken by a later one, or lost), so nothing is reordered,
 * lost or sent twice. It starts on the next turn of the event loop: building three RPCs takes about
 * 0.4 ms of the one thread, which would otherwise come before the sender's response is written.
 */
export function announceNewMessage(env: Env, m: MessageRow, reach: SendReach): void {
  // Nobody to tell and nothing to push (most sends): nothing is scheduled at all.
  if (!reach.roomSockets && !reach.receiverInboxSockets && !reach.senderInboxSockets && !reach.receiverMayPush) return;
  const work: Promise<void> = nextTurn()
    .then(() => publishNewMessage(env, m, reach))
    .finally(() => announcing.delete(work));
  announcing.add(work);
  waitUntil(work);
}

const nextTurn = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Announcements under way in this isolate. */
const announcing = new Set<Promise<void>>();

/** Resolves once no announcement is under way here (tests wait for it before asserting what sockets and queues got). */
export async function announcementsSettled(): Promise<void> {
  while (announcing.size) await Promise.all(announcing);
}

/**
 * A new message: its room, and both participants' inboxes (the sender's other devices, the receiver's
 * count), each only if it holds a socket as the send's own transaction read (`reach`, D1's
 * `socket_presence`): most messages reach objects nobody has open, and waking one costs more than
 * the send's own work. When neither the room nor the inbox had a live socket of the receiver (or
 * could not say), a push job is queued, unless the receiver has no push device (read in the same
 * transaction, or known by their inbox).
 */
export async function publishNewMessage(env: Env, m: MessageRow, reach: SendReach): Promise<void> {
  const nobody = Promise.resolve(undefined);
  const [room, receiverInbox] = await settle(
    [
      reach.roomSockets > 0 ? roomOf(env, m.conversationId).publish(m.conversationId, [{ type: "message.new", message: m }]) : nobody,
      reach.receiverInboxSockets > 0 ? inboxOf(env, m.receiverId).newMessage(m, true) : nobody,
      reach.senderInboxSockets > 0 ? inboxOf(env, m.senderId).newMessage(m) : nobody,
    ],
    "message.new",
  );
  if (room?.connected.includes(m.receiverId) || receiverInbox?.delivered) return;
  // Whether the receiver has a device: their inbox's answer when it was asked (no answer errs towards
  // a push: a missed notification is worse than a spare job), else what the send's transaction read.
  const mayPush = reach.receiverInboxSockets > 0 ? (receiverInbox?.mayPush ?? true) : reach.receiverMayPush;
  if (!mayPush) return;
  await settle([notifyOffline(env, m)], "push.enqueue");
}

/** A conversation leaving or coming back to one user's list (block, unblock, unmatch). */
export type ListChange = { userId: string; partnerId: string; change: "removed" | "restored"; reason?: "blocked" | "unmatched" };

/**
 * After a block, an unblock or an unmatch commits: the room re-reads how the pair stands (closing
 * both users' sockets and refusing new ones while either blocks the other or they unmatched), and
 * each named inbox drops (or gets back) the conversation and recounts its unread messages.
 */
export async function pairChanged(env: Env, conversationId: string, lists: ListChange[]): Promise<void> {
  await settle(
    [
      roomOf(env, conversationId).safetyChanged(conversationId),
      ...lists.map((l) => inboxOf(env, l.userId).partnerChanged(l.partnerId, l.change, l.reason ?? null)),
    ],
    "safety.pair_changed",
  );
}

/**
 * After a suspension (or its end) commits: the user's inbox remembers it, closes its own sockets and
 * those of every room the user ever opened (D1 `room_visits`), and refuses new ones.
 * `untilMs` null lifts it; Infinity is "until lifted".
 */
export async function suspensionChanged(env: Env, userId: string, untilMs: number | null): Promise<void> {
  await settle([inboxOf(env, userId).suspensionChanged(userId, untilMs)], "safety.suspension_changed");
}
