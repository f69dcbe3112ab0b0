import { z } from "@hono/zod-openapi";
import { MESSAGE_STATUSES, MESSAGE_TYPES, MODERATION_STATUSES, ROLES } from "../db/schema";
import { Cursor, FromBound, Limit, OpaqueId, Page, QueryBool, Skip, Timestamp, ToBound, UserId } from "./common";
import { Message, MessageStatus, MessageType, ModerationStatus } from "./messages";

export const AdminMessage = Message.extend({
  content: z.string(),
  content_truncated: z.boolean().openapi({ description: "true when search cut the content to 200 characters" }),
  conversation_id: z.string(),
  moderation_reason: z.string().nullable(),
}).openapi("AdminMessage");
export type AdminMessage = z.infer<typeof AdminMessage>;

/** The search filters, shared by search and export. */
export const MessageFilters = z.object({
  user_id: UserId.optional().openapi({ description: "Sender or receiver" }),
  sender_id: UserId.optional(),
  receiver_id: UserId.optional(),
  q: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .optional()
    .openapi({ description: "Full-text search: every word must match; `word*` matches a prefix" }),
  moderation_status: ModerationStatus.optional(),
  message_type: MessageType.optional(),
  status: MessageStatus.optional(),
  from: FromBound.optional(),
  to: ToBound.optional(),
  include_deleted: QueryBool.optional().default(false),
});
export type MessageFilters = z.infer<typeof MessageFilters>;

export const SearchQuery = MessageFilters.extend({ page: Page, limit: Limit });

export const SearchResult = z
  .object({ messages: z.array(AdminMessage), total: z.number().int(), page: z.number().int(), limit: z.number().int() })
  .openapi("SearchResult");

export const ExportQuery = MessageFilters.extend({
  format: z.enum(["csv", "ndjson"]).optional().default("csv"),
  cursor: Cursor.optional().openapi({ description: "Where this part starts: the `X-Export-Next-Cursor` of the previous part" }),
});

export const ConversationParams = z.object({
  user1_id: UserId.openapi({ param: { name: "user1_id", in: "path" } }),
  user2_id: UserId.openapi({ param: { name: "user2_id", in: "path" } }),
});

export const AdminPageQuery = z.object({ limit: Limit, before: Cursor.optional(), skip: Skip });

export const AdminConversation = z
  .object({
    user1_id: z.string(),
    user2_id: z.string(),
    messages: z.array(AdminMessage),
    next_cursor: z.string().nullable(),
    has_more: z.boolean(),
  })
  .openapi("AdminConversation");

export const ModerateBody = z
  .strictObject({
    moderation_status: z.enum(MODERATION_STATUSES),
    reason: z.string().trim().min(1).max(1000).optional(),
  })
  .superRefine((b, ctx) => {
    if ((b.moderation_status === "flagged" || b.moderation_status === "blocked") && !b.reason) {
      ctx.addIssue({ code: "custom", path: ["reason"], message: `required when moderation_status is ${b.moderation_status}` });
    }
  })
  .openapi("ModerateBody");
export type ModerateBody = z.infer<typeof ModerateBody>;

export const ModerateResult = z
  .object({ success: z.literal(true), message_id: z.string(), moderation_status: ModerationStatus })
  .openapi("ModerateResult");

export const HardDeleteResult = z.object({ success: z.literal(true), message_id: z.string() }).openapi("HardDeleteResult");

export const MessageIdParam = z.object({
  message_id: OpaqueId.openapi({ param: { name: "message_id", in: "path" } }),
});

export const OverviewQuery = z.object({ from: FromBound.optional(), to: ToBound.optional() });

const Counts = <T extends readonly string[]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<T[number], z.ZodNumber>);

export const Overview = z
  .object({
    range: z.object({ from: Timestamp, to: Timestamp }),
    totals: z.object({
      messages: z.number().int(),
      deleted: z.number().int(),
      by_status: Counts(MESSAGE_STATUSES),
      by_type: Counts(MESSAGE_TYPES),
      by_moderation_status: Counts(MODERATION_STATUSES),
    }),
    per_day: z.array(z.object({ date: z.string().openapi({ example: "2026-11-24" }), messages: z.number().int() })),
    active_senders: z.number().int(),
    delivery_rate: z.number().openapi({ description: "(delivered + read) / messages, 0 when there are none" }),
    read_rate: z.number().openapi({ description: "read / messages, 0 when there are none" }),
  })
  .openapi("StatsOverview");

export const AuditQuery = z.object({
  admin_id: z.string().min(1).max(64).optional(),
  action: z.string().min(1).max(64).optional(),
  target_id: z.string().min(1).max(128).optional(),
  from: FromBound.optional(),
  to: ToBound.optional(),
  limit: Limit,
  cursor: Cursor.optional(),
});

export const AuditEntry = z
  .object({
    id: z.string(),
    created_at: Timestamp,
    admin_id: z.string(),
    admin_email: z.string().nullable(),
    admin_role: z.string().nullable(),
    action: z.string(),
    target_type: z.string().nullable(),
    target_id: z.string().nullable(),
    outcome: z.enum(["success", "denied", "failed"]),
    status_code: z.number().int(),
    severity: z.enum(["info", "warning", "critical"]),
    before: z.unknown(),
    after: z.unknown(),
    details: z.unknown(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    request_id: z.string().nullable().openapi({ description: "The server's request id (the response's X-Request-Id)" }),
    prev_hash: z.string().nullable().openapi({ description: "The previous seal's hash; null until the row is sealed" }),
    hash: z.string().nullable().openapi({ description: "HMAC-SHA256 seal of this row and prev_hash; null until sealed" }),
    key_id: z.string().nullable().openapi({ description: "Id of the key that sealed the row; null until sealed" }),
  })
  .openapi("AuditEntry");

export const AuditPage = z
  .object({ audit_logs: z.array(AuditEntry), next_cursor: z.string().nullable(), has_more: z.boolean() })
  .openapi("AuditPage");

export const ChainVerdict = z
  .object({
    ok: z.boolean(),
    rows_checked: z.number().int().openapi({ description: "Sealed rows that verified" }),
    head_hash: z
      .string()
      .optional()
      .openapi({ description: "The last seal's hash (when ok); keep it outside D1 to detect a cut-off tail" }),
    unsealed: z.number().int().optional().openapi({ description: "Rows after the last seal, not yet chained (when ok)" }),
    first_broken: z
      .object({
        id: z.string().nullable(),
        created_at: z.string().nullable(),
        reason: z.enum(["hash_mismatch", "prev_hash_mismatch", "unknown_key", "seal_missing", "chain_truncated"]),
        key_id: z.string().optional().openapi({ description: "The key id that is not configured (unknown_key)" }),
      })
      .optional(),
  })
  .openapi("AuditChainVerdict");

export const Role = z.enum(ROLES).openapi("Role");

export const AdminAccount = z
  .object({ id: z.string(), email: z.string(), role: Role, active: z.boolean(), created_at: Timestamp, updated_at: Timestamp })
  .openapi("AdminAccount");

export const AdminIdParam = z.object({ admin_id: UserId.openapi({ param: { name: "admin_id", in: "path" } }) });

export const UpsertAdminBody = z
  .strictObject({
    email: z
      .email()
      .max(254)
      .transform((e) => e.toLowerCase()),
    role: Role,
    /** Omitted: a new admin starts active, an existing one keeps its state (editing never reactivates). */
    active: z.boolean().optional(),
  })
  .openapi("UpsertAdminBody");
export type UpsertAdminBody = z.infer<typeof UpsertAdminBody>;
