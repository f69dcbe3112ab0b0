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
/** grant: an admin's credit; message: a send's charge; refund: a charge given back when moderation blocked its message. */
export const LEDGER_KINDS = ["grant", "message", "refund"] as const;
export const SEVERITIES = ["info", "warning", "critical"] as const;
/** pending: announced, no bytes yet; uploaded: bytes verified in R2; sent: claimed by one message; deleting: bytes being removed. */
export const ATTACHMENT_STATES = ["pending", "uploaded", "sent", "deleting"] as const;
export const AUDIT_OUTCOMES = ["success", "denied", "failed"] as const;
export const REPORT_REASONS = ["harassment", "spam", "scam", "inappropriate", "underage", "other"] as const;
export const REPORT_STATUSES = ["open", "resolved"] as const;
export const REPORT_RESOLUTIONS = ["no_action", "warned", "content_removed", "user_suspended"] as const;
export const ERASURE_STATUSES = ["running", "done"] as const;

const inListText = (column: string, values: readonly string[]) => `${column} IN (${values.map((v) => `'${v}'`).join(", ")})`;
const inList = (column: string, values: readonly string[]) => sql.raw(inListText(column, values));

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
    // A message is refunded at most once, whatever races: the refund's balance update is guarded too.
    uniqueIndex("credit_transactions_refund_unique").on(t.messageId).where(sql`kind = 'refund'`),
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
    /**
     * Messages this member has sent in the conversation, incremented by the send batch (never by a
     * delete). The first-contact rule reads both members' counts inside the send's guard.
     */
    sentCount: integer("sent_count").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.partnerId] }),
    index("conversation_members_activity_idx").on(t.userId, t.lastActivityAt, t.partnerId),
  ],
);

/**
 * Each conversation room a user ever opened a socket in, written once per user and room by the room's
 * join (in the D1 batch that also reads whether the user is suspended). A suspension closes the user's
 * sockets in exactly these rooms: a join that committed before the suspension is in the list the
 * suspension reads after its own commit, and one that commits after it sees the suspension.
 */
export const roomVisits = sqliteTable(
  "room_visits",
  {
    userId: text("user_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    firstAt: text("first_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.conversationId] })],
);

/**
 * Whether a realtime object holds a socket (`sockets` 1 or 0), as it last wrote: `scope` is a
 * conversation id (its room) or `inbox:<user id>`. The send's batch reads it, so an object with no
 * socket is not woken for a new message. Written only by the object itself when it changes between
 * none and some, newer `version` wins; it may overstate (a socket dropped without a close event),
 * never understate, what is open.
 */
export const socketPresence = sqliteTable("socket_presence", {
  scope: text("scope").primaryKey(),
  sockets: integer("sockets").notNull(),
  version: integer("version").notNull(),
});

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

/**
 * Messages committed but not yet in the full-text index (`messages_fts`, migration 0001). The insert
 * trigger only records the row's pk here, and the indexer moves pending rows into the index in
 * batches: before every admin search or export with `q`, and once a minute from the Cron Trigger. So
 * tokenising never runs on the send path (services/search-index.ts).
 */
export const messagesFtsPending = sqliteTable("messages_fts_pending", { pk: integer("pk").primaryKey() });

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

/**
 * Who shut out whom (issue 11). One-sided and reversible: the row is the block. The send guard looks
 * both directions up by primary key; the blocker's list pages the second index.
 */
export const blocks = sqliteTable(
  "blocks",
  {
    blockerId: text("blocker_id").notNull(),
    blockedId: text("blocked_id").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.blockerId, t.blockedId] }),
    index("blocks_blocker_created_idx").on(t.blockerId, t.createdAt, t.blockedId),
  ],
);

/**
 * Ended conversations: mutual and permanent. Two rows per pair (one per side, like
 * conversation_members), so "whom has this user unmatched" is one primary-key range. The messages
 * stay for REPORT_RETENTION_DAYS, then the scheduled job erases them and stamps both rows.
 */
