/**
 * Erasing messages for good: everything a user sent (an admin's erasure, worked through by the
 * user's UserErasure object), and the messages of conversations unmatched longer than
 * REPORT_RETENTION_DAYS ago (the scheduled job). Both delete in keyset chunks and count their D1
 * queries, so no invocation runs past its limit; what is left continues in the next step.
 * Ledger rows stay (amounts are accounting); report snapshots stay under their retention hold.
 */
import type { Db } from "../db/client";
import {
  beginErasureStatement,
  type ChunkRow,
  countRemoved,
  deleteMessagesByPk,
  deletePushStateOf,
  findErasure,
  finishErasure,
  optimizeSearchIndex,
  sentChunkQuery,
  sentCountQuery,
} from "../db/erasure";
import { conversationChunkQuery, dueUnmatchesQuery, markUnmatchErased } from "../db/safety";
import { nowIso } from "../lib/time";
import { deleteAttachmentBytes, deleteUnsentUploadsOf } from "./attachments";
import { type AuditScope, commitWithAudit } from "./audit";

/** Messages per chunk: one DELETE statement (ids as one JSON array), its FTS entries in the same statement. */
export const ERASURE_CHUNK = 1000;
/** D1 queries a chunk may take at most: its read, the attachment rows (2 per 100 messages), the delete and its count. */
const CHUNK_QUERIES = 1 + 2 * Math.ceil(ERASURE_CHUNK / 100) + 2;
/** Kept back for the end of an erasure: the push claims, unsent uploads, the index rewrite, the count. */
const FINISH_QUERIES = 12;

export type ErasureProgress = { user_id: string; removed: number; remaining: number; status: "running" | "done" };

/** `ERASURE_MAX_QUERIES`: D1 queries one step may run (a route call, or one alarm of the UserErasure object). */
export function erasureBudgetOf(env: Env): number {
  const max = Number(env.ERASURE_MAX_QUERIES ?? "400");
  const least = CHUNK_QUERIES + FINISH_QUERIES + 2;
  if (!Number.isInteger(max) || max < least)
    throw new Error(`ERASURE_MAX_QUERIES must be a whole number >= ${least}, got "${env.ERASURE_MAX_QUERIES}"`);
  return max;
}

/** `REPORT_RETENTION_DAYS`: how long unmatched conversations and resolved reports' snapshots are kept. */
export function retentionDaysOf(env: Env): number {
  const days = Number(env.REPORT_RETENTION_DAYS ?? "30");
  if (!Number.isInteger(days) || days < 0)
    throw new Error(`REPORT_RETENTION_DAYS must be a whole number of days >= 0, got "${env.REPORT_RETENTION_DAYS}"`);
  return days;
}

export const retentionCutoff = (env: Env, now: Date) => new Date(now.getTime() - retentionDaysOf(env) * 86_400_000).toISOString();

const hasUpload = (m: ChunkRow) => m.attachments.some((a) => a.attachment_id);

/** Removes one chunk: its attachments' bytes and rows first (never served again), then the messages. Returns the queries it ran. */
async function eraseChunk(db: Db, env: Env, rows: ChunkRow[], counter?: { userId: string }): Promise<number> {
  const withUploads = rows.filter(hasUpload);
  if (withUploads.length) await deleteAttachmentBytes(db, env, withUploads);
  const now = nowIso();
  const pks = rows.map((r) => r.pk);
  if (counter) await db.batch([deleteMessagesByPk(db, pks), countRemoved(db, counter.userId, now)]);
  else await deleteMessagesByPk(db, pks);
  return 2 * Math.ceil(withUploads.length / 100) + 2;
}

/**
 * An admin's erasure of everything `userId` sent, audited (with counts only) in the same write that
 * starts it; then the first step runs at once in the user's UserErasure object, which continues
 * with alarms until nothing is left. Calling again reports the progress (and continues it).
 */
