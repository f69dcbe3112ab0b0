import { and, desc, eq, getTableColumns, gt, gte, lt, lte, type SQL, sql } from "drizzle-orm";
import type { Db } from "./client";
import { type AuditRow, auditLog, auditSeals, creditBalances, messages } from "./schema";

export type NewAuditRow = typeof auditLog.$inferInsert;

/** Row fields computed by SQL as the change's batch runs (JSON text), in place of bound values. */
export type ComputedAuditFields = Partial<Record<"before" | "after" | "details", SQL>>;

/**
 * The audit row of a change, as one statement of the change's own batch. Plain, it is an INSERT of
 * bound values. Otherwise an INSERT … SELECT listing every column in table order (pk is left to
 * AUTOINCREMENT), so that:
 * - `computed` fields are read by SQL inside the batch (a before-state no racing writer can change);
 * - `from` (`<table> WHERE …`) writes the row only if the batch finds the row the change acts on;
 * - `onlyIf` writes it only if that condition holds when the statement runs.
 */
export function auditRowStatement(db: Db, row: NewAuditRow, how: { computed?: ComputedAuditFields; from?: SQL; onlyIf?: SQL } = {}) {
  if (!how.computed && !how.from && !how.onlyIf) return db.insert(auditLog).values(row);
  const computed: Record<string, SQL | undefined> = { ...how.computed };
  const values = Object.keys(getTableColumns(auditLog)).map(
    (key) => computed[key] ?? (key === "pk" ? sql`NULL` : sql`${(row as Record<string, unknown>)[key] ?? null}`),
  );
  const tail = how.from ? sql` FROM ${how.from}` : how.onlyIf ? sql` WHERE ${how.onlyIf}` : sql``;
  return db.insert(auditLog).select(sql`SELECT ${sql.join(values, sql`, `)}${tail}`);
}

/**
 * Placed right after a guarded statement: true only if that statement changed a row, so a guard
 * that refuses (a race lost) leaves no audit row claiming a change that did not happen.
 */
export const CHANGED = sql`changes() > 0`;

/**
 * A throttled caller's row, written only if they have none of status 429 since `windowStart`
 * (`audit_log_throttled_idx`): the first throttled call of a window is recorded, later ones are not.
 * One statement, so two racing throttled calls cannot both write.
 */
export function auditRowOncePerWindow(db: Db, row: NewAuditRow, windowStart: string) {
  const seen = db
    .select({ one: sql`1` })
    .from(auditLog)
    .where(and(eq(auditLog.adminId, row.adminId), sql`${auditLog.statusCode} = 429`, gte(auditLog.createdAt, windowStart)));
  return auditRowStatement(db, row, { onlyIf: sql`NOT EXISTS ${seen}` });
}

/**
 * What audit rows record of the rows a change acts on, read by SQL inside the change's batch (with
 * the audit row placed before the change): a state no racing writer can have moved meanwhile.
 */
export const auditSnapshots = {
  /** The message a moderation or hard delete acts on: `from` of the audit row. */
  message: (id: string) => sql`${messages} WHERE ${eq(messages.id, id)}`,
  moderation: sql`json_object('moderation_status', ${messages.moderationStatus}, 'moderation_reason', ${messages.moderationReason})`,
  /**
   * A message as a hard delete records it: its state, never its text, attachments or metadata (what
   * the sender wrote); `content` (the text's digest, computed by the caller) stands for the text.
   */
  deletedMessage: (content: { content_sha256: string; content_length: number }) => sql`json_object(
    'id', ${messages.id}, 'conversation_id', ${messages.conversationId}, 'seq', ${messages.seq},
    'sender_id', ${messages.senderId}, 'receiver_id', ${messages.receiverId},
    'content_sha256', ${content.content_sha256}, 'content_length', ${content.content_length},
    'message_type', ${messages.messageType}, 'attachment_count', json_array_length(${messages.attachments}),
    'status', ${messages.status}, 'delivered_at', ${messages.deliveredAt}, 'read_at', ${messages.readAt},
    'moderation_status', ${messages.moderationStatus}, 'moderation_reason', ${messages.moderationReason},
    'is_deleted', json(CASE WHEN ${messages.isDeleted} THEN 'true' ELSE 'false' END), 'deleted_at', ${messages.deletedAt},
    'credits_cost', ${messages.creditsCost}, 'credits_transaction_id', ${messages.creditsTransactionId},
    'created_at', ${messages.createdAt}, 'updated_at', ${messages.updatedAt})`,
  /** A user's balance as JSON, plus `amount` (a grant's after-state: the batch adds exactly that). */
  balance: (userId: string, amount = 0, extra: Record<string, string> = {}) =>
    sql`json_object('balance', coalesce((SELECT ${creditBalances.balance} FROM ${creditBalances} WHERE ${creditBalances.userId} = ${userId}), 0) + CAST(${amount} AS INTEGER)${sql.join(
      Object.entries(extra).map(([k, v]) => sql`, ${k}, ${v}`),
    )})`,
};

