import type { MessageRow } from "../db/schema";
import type { Message } from "../schemas/messages";

/** Content a viewer may not see: a tombstone (deleted), or a blocked message seen by its receiver. */
export function isHiddenFrom(m: MessageRow, viewerId: string): boolean {
  return m.isDeleted || (m.moderationStatus === "blocked" && m.receiverId === viewerId);
}

/**
 * The only place that turns a row into the wire shape users see (snake_case), applying tombstones
 * and hiding blocked content from its receiver.
 */
export function toMessageView(m: MessageRow, viewerId: string): Message {
  const hidden = isHiddenFrom(m, viewerId);
  return {
    id: m.id,
    sender_id: m.senderId,
    receiver_id: m.receiverId,
    content: hidden ? null : m.content,
    message_type: m.messageType,
    status: m.status,
    moderation_status: m.moderationStatus,
    delivered_at: m.deliveredAt,
    read_at: m.readAt,
    attachments: hidden ? [] : m.attachments,
    metadata: hidden ? {} : m.metadata,
    credits_cost: m.creditsCost,
    credits_transaction_id: m.creditsTransactionId,
    client_message_id: m.clientMessageId,
    seq: m.seq,
    is_deleted: m.isDeleted,
    deleted_at: m.deletedAt,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}
