/**
 * The one source of the D1 tables. `drizzle-kit generate` turns this file into `migrations/`;
 * what Drizzle cannot express (FTS5, append-only triggers, seed rows) lives in the custom
 * migrations next to the generated ones.
 *
 * Timestamps are ISO-8601 UTC strings with milliseconds: they sort as text, so indexes on them
 * serve range filters and ordering.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const MESSAGE_TYPES = ["text", "image", "video", "audio", "file"] as const;
export const MESSAGE_STATUSES = ["sent", "delivered", "read", "failed"] as const;
export const MODERATION_STATUSES = ["pending", "approved", "flagged", "blocked"] as const;
export const ROLES = ["support", "moderator", "analyst", "admin", "super_admin"] as const;
export const PERMISSIONS = [
  "moderation.view",
  "moderation.action",
  "analytics.view",
  "analytics.export",
  "credits.manage",
  "super_admin",
] as const;
export const LEDGER_KINDS = ["grant", "message"] as const;
export const SEVERITIES = ["info", "warning", "critical"] as const;
/** pending: announced, no bytes yet; uploaded: bytes verified in R2; sent: claimed by one message; deleting: bytes being removed. */
export const ATTACHMENT_STATES = ["pending", "uploaded", "sent", "deleting"] as const;
export const AUDIT_OUTCOMES = ["success", "denied", "failed"] as const;

const inList = (column: string, values: readonly string[]) => sql.raw(`${column} IN (${values.map((v) => `'${v}'`).join(", ")})`);

export const creditBalances = sqliteTable(
  "credit_balances",
  {
    userId: text("user_id").primaryKey(),
    balance: integer("balance").notNull().default(0),
    updatedAt: text("updated_at").notNull(),
  },
  // The guard that makes concurrent sends safe: a debit that would overdraw fails its whole batch.
  () => [check("balance_non_negative", sql`balance >= 0`)],
);

export const creditTransactions = sqliteTable(
  "credit_transactions",
  {
    pk: integer("pk").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    userId: text("user_id").notNull(),
    amount: integer("amount").notNull(),
    balanceAfter: integer("balance_after").notNull(),
    kind: text("kind", { enum: LEDGER_KINDS }).notNull(),
    reason: text("reason"),
    messageId: text("message_id"),
    adminId: text("admin_id"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("credit_transactions_id_unique").on(t.id),
    index("credit_transactions_user_pk_idx").on(t.userId, t.pk),
    check("credit_transactions_kind", inList("kind", LEDGER_KINDS)),
  ],
);

export const conversations = sqliteTable("conversations", {
  id: text("id").primaryKey(),
  userLow: text("user_low").notNull(),
  userHigh: text("user_high").notNull(),
  /** The last `seq` handed out; only ever incremented, so a hard delete leaves its number unused. */
  lastSeq: integer("last_seq").notNull(),
  createdAt: text("created_at").notNull(),
  lastActivityAt: text("last_activity_at").notNull(),
});

/** Two rows per conversation, one for each participant: the conversation list is one index range. */
export const conversationMembers = sqliteTable(
  "conversation_members",
  {
    userId: text("user_id").notNull(),
    partnerId: text("partner_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    lastActivityAt: text("last_activity_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.partnerId] }),
    index("conversation_members_activity_idx").on(t.userId, t.lastActivityAt, t.partnerId),
  ],
);

