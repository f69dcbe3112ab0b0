/**
 * The SQL of erasing messages: a user's (an admin's erasure) or an unmatched conversation's (the
 * retention job). Messages leave in keyset chunks, each one statement whose ids travel as one JSON
 * array; the FTS trigger removes their index entries in the same statement.
 */
import { eq, sql } from "drizzle-orm";
import type { Db } from "./client";
import { conversationMembers, erasures, messages, pushState, unmatches } from "./schema";

export type ChunkRow = { pk: number; id: string; attachments: { attachment_id?: string }[] };

/** The next chunk of what a user sent, oldest first (a range of the (sender_id, created_at) index). */
export const sentChunkQuery = (db: Db, senderId: string, limit: number) =>
  db
    .select({ pk: messages.pk, id: messages.id, attachments: messages.attachments })
    .from(messages)
    .where(eq(messages.senderId, senderId))
    .orderBy(messages.createdAt)
    .limit(limit);

/** How many messages a user still has sent (counted along the same index, never the rows). */
export const sentCountQuery = (db: Db, senderId: string) =>
  db.select({ n: sql<number>`COUNT(*)` }).from(messages).where(eq(messages.senderId, senderId));

export const deleteMessagesByPk = (db: Db, pks: number[]) =>
  db.delete(messages).where(sql`${messages.pk} IN (SELECT value FROM json_each(${JSON.stringify(pks)}))`);

/** The running erasure of a user, begun (or begun again: a user may have sent more since the last one finished). */
export const beginErasureStatement = (db: Db, userId: string, requestedBy: string, now: string) =>
  db
    .insert(erasures)
    .values({ userId, status: "running", removed: 0, requestedBy, startedAt: now, updatedAt: now })
    .onConflictDoUpdate({
      target: erasures.userId,
      set: {
        status: "running",
        requestedBy,
        updatedAt: now,
        // A finished erasure starts counting afresh; a running one keeps its count.
        removed: sql`CASE WHEN ${erasures.status} = 'done' THEN 0 ELSE ${erasures.removed} END`,
        startedAt: sql`CASE WHEN ${erasures.status} = 'done' THEN excluded.started_at ELSE ${erasures.startedAt} END`,
        finishedAt: null,
      },
    });

/** Counts what the DELETE just before it in the batch removed (`changes()` of that statement). */
export const countRemoved = (db: Db, userId: string, now: string) =>
  db
    .update(erasures)
    .set({ removed: sql`${erasures.removed} + changes()`, updatedAt: now })
    .where(eq(erasures.userId, userId));

export const finishErasure = (db: Db, userId: string, now: string) =>
  db.update(erasures).set({ status: "done", finishedAt: now, updatedAt: now }).where(eq(erasures.userId, userId)).returning();

export const findErasure = (db: Db, userId: string) => db.select().from(erasures).where(eq(erasures.userId, userId)).get();

/**
 * The push claims of every pair the user is in (only seqs, but they name the pair): as receiver (a
 * primary-key range), and their partners' claims on conversations with them.
 */
export const deletePushStateOf = (db: Db, userId: string) =>
  [
    db.delete(pushState).where(eq(pushState.receiverId, userId)),
    db.delete(pushState).where(
      sql`(${pushState.receiverId}, ${pushState.conversationId}) IN (
      SELECT ${conversationMembers.partnerId}, ${conversationMembers.conversationId} FROM ${conversationMembers} WHERE ${conversationMembers.userId} = ${userId}
      UNION SELECT ${unmatches.partnerId}, ${unmatches.conversationId} FROM ${unmatches} WHERE ${unmatches.userId} = ${userId})`,
    ),
  ] as const;

/**
 * Rewrites the full-text index into one segment. A deleted row's terms stay in the index's pages
 * (marked deleted) until segments merge; only this makes erased text leave the shadow tables.
 */
export const optimizeSearchIndex = (db: Db) => db.run(sql`INSERT INTO messages_fts(messages_fts) VALUES ('optimize')`);
