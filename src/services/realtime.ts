import type { MessageRow } from "../db/schema";
import { logError } from "../lib/log";
import type { RoomEvent } from "../schemas/events";

export const roomOf = (env: Env, conversationId: string) => env.CONVERSATION_ROOM.getByName(conversationId);
export const inboxOf = (env: Env, userId: string) => env.INBOX.getByName(userId);

/**
 * Fan-out after a D1 commit. The write already stands, so a failed notification is logged and
 * swallowed: clients catch up through `since` on their next connection.
 */
async function settle(work: Promise<unknown>[], what: string): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === "rejected") logError("realtime.publish_failed", r.reason, { what });
}

/** Room events, grouped per conversation, plus the inboxes whose unread count may have moved. */
export async function publish(env: Env, events: RoomEvent[], unreadChangedFor: Iterable<string> = []): Promise<void> {
  const byRoom = new Map<string, RoomEvent[]>();
  for (const e of events) byRoom.set(e.message.conversationId, [...(byRoom.get(e.message.conversationId) ?? []), e]);
  await settle(
    [
      ...[...byRoom].map(([conversationId, list]) => roomOf(env, conversationId).publish(conversationId, list)),
      ...[...new Set(unreadChangedFor)].map((userId) => inboxOf(env, userId).refreshUnread()),
    ],
    events[0]?.type ?? "unread",
  );
}

/** A new message: its room, and both participants' inboxes (the sender's other devices, the receiver's count). */
export async function publishNewMessage(env: Env, m: MessageRow): Promise<void> {
  await settle(
    [
      roomOf(env, m.conversationId).publish(m.conversationId, [{ type: "message.new", message: m }]),
      inboxOf(env, m.receiverId).newMessage(m),
      inboxOf(env, m.senderId).newMessage(m),
    ],
    "message.new",
  );
}
