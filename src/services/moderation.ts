import { hardDeleteStatement, moderateStatement } from "../db/admin-messages";
import type { Db } from "../db/client";
import { findById } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { conversationIdOf } from "../lib/ids";
import { nowIso } from "../lib/time";
import type { ModerateBody } from "../schemas/admin";
import { deleteAttachmentBytes } from "./attachments";
import { type AuditScope, commitWithAudit } from "./audit";
import { conversationPageBySeq, type Page } from "./messages";
import { publish } from "./realtime";
import { toAdminMessageView } from "./views";

const snapshot = (m: MessageRow) => ({ moderation_status: m.moderationStatus, moderation_reason: m.moderationReason });

/**
 * Sets a message's moderation state; the change and its audit row are one batch. The conversation's
 * sockets get `message.moderated` at once, so a receiver's screen drops blocked content.
 */
export async function moderateMessage(db: Db, env: Env, scope: AuditScope, messageId: string, body: ModerateBody): Promise<MessageRow> {
  const updated = await commitWithAudit(db, scope, async () => {
    const before = await findById(db, messageId);
    if (!before) throw notFound("Message not found");
    const reason = body.reason ?? null;
    return {
      statements: [moderateStatement(db, messageId, body.moderation_status, reason, nowIso())],
      event: {
        targetType: "message",
        targetId: messageId,
        severity: body.moderation_status === "blocked" || body.moderation_status === "flagged" ? "warning" : "info",
        before: snapshot(before),
        after: { moderation_status: body.moderation_status, moderation_reason: reason },
        details: { sender_id: before.senderId, receiver_id: before.receiverId },
      },
      result: (results) => (results[0] as MessageRow[])[0],
      onlyIfChanged: true,
    };
  });
  if (!updated) throw notFound("Message not found"); // hard-deleted between the read and the write
  await publish(env, [{ type: "message.moderated", message: updated }], [updated.receiverId]);
  return updated;
}

/** Super admins only: the row and its FTS entry are gone; the audit row keeps the whole row as `before`. */
export async function hardDeleteMessage(db: Db, env: Env, scope: AuditScope, messageId: string): Promise<void> {
  const deleted = await commitWithAudit(db, scope, async () => {
    const before = await findById(db, messageId);
    if (!before) throw notFound("Message not found");
    return {
      statements: [hardDeleteStatement(db, messageId)],
      event: { targetType: "message", targetId: messageId, severity: "critical", before: toAdminMessageView(before), after: null },
      result: (results) => (results[0] as MessageRow[])[0],
      onlyIfChanged: true,
    };
  });
  if (!deleted) throw notFound("Message not found");
  await deleteAttachmentBytes(db, env, [deleted]);
  await publish(env, [{ type: "message.deleted", message: deleted }], [deleted.receiverId]);
}

/** Any two users' conversation, deleted and blocked messages included, newest first. */
export async function adminConversation(db: Db, user1: string, user2: string, page: Page) {
  if (user1 === user2)
    throw new AppError("validation_failed", "A conversation needs two different users", { user2_id: ["must differ from user1_id"] });
  const { items, hasMore, nextCursor } = await conversationPageBySeq(db, conversationIdOf(user1, user2), page);
  return {
    user1_id: user1,
    user2_id: user2,
    messages: items.map((m) => toAdminMessageView(m)),
    next_cursor: nextCursor,
    has_more: hasMore,
  };
}