export async function eraseUserMessages(db: Db, env: Env, scope: AuditScope, userId: string): Promise<ErasureProgress> {
  const remaining = Number((await sentCountQuery(db, userId).get())?.n ?? 0);
  const existing = await findErasure(db, userId);
  if (existing?.status === "done" && remaining === 0) {
    scope.details = { messages_remaining: 0, removed: existing.removed };
    return { user_id: userId, removed: existing.removed, remaining: 0, status: "done" };
  }
  await commitWithAudit(db, scope, {
    statements: [beginErasureStatement(db, userId, scope.actor.adminId, nowIso())],
    event: {
      targetType: "user",
      targetId: userId,
      severity: "critical",
      after: { status: "running" },
      details: { messages_remaining: remaining, ...(existing && { removed_before: existing.removed, previous_status: existing.status }) },
    },
    result: () => undefined,
  });
  return env.USER_ERASURE.getByName(userId).run(userId);
}

/**
 * One step of an erasure, within `budget` D1 queries: chunks of the user's sent messages (oldest
 * first), then, once none is left, the push claims of their pairs, their unsent uploads, and a rewrite
 * of the search index (so the erased text leaves its pages too), and the erasure is marked done.
 */
export async function eraseStep(db: Db, env: Env, userId: string, budget: number): Promise<ErasureProgress> {
  let used = 0;
  let exhausted = false;
  while (used + CHUNK_QUERIES + FINISH_QUERIES <= budget) {
    const rows = (await sentChunkQuery(db, userId, ERASURE_CHUNK)) as ChunkRow[];
    used += 1;
    if (rows.length === 0) {
      exhausted = true;
      break;
    }
    used += await eraseChunk(db, env, rows, { userId });
    if (rows.length < ERASURE_CHUNK) {
      exhausted = true;
      break;
    }
  }
  const now = nowIso();
  if (exhausted) {
    await db.batch(deletePushStateOf(db, userId));
    await deleteUnsentUploadsOf(db, env, userId);
    await optimizeSearchIndex(db);
    const [done] = await finishErasure(db, userId, now);
    return { user_id: userId, removed: done?.removed ?? 0, remaining: 0, status: "done" };
  }
  const [erasure, left] = await Promise.all([findErasure(db, userId), sentCountQuery(db, userId).get()]);
  return { user_id: userId, removed: erasure?.removed ?? 0, remaining: Number(left?.n ?? 0), status: "running" };
}

/** D1 queries the retention job may run per scheduled invocation (the attachments purge runs beside it). */
export const RETENTION_MAX_QUERIES = 300;

/**
 * The scheduled job: the messages of conversations unmatched more than REPORT_RETENTION_DAYS ago are
 * erased (attachments, search entries and the pair's push claims with them), oldest unmatch first,
 * within RETENTION_MAX_QUERIES queries; the next run continues where this one stopped.
 */
export async function eraseUnmatchedConversations(db: Db, env: Env, now: Date, budget = RETENTION_MAX_QUERIES) {
  const cutoff = retentionCutoff(env, now);
  let used = 0;
  let removed = 0;
  let conversations = 0;
  outer: while (used + CHUNK_QUERIES + 3 <= budget) {
    const due = await dueUnmatchesQuery(db, cutoff, 20);
    used += 1;
    if (due.length === 0) break;
    for (const pair of due) {
      for (;;) {
        if (used + CHUNK_QUERIES + 3 > budget) break outer;
        const rows = (await conversationChunkQuery(db, pair.conversationId, ERASURE_CHUNK)) as ChunkRow[];
        used += 1;
        if (rows.length) {
          used += await eraseChunk(db, env, rows);
          removed += rows.length;
        }
        if (rows.length < ERASURE_CHUNK) break;
      }
      await markUnmatchErased(db, pair.conversationId, [pair.userId, pair.partnerId], nowIso());
      used += 2;
      conversations++;
    }
  }
  if (removed > 0) await optimizeSearchIndex(db);
  return { conversations, removed };
}
