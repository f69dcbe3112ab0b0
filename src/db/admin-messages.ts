import { and, desc, eq, gt, gte, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "./client";
import { MESSAGE_STATUSES, MESSAGE_TYPES, type MessageRow, MODERATION_STATUSES, type ModerationStatus, messages } from "./schema";

/** Search and export filters, already validated; `match` is an FTS5 query built from user words. */
export type Filters = {
  userId?: string;
  senderId?: string;
  receiverId?: string;
  match?: string;
  moderationStatus?: MessageRow["moderationStatus"];
  messageType?: MessageRow["messageType"];
  status?: MessageRow["status"];
  from?: string;
  to?: string;
  includeDeleted: boolean;
};

function whereOf(f: Filters, extra?: SQL): SQL | undefined {
  return and(
    f.userId ? or(eq(messages.senderId, f.userId), eq(messages.receiverId, f.userId)) : undefined,
    f.senderId ? eq(messages.senderId, f.senderId) : undefined,
    f.receiverId ? eq(messages.receiverId, f.receiverId) : undefined,
    // The FTS index answers the words; the row filters apply to what it returns.
    f.match ? sql`${messages.pk} IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ${f.match})` : undefined,
    f.moderationStatus ? eq(messages.moderationStatus, f.moderationStatus) : undefined,
    f.messageType ? eq(messages.messageType, f.messageType) : undefined,
    f.status ? eq(messages.status, f.status) : undefined,
    f.from ? gte(messages.createdAt, f.from) : undefined,
    f.to ? lte(messages.createdAt, f.to) : undefined,
    f.includeDeleted ? undefined : eq(messages.isDeleted, false),
    extra,
  );
}

/**
 * Newest first by (created_at, pk): every filter's index ends in created_at (or is it), so pages are
 * read in index order and only ties need sorting. Ordering by pk alone made SQLite walk a whole
 * created_at range and sort it, for every page.
 */
const NEWEST_FIRST = [desc(messages.createdAt), desc(messages.pk)];

/** Offset-paged, as the contract's `page`/`limit` ask. */
export const searchPage = (db: Db, f: Filters, page: { offset: number; limit: number }) =>
  db
    .select()
    .from(messages)
    .where(whereOf(f))
    .orderBy(...NEWEST_FIRST)
    .limit(page.limit)
    .offset(page.offset);

export const searchCount = (db: Db, f: Filters) => db.select({ n: sql<number>`COUNT(*)` }).from(messages).where(whereOf(f));

export type ExportCursor = { createdAt: string; pk: number };

/** Rows after `after` in newest-first order: older, or as old with a lower pk. */
const olderThan = (after: ExportCursor) =>
  and(lte(messages.createdAt, after.createdAt), or(lt(messages.createdAt, after.createdAt), lt(messages.pk, after.pk)));

/** Rows up to and including `until` in newest-first order: newer, or as new with a pk at least its. */
const notOlderThan = (until: ExportCursor) =>
  and(gte(messages.createdAt, until.createdAt), or(gt(messages.createdAt, until.createdAt), gte(messages.pk, until.pk)));

/** One keyset page of an export: never an offset, so the last page costs what the first costs. */
export const exportPage = (db: Db, f: Filters, range: { after?: ExportCursor; until?: ExportCursor }, limit: number) =>
  db
    .select()
    .from(messages)
    .where(whereOf(f, and(range.after && olderThan(range.after), range.until && notOlderThan(range.until))))
    .orderBy(...NEWEST_FIRST)
    .limit(limit);

/**
 * Where an export part of `rows` rows starting after `after` ends: the position of its last row, and
 * whether any row follows it. One query along the same index as the pages (positions only, no rows).
 */
export const exportBoundary = (db: Db, f: Filters, after: ExportCursor | undefined, rows: number) =>
  db
    .select({ createdAt: messages.createdAt, pk: messages.pk })
    .from(messages)
    .where(whereOf(f, after && olderThan(after)))
    .orderBy(...NEWEST_FIRST)
    .limit(2)
    .offset(rows - 1);

export const moderateStatement = (db: Db, id: string, status: ModerationStatus, reason: string | null, now: string) =>
  db
    .update(messages)
    .set({ moderationStatus: status, moderationReason: reason, moderatedAt: now, updatedAt: now })
    .where(eq(messages.id, id))
    .returning();

/** Removes the row; the FTS trigger removes its index entry in the same transaction. */
export const hardDeleteStatement = (db: Db, id: string) => db.delete(messages).where(eq(messages.id, id)).returning();

/** `<column>.<value>` → how many rows in the range have it, for every value of the column's enum. */
function countsBy(column: "status" | "message_type" | "moderation_status", values: readonly string[]) {
  return Object.fromEntries(values.map((v) => [`${column}.${v}`, sql<number>`coalesce(SUM(${sql.raw(`${column} = '${v}'`)}), 0)`]));
}

/** Every total of the overview in one pass over the covering (created_at, …) index. */
export const rangeTotals = (db: Db, from: string, to: string) =>
  db
    .select({
      messages: sql<number>`COUNT(*)`,
      deleted: sql<number>`coalesce(SUM(is_deleted), 0)`,
      activeSenders: sql<number>`COUNT(DISTINCT sender_id)`,
      ...countsBy("status", MESSAGE_STATUSES),
      ...countsBy("message_type", MESSAGE_TYPES),
      ...countsBy("moderation_status", MODERATION_STATUSES),
    })
    .from(messages)
    .where(and(gte(messages.createdAt, from), lte(messages.createdAt, to)));

export const perDay = (db: Db, from: string, to: string) =>
  db
    .select({ date: sql<string>`substr(created_at, 1, 10)`.as("date"), messages: sql<number>`COUNT(*)` })
    .from(messages)
    .where(and(gte(messages.createdAt, from), lte(messages.createdAt, to)))
    .groupBy(sql`substr(created_at, 1, 10)`)
    .orderBy(sql`substr(created_at, 1, 10)`);
