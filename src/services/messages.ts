import { z } from "@hono/zod-openapi";
import { messageCostOf } from "../config";
import type { Db } from "../db/client";
import {
  type ConversationRow,
  conversationPage,
  findByClientId,
  findById,
  historyPage,
  insertMessageWithCharge,
  softDelete,
  statsFor,
  unreadCount,
} from "../db/messages";
import type { MessageRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { decodeCursor } from "../lib/cursor";
import { conversationIdOf, newId } from "../lib/ids";
import { pageOf } from "../lib/paging";
import { nowIso } from "../lib/time";
import type { SendMessageBody } from "../schemas/messages";
import { attachmentTaken, resolveAttachments } from "./attachments";
import { announceNewMessage, publish } from "./realtime";
import { assertConversationVisible, refusalError, sendGuardFor } from "./safety";

export type Deps = { db: Db; env: Env };
export type Page = { limit: number; skip: number; before?: string };

const notYourself = (field: string, what: string) =>
  new AppError("validation_failed", `You cannot ${what} yourself`, { [field]: [`must not be your own user id`] });

/**
 * A send whose `client_message_id` is already taken: a true retry gets the original (200, no charge);
 * the same id with another receiver or content is a client bug that must not swallow a new message.
 * Only what the contract names is compared: a retry may legitimately carry fresh metadata.
 */
function replayOf(original: MessageRow, body: SendMessageBody): { message: MessageRow; replayed: true } {
  const differs = [
    ...(original.receiverId !== body.receiver_id ? ["receiver_id"] : []),
    ...(original.content !== body.content ? ["content"] : []),
  ];
  if (differs.length) {
    throw new AppError("conflict", "This client_message_id was already used for another message", {
      client_message_id: [`already used for a message with another ${differs.join(" and ")}`],
      conflicting_fields: differs,
      message_id: original.id,
    });
  }
  return { message: original, replayed: true };
}

export async function sendMessage(
  { db, env }: Deps,
  senderId: string,
  body: SendMessageBody,
): Promise<{ message: MessageRow; replayed: boolean }> {
  if (body.receiver_id === senderId) throw notYourself("receiver_id", "send a message to");
  const cost = messageCostOf(env);
  const now = nowIso();
  const attached = await resolveAttachments(db, senderId, body.message_type, body.attachments, now);
  const outcome = await insertMessageWithCharge(
    db,
    {
      id: newId("msg"),
      conversationId: conversationIdOf(senderId, body.receiver_id),
      senderId,
      receiverId: body.receiver_id,
      content: body.content,
      messageType: body.message_type,
      attachments: attached.attachments,
      metadata: body.metadata,
      creditsCost: cost,
      clientMessageId: body.client_message_id ?? null,
      createdAt: now,
      updatedAt: now,
    },
    { cost, transactionId: newId("txn") },
    sendGuardFor(
      env,
      senderId,
      { receiverId: body.receiver_id, content: body.content, messageType: body.message_type, attachmentCount: body.attachments.length },
      now,
    ),
    attached.claim,
  );
  switch (outcome.kind) {
    case "sent":
      announceNewMessage(env, outcome.message, outcome.reach);
      return { message: outcome.message, replayed: false };
    case "insufficient":
      throw new AppError("insufficient_credits", `Sending a message costs ${cost} credit(s)`, { required: cost });
    case "duplicate": {
      // Exactly-once: the retry (or the loser of a race) gets the original, uncharged; a conflict gets 409.
      const original = await findByClientId(db, senderId, body.client_message_id ?? "");
      // Hard-deleted between our insert and this read: the id is free again, so a retry will go through.
      if (!original) throw new AppError("conflict", "The message with this client_message_id was just removed; send again");
      return replayOf(original, body);
    }
    case "attachment_taken":
      throw attachmentTaken();
    case "refused":
      throw refusalError(outcome.reason, env);
  }
}

const SeqCursor = z.object({ s: z.number().int().positive() });
const ActivityCursor = z.object({ a: z.string().min(1), p: z.string().min(1) });

/** One page of a conversation by seq, newest first: users' history and the admin view share it. */
export async function conversationPageBySeq(db: Db, conversationId: string, page: Page) {
  const beforeSeq = page.before ? decodeCursor(page.before, SeqCursor).s : undefined;
  const rows = await historyPage(db, conversationId, { beforeSeq, skip: page.skip, limit: page.limit + 1 });
  return pageOf(rows, page.limit, (m) => ({ s: m.seq }));
}

export async function conversationHistory({ db }: Deps, userId: string, partnerId: string, page: Page) {
  if (partnerId === userId) throw notYourself("partner_id", "have a conversation with");
  await assertConversationVisible(db, userId, partnerId);
  return conversationPageBySeq(db, conversationIdOf(userId, partnerId), page);
}

export async function listConversations({ db }: Deps, userId: string, page: Page) {
  const cursor = page.before ? decodeCursor(page.before, ActivityCursor) : undefined;
  const rows: ConversationRow[] = await conversationPage(db, userId, {
    before: cursor && { at: cursor.a, partnerId: cursor.p },
    skip: page.skip,
    limit: page.limit + 1,
  });
  return pageOf(rows, page.limit, (r) => ({ a: r.lastActivityAt, p: r.partnerId }));
}

/** Sender only. A tombstone keeps its place (and seq) in the conversation; its content is never shown again. */
export async function deleteMessage({ db, env }: Deps, userId: string, messageId: string): Promise<MessageRow> {
  const deleted = await softDelete(db, messageId, userId, nowIso());
  if (deleted) {
    await publish(env, [{ type: "message.deleted", message: deleted }], [deleted.receiverId]);
    return deleted;
  }
  const current = await findById(db, messageId);
  if (!current || (current.senderId !== userId && current.receiverId !== userId)) throw notFound("Message not found");
  if (current.senderId !== userId) throw new AppError("forbidden", "Only the sender can delete a message");
  return current; // already deleted: idempotent
}

export const unreadFor = ({ db }: Deps, userId: string, senderId?: string) => unreadCount(db, userId, senderId);

export const statsOf = ({ db }: Deps, userId: string) => statsFor(db, userId);