export const messages = sqliteTable(
  "messages",
  {
    /** Internal row id: stable key for the FTS5 index and keyset paging of admin exports. */
    pk: integer("pk").primaryKey(),
    id: text("id").notNull(),
    conversationId: text("conversation_id").notNull(),
    seq: integer("seq").notNull(),
    senderId: text("sender_id").notNull(),
    receiverId: text("receiver_id").notNull(),
    content: text("content").notNull(),
    messageType: text("message_type", { enum: MESSAGE_TYPES }).notNull().default("text"),
    status: text("status", { enum: MESSAGE_STATUSES }).notNull().default("sent"),
    moderationStatus: text("moderation_status", { enum: MODERATION_STATUSES }).notNull().default("pending"),
    moderationReason: text("moderation_reason"),
    /** When a moderator last changed it (resume replays moderation changed after a client's last seq). */
    moderatedAt: text("moderated_at"),
    deliveredAt: text("delivered_at"),
    readAt: text("read_at"),
    attachments: text("attachments", { mode: "json" }).notNull().$type<Attachment[]>(),
    metadata: text("metadata", { mode: "json" }).notNull().$type<Record<string, unknown>>(),
    creditsCost: integer("credits_cost").notNull(),
    creditsTransactionId: text("credits_transaction_id"),
    clientMessageId: text("client_message_id"),
    isDeleted: integer("is_deleted", { mode: "boolean" }).notNull().default(false),
    deletedAt: text("deleted_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("messages_id_unique").on(t.id),
    // History, resume and "last message" are ranges of this index.
    uniqueIndex("messages_conversation_seq_unique").on(t.conversationId, t.seq),
    // Resume: the messages of a conversation whose receipts, deletion or moderation changed lately.
    index("messages_conversation_updated_idx").on(t.conversationId, t.updatedAt),
    // Exactly-once sends: a retry with the same client_message_id collides here.
    uniqueIndex("messages_sender_client_id_unique").on(t.senderId, t.clientMessageId),
    // Unread counts (overall and per sender) read only the unread rows; the WHERE must match
    // `UNREAD` in db/messages.ts term for term, or SQLite will not use this index.
    // It also carries the filtered columns, so counting never touches the table rows.
    index("messages_unread_idx")
      .on(t.receiverId, t.senderId, t.status, t.isDeleted, t.moderationStatus)
      .where(sql`status <> 'read' AND is_deleted = 0 AND moderation_status <> 'blocked'`),
    index("messages_sender_created_idx").on(t.senderId, t.createdAt),
    index("messages_receiver_created_idx").on(t.receiverId, t.createdAt),
    // Covers the admin overview: every range aggregate (per day, by status/type/moderation, active
    // senders) reads only this index, never the rows.
    index("messages_created_stats_idx").on(t.createdAt, t.senderId, t.status, t.messageType, t.moderationStatus, t.isDeleted),
    index("messages_moderation_created_idx").on(t.moderationStatus, t.createdAt),
    check("messages_type", inList("message_type", MESSAGE_TYPES)),
    check("messages_status", inList("status", MESSAGE_STATUSES)),
    check("messages_moderation", inList("moderation_status", MODERATION_STATUSES)),
    check("messages_seq_positive", sql`seq > 0`),
  ],
);

export const admins = sqliteTable(
  "admins",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    role: text("role", { enum: ROLES }).notNull(),
    active: integer("active", { mode: "boolean" }).notNull().default(true),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("admins_email_unique").on(t.email),
    index("admins_role_active_idx").on(t.role, t.active),
    check("admins_role", inList("role", ROLES)),
  ],
);

/** The contract's role table, as data: seeded by a migration and joined on every admin request. */
export const rolePermissions = sqliteTable(
  "role_permissions",
  {
    role: text("role", { enum: ROLES }).notNull(),
    permission: text("permission", { enum: PERMISSIONS }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.role, t.permission] })],
);

/**
 * Every admin call, one row each, committed in the change's own batch with no hash: writers never
 * contend for a chain head. AUTOINCREMENT never reuses a pk, so the sealer can take rows in pk order.
 */
export const auditLog = sqliteTable(
  "audit_log",
  {
    pk: integer("pk").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    createdAt: text("created_at").notNull(),
    adminId: text("admin_id").notNull(),
    adminEmail: text("admin_email"),
    adminRole: text("admin_role"),
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    outcome: text("outcome", { enum: AUDIT_OUTCOMES }).notNull(),
    statusCode: integer("status_code").notNull(),
    severity: text("severity", { enum: SEVERITIES }).notNull(),
    // JSON kept as the exact text that is sealed, so verification rehashes the stored bytes.
    before: text("before_state"),
    after: text("after_state"),
    details: text("details"),
    ip: text("ip"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
  },
  (t) => [
    uniqueIndex("audit_log_id_unique").on(t.id),
    index("audit_log_admin_idx").on(t.adminId, t.pk),
    index("audit_log_action_idx").on(t.action, t.pk),
    index("audit_log_target_idx").on(t.targetId, t.pk),
    index("audit_log_created_idx").on(t.createdAt),
    // A throttled caller's once-per-window row: "has this caller one since the window began?" reads only these.
    index("audit_log_throttled_idx").on(t.adminId, t.createdAt).where(sql`status_code = 429`),
    check("audit_log_severity", inList("severity", SEVERITIES)),
    check("audit_log_outcome", inList("outcome", AUDIT_OUTCOMES)),
  ],
);

/**
 * The audit log's HMAC chain, one seal per audit row, written by the sealer (durable-objects/audit-sealer.ts)
 * moments after the row commits, in audit_log.pk order (D1 runs one write at a time, so pk order is
 * commit order). Kept apart from audit_log so both tables stay append-only (triggers refuse UPDATE and DELETE).
 */
export const auditSeals = sqliteTable(
  "audit_seals",
  {
    /** audit_log.pk of the sealed row. */
    auditPk: integer("audit_pk").primaryKey(),
    /** The previous seal's hash (GENESIS_HASH for the first); UNIQUE, so the chain can never fork. */
    prevHash: text("prev_hash").notNull(),
    /** HMAC-SHA256 of the row's fields and prev_hash, with the key named by key_id. */
    hash: text("hash").notNull(),
    keyId: text("key_id").notNull(),
    sealedAt: text("sealed_at").notNull(),
  },
  (t) => [uniqueIndex("audit_seals_prev_hash_unique").on(t.prevHash)],
);

/**
 * Web Push subscriptions (issue 14): one row per browser or device. The endpoint is the device, so it
 * is the key: the same endpoint posted by another user moves to them (the device changed hands).
 */
export const pushSubscriptions = sqliteTable(
  "push_subscriptions",
  {
    endpoint: text("endpoint").primaryKey(),
    /** New whenever the endpoint changes hands: created (201) vs. refreshed (200), and what jobs and logs name. */
    id: text("id").notNull(),
    userId: text("user_id").notNull(),
    /** base64url, as the browser gives them: the 65-byte P-256 point and the 16-byte auth secret. */
    p256dh: text("p256dh").notNull(),
    auth: text("auth").notNull(),
    /** The browser's `expirationTime`, when it gave one; an expired subscription gets no push. */
    expiresAt: text("expires_at"),
    createdAt: text("created_at").notNull(),
    /** When the device last posted it; a user's 21st subscription evicts the one least recently seen. */
    lastSeenAt: text("last_seen_at").notNull(),
  },
  (t) => [uniqueIndex("push_subscriptions_id_unique").on(t.id), index("push_subscriptions_user_seen_idx").on(t.userId, t.lastSeenAt)],
);

/**
 * Per receiver and conversation, the newest seq whose push fanned out. Claimed by a guarded write
 * (`seq` only grows), so a job the queue delivers twice pushes once; `prev_seq` lets a failed fan-out
 * hand its claim back.
 */
export const pushState = sqliteTable(
  "push_state",
  {
    receiverId: text("receiver_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    seq: integer("seq").notNull(),
    prevSeq: integer("prev_seq").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.receiverId, t.conversationId] })],
);

