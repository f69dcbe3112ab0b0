import { sql } from "drizzle-orm";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { Db } from "./client";
import { messages, messagesFtsPending } from "./schema";

/** Rows one indexer batch moves into the full-text index (one D1 batch, so one transaction). */
export const SEARCH_INDEX_BATCH = 1000;

/**
 * The FTS5 table of migration 0001, as far as the indexer writes it. Declared here, not in schema.ts:
 * a virtual table is created by hand-written SQL, and drizzle-kit must not try to create it.
 */
const messagesFts = sqliteTable("messages_fts", { rowid: integer("rowid").notNull(), content: text("content").notNull() });

/**
 * Indexes the oldest pending messages and takes them off the pending list, in one transaction (so a
 * row is never indexed twice or dropped), and answers whether more are pending.
 */
export async function indexPending(db: Db, limit = SEARCH_INDEX_BATCH): Promise<{ indexed: number; more: boolean }> {
  const [, removed, [rest]] = await db.batch(indexPendingStatements(db, limit));
  return { indexed: removed.length, more: !!rest?.more };
}

/** The indexer's batch: copy the oldest pending rows into the index, take them off the list, say whether more wait. */
export function indexPendingStatements(db: Db, limit: number) {
  const batch = sql`SELECT pk FROM ${messagesFtsPending} ORDER BY pk LIMIT ${limit}`;
  return [
    db.insert(messagesFts).select(sql`SELECT m.pk, m.content FROM ${messages} m WHERE m.pk IN (${batch}) ORDER BY m.pk`),
    db.delete(messagesFtsPending).where(sql`${messagesFtsPending.pk} IN (${batch})`).returning({ pk: messagesFtsPending.pk }),
    db.select({ more: sql<number>`EXISTS (SELECT 1 FROM ${messagesFtsPending})` }).from(sql`(SELECT 1)`),
  ] as const;
}
