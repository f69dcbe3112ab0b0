import { z } from "@hono/zod-openapi";
import { MESSAGE_STATUSES, MESSAGE_TYPES, MODERATION_STATUSES } from "../db/schema";
import { StoredAttachment, uploadOrLink } from "./attachments";
import { Cursor, Limit, OpaqueId, Skip, Timestamp, UserId } from "./common";

export const MessageType = z.enum(MESSAGE_TYPES).openapi("MessageType");
export const MessageStatus = z.enum(MESSAGE_STATUSES).openapi("MessageStatus");
export const ModerationStatus = z.enum(MODERATION_STATUSES).openapi("ModerationStatus");

const codePoints = (s: string) => [...s].length;

export const Attachment = z
  .strictObject({
    url: z.url({ protocol: /^https$/, error: "must be an https URL" }).max(2048),
    mime_type: z
      .string()
      .regex(/^[\w.+-]+\/[\w.+-]+$/, "must be a MIME type like image/jpeg")
      .max(255),
    size_bytes: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31),
    name: z.string().min(1).max(255).optional(),
  })
  .openapi("Attachment");

const METADATA_MAX_BYTES = 2048;

const isJsonObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Client data, kept verbatim. Not `z.record`: it drops a `__proto__` key (so the assignment cannot
 * replace the prototype of the object it builds), which would silently lose what the client stored.
 * JSON.parse gave us own properties already, and nothing here copies them by assignment.
 */
export const Metadata = z
  .custom<Record<string, unknown>>(isJsonObject, "must be a JSON object")
  .refine((m) => new TextEncoder().encode(JSON.stringify(m)).length <= METADATA_MAX_BYTES, "must be at most 2 KiB of JSON")
  .openapi({ type: "object", additionalProperties: true, description: "Client data, at most 2 KiB of JSON, stored as sent" });

export const SendMessageBody = z
  .strictObject({
    receiver_id: UserId,
    content: z
      .string()
      .transform((s) => s.trim())
      .refine((s) => codePoints(s) >= 1, "must not be empty")
      .refine((s) => codePoints(s) <= 4000, "must be at most 4000 characters"),
    message_type: MessageType.optional().default("text"),
    attachments: z
      .array(uploadOrLink(Attachment))
      .max(10, "at most 10 attachments")
      .optional()
      .default([])
      .openapi({ description: "Uploads of yours (`{attachment_id}`, each sent once) or https links (the earlier form)" }),
    metadata: Metadata.optional().default({}),
    client_message_id: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[\x21-\x7e]+$/, "printable ASCII without spaces")
      .optional()
      .openapi({ description: "Idempotency key: a retry with the same value returns the original message" }),
  })
  .openapi("SendMessageBody");
export type SendMessageBody = z.infer<typeof SendMessageBody>;

export const Message = z
  .object({
    id: z.string(),
    sender_id: z.string(),
    receiver_id: z.string(),
    content: z
      .string()
      .nullable()
      .openapi({ description: "null for a deleted message, and for a blocked message when the caller is its receiver" }),
    message_type: MessageType,
    status: MessageStatus,
    moderation_status: ModerationStatus,
    delivered_at: Timestamp.nullable(),
    read_at: Timestamp.nullable(),
    attachments: z.array(z.union([StoredAttachment, Attachment])),
    metadata: z.record(z.string(), z.unknown()),
    credits_cost: z.number().int(),
    credits_transaction_id: z.string().nullable(),
    client_message_id: z.string().nullable(),
    seq: z.number().int().openapi({ description: "Position in the conversation: 1, 2, 3, ... without gaps" }),
    is_deleted: z.boolean(),
    deleted_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("Message");
export type Message = z.infer<typeof Message>;

export const MessageIdParam = z.object({
  message_id: OpaqueId.openapi({ param: { name: "message_id", in: "path" }, example: "msg_3f2a9c1d5e7b4a60b8d2c4e6f8a0b1c" }),
});

export const PartnerIdParam = z.object({
  partner_id: UserId.openapi({ param: { name: "partner_id", in: "path" } }),
});

export const PageQuery = z.object({
  limit: Limit,
  before: Cursor.optional(),
  skip: Skip,
});

export const MessagePage = z
  .object({
    messages: z.array(Message),
    next_cursor: z.string().nullable().openapi({ description: "Pass as `before` for the next (older) page" }),
    has_more: z.boolean(),
  })
  .openapi("MessagePage");

export const ConversationSummary = z
  .object({
    partner_id: z.string(),
    last_message: Message.nullable(),
    unread_count: z.number().int(),
    last_activity_at: Timestamp,
  })
  .openapi("ConversationSummary");

export const ConversationPage = z
  .object({
    conversations: z.array(ConversationSummary),
    next_cursor: z.string().nullable(),
    has_more: z.boolean(),
  })
  .openapi("ConversationPage");

export const MarkReadBody = z
  .strictObject({
    message_ids: z.array(OpaqueId).min(1, "at least 1 id").max(100, "at most 100 ids"),
  })
  .openapi("MarkReadBody");

export const MarkReadResult = z.object({ success: z.literal(true), marked_count: z.number().int() }).openapi("MarkReadResult");

export const UnreadQuery = z.object({ sender_id: UserId.optional() });
export const UnreadCount = z.object({ unread_count: z.number().int() }).openapi("UnreadCount");

export const UserStats = z
  .object({
    sent: z.number().int(),
    received: z.number().int(),
    unread: z.number().int(),
    credits_spent: z.number().int(),
    conversations: z.number().int(),
  })
  .openapi("UserStats");
