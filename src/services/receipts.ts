import type { Db } from "../db/client";
import { findById, markManyDelivered, markRead } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { nowIso } from "../lib/time";
import { publish } from "./realtime";

/**
 * Receipt rules, shared by HTTP and sockets: only the receiver moves a message forward, and the
 * SQL only ever moves it forward (sent → delivered → read).
 */
export async function markDeliveredOne(db: Db, env: Env, messageId: string, userId: string): Promise<MessageRow> {
  const [changed] = await markManyDelivered(db, [messageId], userId, nowIso());
  if (changed) {
    await publish(env, [{ type: "message.status", message: changed }]);
    return changed;
  }
  const current = await findById(db, messageId);
  if (!current || (current.receiverId !== userId && current.senderId !== userId)) throw notFound("Message not found");
  if (current.receiverId !== userId) throw new AppError("forbidden", "Only the receiver can mark a message delivered");
  return current; // already delivered or read: idempotent, never backwards
}

export const markReadMany = (db: Db, ids: string[], userId: string, conversationId?: string) =>
  markRead(db, [...new Set(ids)], userId, nowIso(), conversationId);

export const markDeliveredMany = (db: Db, ids: string[], userId: string, conversationId?: string) =>
  markManyDelivered(db, [...new Set(ids)], userId, nowIso(), conversationId);

/**
 * `ack` / `read` of many messages (HTTP mark-read, inbox sockets): the changed rows fan out to their
 * rooms, and a read refreshes the reader's unread count. An inbox refreshes itself instead of
 * calling itself, so it passes `refreshReaderInbox: false`.
 */
export async function applyReceipts(
  db: Db,
  env: Env,
  kind: "ack" | "read",
  ids: string[],
  userId: string,
  { refreshReaderInbox = true } = {},
): Promise<MessageRow[]> {
  const changed = kind === "ack" ? await markDeliveredMany(db, ids, userId) : await markReadMany(db, ids, userId);
  if (changed.length) {
    const unreadChanged = kind === "read" && refreshReaderInbox ? [userId] : [];
    await publish(
      env,
      changed.map((message) => ({ type: "message.status", message })),
      unreadChanged,
    );
  }
  return changed;
}
