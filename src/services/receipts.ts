import type { Db } from "../db/client";
import { findById, markManyDelivered, markRead } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { nowIso } from "../lib/time";

/**
 * Receipt rules, shared by HTTP and sockets: only the receiver moves a message forward, and the
 * SQL only ever moves it forward (sent → delivered → read).
 */
export async function markDeliveredOne(db: Db, messageId: string, userId: string): Promise<{ message: MessageRow; changed: boolean }> {
  const [changed] = await markManyDelivered(db, [messageId], userId, nowIso());
  if (changed) return { message: changed, changed: true };
  const current = await findById(db, messageId);
  if (!current || (current.receiverId !== userId && current.senderId !== userId)) throw notFound("Message not found");
  if (current.receiverId !== userId) throw new AppError("forbidden", "Only the receiver can mark a message delivered");
  return { message: current, changed: false }; // already delivered or read: idempotent, never backwards
}

export const markReadMany = (db: Db, ids: string[], userId: string, conversationId?: string) =>
  markRead(db, [...new Set(ids)], userId, nowIso(), conversationId);

export const markDeliveredMany = (db: Db, ids: string[], userId: string, conversationId?: string) =>
  markManyDelivered(db, [...new Set(ids)], userId, nowIso(), conversationId);