export type AuditFilter = { adminId?: string; action?: string; targetId?: string; from?: string; to?: string };

const sealColumns = { prevHash: auditSeals.prevHash, hash: auditSeals.hash, keyId: auditSeals.keyId };
/** An audit row with its seal (null fields while it is not sealed yet). */
export type SealedAuditRow = AuditRow & { prevHash: string | null; hash: string | null; keyId: string | null };

/** Newest first; each filter rides its own (column, pk) index; the seal is one primary-key lookup. */
export function auditPage(db: Db, f: AuditFilter, page: { beforePk?: number; limit: number }) {
  return db
    .select({ ...getTableColumns(auditLog), ...sealColumns })
    .from(auditLog)
    .leftJoin(auditSeals, eq(auditSeals.auditPk, auditLog.pk))
    .where(
      and(
        f.adminId ? eq(auditLog.adminId, f.adminId) : undefined,
        f.action ? eq(auditLog.action, f.action) : undefined,
        f.targetId ? eq(auditLog.targetId, f.targetId) : undefined,
        f.from ? gte(auditLog.createdAt, f.from) : undefined,
        f.to ? lte(auditLog.createdAt, f.to) : undefined,
        page.beforePk === undefined ? undefined : lt(auditLog.pk, page.beforePk),
      ),
    )
    .orderBy(desc(auditLog.pk))
    .limit(page.limit);
}

/** Oldest first, each row with its seal if it has one: verification walks this in pages. */
export function auditChainPage(db: Db, afterPk: number, limit: number) {
  return db
    .select({ ...getTableColumns(auditLog), ...sealColumns })
    .from(auditLog)
    .leftJoin(auditSeals, eq(auditSeals.auditPk, auditLog.pk))
    .where(gt(auditLog.pk, afterPk))
    .orderBy(auditLog.pk)
    .limit(limit);
}

/** The last seal written: where the sealer continues. (Builders, run with `.get()`, so tests can EXPLAIN them.) */
export const lastSeal = (db: Db) =>
  db.select({ pk: auditSeals.auditPk, hash: auditSeals.hash }).from(auditSeals).orderBy(desc(auditSeals.auditPk)).limit(1);

export const sealOf = (db: Db, pk: number) =>
  db.select({ pk: auditSeals.auditPk, hash: auditSeals.hash }).from(auditSeals).where(eq(auditSeals.auditPk, pk));

/** Rows after `afterPk`, oldest first: the unsealed tail when `afterPk` is the last seal's. */
export const rowsAfter = (db: Db, afterPk: number, limit: number) =>
  db.select().from(auditLog).where(gt(auditLog.pk, afterPk)).orderBy(auditLog.pk).limit(limit);

export type NewSeal = { pk: number; prevHash: string; hash: string };

/**
 * A page of seals as ONE statement: the seals travel as one JSON array (json_each), so a page is not
 * bounded by D1's 100 bound parameters. A seal whose row or predecessor is already sealed collides on
 * the primary key or UNIQUE(prev_hash) and the whole page is refused: the chain cannot fork.
 */
export function insertSeals(db: Db, seals: NewSeal[], keyId: string, sealedAt: string) {
  const page = JSON.stringify(seals.map((s) => [s.pk, s.prevHash, s.hash]));
  return db.run(sql`INSERT INTO ${auditSeals} (audit_pk, prev_hash, hash, key_id, sealed_at)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ${keyId}, ${sealedAt}
    FROM json_each(${page})`);
}
