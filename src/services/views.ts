import type { MessageRow } from "../db/schema";
import type { AdminMessage } from "../schemas/admin";
import type { RoomEvent, ServerEvent } from "../schemas/events";
import type { Message } from "../schemas/messages";
import { forModerators } from "./attachments";

/** Content a viewer may not see: a tombstone (deleted), or a blocked message seen by its receiver. */
export function isHiddenFrom(m: MessageRow, viewerId: string): boolean {
  return m.isDeleted || (m.moderationStatus === "blocked" && m.receiverId === viewerId);
}

function wireFields(m: MessageRow): Message {
  return {
    id: m.id,
    sender_id: m.senderId,
    receiver_id: m.receiverId,
    content: m.content,
    message_type: m.messageType,
    status: m.status,
    moderation_status: m.moderationStatus,
    delivered_at: m.deliveredAt,
    read_at: m.readAt,
    attachments: m.attachments,
    metadata: m.metadata,
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

/**
 * The only place that turns a row into the wire shape users see (snake_case), applying tombstones
 * and hiding blocked content from its receiver.
 */
export function toMessageView(m: MessageRow, viewerId: string): Message {
  const view = wireFields(m);
  return isHiddenFrom(m, viewerId) ? { ...view, content: null, attachments: [], metadata: {} } : view;
}

/** Moderators see everything, deleted and blocked included; search truncates long content. */
export function toAdminMessageView(m: MessageRow, truncateTo?: number): AdminMessage {
  const chars = [...m.content];
  const truncated = truncateTo !== undefined && chars.length > truncateTo;
  return {
    ...wireFields(m),
    content: truncated ? chars.slice(0, truncateTo).join("") : m.content,
    content_truncated: truncated,
    attachments: m.attachments.map(forModerators),
    conversation_id: m.conversationId,
    moderation_reason: m.moderationReason,
  };
}

/** A room event as one viewer's socket receives it (rooms and inboxes alike). */
export function toEventView(type: RoomEvent["type"], m: MessageRow, viewerId: string): ServerEvent {
  switch (type) {
    case "message.new":
      return { type, message: toMessageView(m, viewerId) };
    case "message.status":
      return { type, message_id: m.id, status: m.status, delivered_at: m.deliveredAt, read_at: m.readAt };
    case "message.deleted":
      return { type, message_id: m.id };
    case "message.moderated":
      return { type, message_id: m.id, moderation_status: m.moderationStatus, message: toMessageView(m, viewerId) };
  }
}
