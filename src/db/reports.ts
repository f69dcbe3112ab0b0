/**
 * The SQL of reports. A report's evidence is built by SQL inside its own INSERT (one statement), so
 * it is the conversation exactly as D1 held it when the report committed.
 */
import { and, desc, eq, gte, inArray, lte, type SQL, sql } from "drizzle-orm";
import type { Db } from "./client";
import { messages, type ReportReason, type ReportResolution, reports, suspensions } from "./schema";

/** How many of a conversation's newest messages a snapshot keeps (besides the ones the report names). */
export const SNAPSHOT_LAST = 50;

const idsJson = (ids: string[]) => JSON.stringify(ids);

/**
 * The conversation's last 50 messages plus the named ones, oldest first, as moderators see them
 * (deleted and blocked content included, attachments as stored), as one JSON array.
 */
function snapshotOf(conversationId: string, named: string[]): SQL {
  const ids = idsJson(named);
  return sql`(SELECT json_group_array(json(s.j) ORDER BY s.seq) FROM (
    SELECT m.seq AS seq, json_object(
      'id', m.id, 'seq', m.seq, 'sender_id', m.sender_id, 'receiver_id', m.receiver_id, 'content', m.content,
      'message_type', m.message_type, 'status', m.status, 'moderation_status', m.moderation_status,
      'moderation_reason', m.moderation_reason, 'attachments', json(m.attachments), 'metadata', json(m.metadata),
      'is_deleted', json(CASE WHEN m.is_deleted THEN 'true' ELSE 'false' END), 'deleted_at', m.deleted_at,
      'created_at', m.created_at,
      'named', json(CASE WHEN m.id IN (SELECT value FROM json_each(${ids})) THEN 'true' ELSE 'false' END)) AS j
    FROM ${messages} m
    WHERE m.pk IN (
      SELECT pk FROM (SELECT pk FROM ${messages} WHERE conversation_id = ${conversationId} ORDER BY seq DESC LIMIT ${SNAPSHOT_LAST})
      UNION SELECT pk FROM ${messages} WHERE conversation_id = ${conversationId} AND id IN (SELECT value FROM json_each(${ids})))
  ) s)`;
}

export type NewReport = {
  id: string;
  reporterId: string;
  reportedUserId: string;
  conversationId: string;
  reason: ReportReason;
  details: string | null;
  messageIds: string[];
  alsoBlocked: boolean;
  now: string;
};

export const insertReportStatement = (db: Db, r: NewReport) =>
  db.insert(reports).values({
    id: r.id,
    reporterId: r.reporterId,
    reportedUserId: r.reportedUserId,
    conversationId: r.conversationId,
    reason: r.reason,
    details: r.details,
    messageIds: r.messageIds,
    alsoBlocked: r.alsoBlocked,
    snapshot: snapshotOf(r.conversationId, r.messageIds),
    createdAt: r.now,
  });

/** Which of `ids` are messages of the conversation (each a primary-key lookup). */
export const conversationMessageIds = (db: Db, conversationId: string, ids: string[]) =>
  db
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(sql`${messages.id} IN (SELECT value FROM json_each(${idsJson(ids)}))`, sql`+${messages.conversationId} = ${conversationId}`),
    );

export type ReportFilters = {
  status?: "open" | "resolved";
  userId?: string;
  reporterId?: string;
  reason?: ReportReason;
  from?: string;
  to?: string;
};

const whereOf = (f: ReportFilters) =>
  and(
    f.status ? eq(reports.status, f.status) : undefined,
    f.userId ? eq(reports.reportedUserId, f.userId) : undefined,
    f.reporterId ? eq(reports.reporterId, f.reporterId) : undefined,
    f.reason ? eq(reports.reason, f.reason) : undefined,
    f.from ? gte(reports.createdAt, f.from) : undefined,
    f.to ? lte(reports.createdAt, f.to) : undefined,
  );

/** The queue, newest first, each report with the reported user's suspension (a primary-key lookup). */
export const reportPageQuery = (db: Db, f: ReportFilters, page: { offset: number; limit: number }) =>
  db
    .select({ report: reports, suspension: suspensions })
    .from(reports)
    .leftJoin(suspensions, eq(suspensions.userId, reports.reportedUserId))
    .where(whereOf(f))
    .orderBy(desc(reports.createdAt), desc(reports.pk))
    .limit(page.limit)
    .offset(page.offset);

export const reportCountQuery = (db: Db, f: ReportFilters) => db.select({ n: sql<number>`COUNT(*)` }).from(reports).where(whereOf(f));

export const findReport = (db: Db, id: string) => db.select().from(reports).where(eq(reports.id, id)).get();

/** Resolves an open report; a resolved one is left alone (the batch's audit row then is not written). */
export const resolveStatement = (db: Db, id: string, r: { resolution: ReportResolution; note: string; adminId: string; now: string }) =>
  db
    .update(reports)
    .set({ status: "resolved", resolution: r.resolution, resolutionNote: r.note, resolvedBy: r.adminId, resolvedAt: r.now })
    .where(and(eq(reports.id, id), eq(reports.status, "open")))
    .returning();

/**
 * Suspends the reported user, in the resolve's batch, only if the statement before it (the guarded
 * resolve) changed a row: resolving twice never suspends twice.
 */
export const suspendIfResolvedStatement = (db: Db, s: { userId: string; reason: string; adminId: string; now: string }) =>
  db
    .insert(suspensions)
    .select(sql`SELECT ${s.userId}, ${s.reason}, NULL, ${s.adminId}, ${s.now} WHERE changes() > 0`)
    .onConflictDoUpdate({ target: suspensions.userId, set: { reason: s.reason, until: null, adminId: s.adminId, createdAt: s.now } });

/** What the partial index `reports_redaction_idx` says, term for term. */
const AWAITING_REDACTION = sql.raw(`snapshot_redacted_at IS NULL AND resolved_at IS NOT NULL`);

/** Resolved reports past the hold whose snapshot still holds content (the redaction job's range). */
export const dueRedactionsQuery = (db: Db, resolvedBefore: string, limit: number) =>
  db
    .select({ pk: reports.pk })
    .from(reports)
    .where(and(AWAITING_REDACTION, lte(reports.resolvedAt, resolvedBefore)))
    .orderBy(reports.resolvedAt)
    .limit(limit);

/** The snapshot keeps what moderators decided on (ids, who, when, states), without what anyone wrote or attached. */
export const redactSnapshots = (db: Db, pks: number[], now: string) =>
  db
    .update(reports)
    .set({
      snapshot: sql`(SELECT json_group_array(json(json_set(value, '$.content', NULL, '$.attachments', json('[]'), '$.metadata', json('{}'))) ORDER BY key) FROM json_each(${reports.snapshot}))`,
      snapshotRedactedAt: now,
    })
    .where(inArray(reports.pk, pks));
