import { and, desc, eq, getTableColumns, gt, gte, lt, lte, sql } from "drizzle-orm";
import type { Db } from "./client";
import { type AuditRow, auditLog } from "./schema";

export type NewAuditRow = typeof auditLog.$inferInsert;

export async function chainHead(db: Db): Promise<string | undefined> {
  const row = await db.select({ hash: auditLog.hash }).from(auditLog).orderBy(desc(auditLog.pk)).limit(1).get();
  return row?.hash;
}

export const insertAuditRow = (db: Db, row: NewAuditRow) => db.insert(auditLog).values(row);

/**
 * The audit row of a change, written only if the statement just before it in the batch changed a
 * row (`changes()`): a guard inside that statement that refuses (a race lost) leaves no row claiming
 * a change that did not happen.
 */
export function insertAuditRowIfChanged(db: Db, row: NewAuditRow) {
  // INSERT … SELECT lists every column in table order; pk is left to AUTOINCREMENT.
  const values = Object.keys(getTableColumns(auditLog)).map((key) =>
    key === "pk" ? sql`NULL` : sql`${(row as Record<string, unknown>)[key] ?? null}`,
  );
  return db.insert(auditLog).select(sql`SELECT ${sql.join(values, sql`, `)} WHERE changes() > 0`);
}

export type AuditFilter = { adminId?: string; action?: string; targetId?: string; from?: string; to?: string };

/** Newest first; each filter rides its own (column, pk) index. */
export async function auditPage(db: Db, f: AuditFilter, page: { beforePk?: number; limit: number }): Promise<AuditRow[]> {
  return db
    .select()
    .from(auditLog)
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

/** Oldest first, for walking the hash chain in pages. */
export async function auditChainPage(db: Db, afterPk: number, limit: number): Promise<AuditRow[]> {
  return db.select().from(auditLog).where(gt(auditLog.pk, afterPk)).orderBy(auditLog.pk).limit(limit);
}