export const unmatches = sqliteTable(
  "unmatches",
  {
    userId: text("user_id").notNull(),
    partnerId: text("partner_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    unmatchedBy: text("unmatched_by").notNull(),
    unmatchedAt: text("unmatched_at").notNull(),
    messagesErasedAt: text("messages_erased_at"),
  },
  (t) => [
    primaryKey({ columns: [t.userId, t.partnerId] }),
    // The retention job: pairs (their low side) whose messages still wait, oldest first. Queries must
    // repeat this WHERE term for term (see db/safety.ts).
    index("unmatches_pending_erasure_idx").on(t.unmatchedAt).where(sql`messages_erased_at IS NULL AND user_id < partner_id`),
  ],
);

/** A suspended user still reads; every send is refused while the row exists and `until` (if any) is ahead. */
export const suspensions = sqliteTable("suspensions", {
  userId: text("user_id").primaryKey(),
  reason: text("reason").notNull(),
  until: text("until"),
  adminId: text("admin_id").notNull(),
  createdAt: text("created_at").notNull(),
});

/**
 * Stays empty, like attachment_claim_guard. The send batch's safety guard inserts the first reason
 * that applies; its named CHECK fails the whole batch, and the name says why (db/constraints.ts).
 */
export const SEND_REFUSALS = [
  "rate_burst",
  "rate_minute",
  "suspended",
  "unmatched",
  "blocking",
  "blocked",
  "first_contact_limit",
  "first_contact_content",
] as const;
export const sendRefusals = sqliteTable("send_refusals", { reason: text("reason", { enum: SEND_REFUSALS }).notNull() }, () =>
  SEND_REFUSALS.map((r) => check(`send_refused_${r}`, sql.raw(`reason <> '${r}'`))),
);

/**
 * Reports with their evidence: `snapshot` is a JSON array of the conversation's messages as a
 * moderator sees them, built by SQL inside the report's own INSERT, so nothing the reported user
 * does afterwards (delete, unmatch, hard delete, erasure) changes it. Redacted by the scheduled job
 * once the report has been resolved for REPORT_RETENTION_DAYS.
 */
export const reports = sqliteTable(
  "reports",
  {
    pk: integer("pk").primaryKey(),
    id: text("id").notNull(),
    reporterId: text("reporter_id").notNull(),
    reportedUserId: text("reported_user_id").notNull(),
    conversationId: text("conversation_id").notNull(),
    reason: text("reason", { enum: REPORT_REASONS }).notNull(),
    details: text("details"),
    messageIds: text("message_ids", { mode: "json" }).notNull().$type<string[]>(),
    /** Whether the reporter also blocked (`block: true`), in the same write. */
    alsoBlocked: integer("also_blocked", { mode: "boolean" }).notNull().default(false),
    snapshot: text("snapshot").notNull(),
    snapshotRedactedAt: text("snapshot_redacted_at"),
    status: text("status", { enum: REPORT_STATUSES }).notNull().default("open"),
    resolution: text("resolution", { enum: REPORT_RESOLUTIONS }),
    resolutionNote: text("resolution_note"),
    resolvedBy: text("resolved_by"),
    resolvedAt: text("resolved_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("reports_id_unique").on(t.id),
    // The queue: every filter rides its own (column, created_at) index, newest first.
    index("reports_status_created_idx").on(t.status, t.createdAt),
    index("reports_reported_created_idx").on(t.reportedUserId, t.createdAt),
    index("reports_reporter_created_idx").on(t.reporterId, t.createdAt),
    index("reports_reason_created_idx").on(t.reason, t.createdAt),
    index("reports_created_idx").on(t.createdAt),
    // The redaction job: resolved reports (resolved_at is set exactly then) whose snapshot is still whole.
    index("reports_redaction_idx").on(t.resolvedAt).where(sql`snapshot_redacted_at IS NULL AND resolved_at IS NOT NULL`),
    check("reports_reason", inList("reason", REPORT_REASONS)),
    check("reports_status", inList("status", REPORT_STATUSES)),
    check("reports_resolution", sql.raw(`resolution IS NULL OR ${inListText("resolution", REPORT_RESOLUTIONS)}`)),
  ],
);

/** One erasure of a user's sent messages: its progress, kept while the UserErasure object works through it. */
export const erasures = sqliteTable(
  "erasures",
  {
    userId: text("user_id").primaryKey(),
    status: text("status", { enum: ERASURE_STATUSES }).notNull(),
    removed: integer("removed").notNull().default(0),
    requestedBy: text("requested_by").notNull(),
    startedAt: text("started_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    finishedAt: text("finished_at"),
  },
  () => [check("erasures_status", inList("status", ERASURE_STATUSES))],
);

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
export type BlockRow = typeof blocks.$inferSelect;
export type SuspensionRow = typeof suspensions.$inferSelect;
export type ReportRow = typeof reports.$inferSelect;
export type ReportReason = (typeof REPORT_REASONS)[number];
export type ReportResolution = (typeof REPORT_RESOLUTIONS)[number];
export type SendRefusal = (typeof SEND_REFUSALS)[number];
export type ErasureRow = typeof erasures.$inferSelect;