/**
 * Photos, voice notes, videos and files in R2. A row is announced (POST), gets its bytes once (PUT,
 * verified while streaming), and is claimed by at most one message inside that message's send batch.
 */
export const attachments = sqliteTable(
  "attachments",
  {
    id: text("id").primaryKey(),
    uploaderId: text("uploader_id").notNull(),
    mimeType: text("mime_type").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    name: text("name").notNull(),
    state: text("state", { enum: ATTACHMENT_STATES }).notNull().default("pending"),
    /** The object holding the verified bytes; unique per upload attempt, so racing PUTs never overwrite each other. */
    r2Key: text("r2_key"),
    width: integer("width"),
    height: integer("height"),
    messageId: text("message_id"),
    createdAt: text("created_at").notNull(),
    uploadExpiresAt: text("upload_expires_at").notNull(),
    uploadedAt: text("uploaded_at"),
    sentAt: text("sent_at"),
  },
  (t) => [
    // Hard delete and erasure find a message's attachments here.
    index("attachments_message_idx").on(t.messageId),
    // The scheduled purge: unsent uploads by age, and rows left in `deleting`.
    index("attachments_state_created_idx").on(t.state, t.createdAt),
    check("attachments_state", inList("state", ATTACHMENT_STATES)),
    check("attachments_size_positive", sql`size_bytes > 0`),
    check("attachments_sent_has_message", sql`state <> 'sent' OR message_id IS NOT NULL`),
  ],
);

/**
 * Stays empty. The send batch inserts a row here only when it claimed fewer attachments than the
 * message names; the CHECK then fails the whole batch, so a lost race leaves no message and no charge.
 */
export const attachmentClaimGuard = sqliteTable("attachment_claim_guard", { failed: integer("failed").notNull() }, () => [
  check("attachment_claim_complete", sql`failed = 0`),
]);

/** A message's attachment as stored and shown: an upload of ours (`attachment_id`, dimensions) or an earlier https link. */
export type Attachment = {
  attachment_id?: string;
  url: string;
  mime_type: string;
  size_bytes: number;
  name?: string;
  width?: number;
  height?: number;
};
export type MessageRow = typeof messages.$inferSelect;
export type NewMessageRow = typeof messages.$inferInsert;
export type AdminRow = typeof admins.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type AuditSealRow = typeof auditSeals.$inferSelect;
export type LedgerRow = typeof creditTransactions.$inferSelect;
export type Role = (typeof ROLES)[number];
export type Permission = (typeof PERMISSIONS)[number];
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export type ModerationStatus = (typeof MODERATION_STATUSES)[number];
export type MessageType = (typeof MESSAGE_TYPES)[number];
export type Severity = (typeof SEVERITIES)[number];
export type PushSubscriptionRow = typeof pushSubscriptions.$inferSelect;
export type AttachmentRow = typeof attachments.$inferSelect;
export type AttachmentState = (typeof ATTACHMENT_STATES)[number];
