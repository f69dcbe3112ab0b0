import { hardDeleteStatement, moderateStatement } from "../db/admin-messages";
import { auditSnapshots } from "../db/audit";
import type { Db } from "../db/client";
import { findById } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { contentDigest } from "../lib/content-digest";
import { conversationIdOf } from "../lib/ids";
import { nowIso } from "../lib/time";
import type { ModerateBody } from "../schemas/admin";
import { deleteAttachmentBytes } from "./attachments";
import { type AuditScope, commitWithAudit } from "./audit";
import { refundForBlocked } from "./credits";
import { conversationPageBySeq, type Page } from "./messages";
import { publish } from "./realtime";
import { toAdminMessageView } from "./views";

/**
 * Sets a message's moderation state; the change and its audit row are one batch, and the row's
 * `before` is read by SQL inside it (two racing moderations each record the state the other left).
 * Moving a charged message to `blocked` refunds its sender in the same batch, once ever (the audit
 * row's details name the refund). The conversation's sockets get `message.moderated` at once, so a
 * receiver's screen drops blocked content.
 */
export async function moderateMessage(db: Db, env: Env, scope: AuditScope, messageId: string, body: ModerateBody): Promise<MessageRow> {
  const found = await findById(db, messageId);
  if (!found) throw notFound("Message not found");
  const reason = body.reason ?? null;
  const now = nowIso();
  const refund = refundForBlocked(db, { messageId, status: body.moderation_status, adminId: scope.actor.adminId, now });
  const updated = await commitWithAudit(db, scope, {
    statements: [moderateStatement(db, messageId, body.moderation_status, reason, now), ...refund.statements],
    from: auditSnapshots.message(messageId),
    detailsPatch: refund.auditPatch,
    computed: { before: auditSnapshots.moderation },
    event: {
      targetType: "message",
      targetId: messageId,
      severity: body.moderation_status === "blocked" || body.moderation_status === "flagged" ? "warning" : "info",
      after: { moderation_status: body.moderation_status, moderation_reason: reason },
      // A message's text, sender and receiver never change after it is sent: read above, they are what the batch finds.
      details: { sender_id: found.senderId, receiver_id: found.receiverId, ...(await contentDigest(found.content)) },
    },
    result: (results) => (results[0] as MessageRow[])[0],
  });
  if (!updated) throw notFound("Message not found"); // hard-deleted between the read and the write
  await publish(env, [{ type: "message.moderated", message: updated }], [updated.receiverId]);
  return updated;
}

/**
 * Super admins only: the row and its FTS entry are gone. The audit row, written first in the same
 * batch, records the row's state as SQL found it there, with a digest in place of its text.
 */
export async function hardDeleteMessage(db: Db, env: Env, scope: AuditScope, messageId: string): Promise<void> {
  const found = await findById(db, messageId);
  if (!found) throw notFound("Message not found");
  const deleted = await commitWithAudit(db, scope, {
    statements: [hardDeleteStatement(db, messageId)],
    from: auditSnapshots.message(messageId),
    computed: { before: auditSnapshots.deletedMessage(await contentDigest(found.content)) },
    event: { targetType: "message", targetId: messageId, severity: "critical", after: null },
    result: (results) => (results[0] as MessageRow[])[0],
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
