/**
 * Blocks, unmatches and suspensions: the rules. The send's guard is built here and composed into
 * the send batch by db/messages.ts; the sockets and the lists follow each change right after its
 * commit (services/realtime.ts tells the room and the inboxes).
 */

import { z } from "@hono/zod-openapi";
import { SEND_BURST_PERIOD_SECONDS, SEND_MINUTE_PERIOD_SECONDS, sendLimitsOf } from "../config";
import type { Db } from "../db/client";
import {
  blockPageQuery,
  deleteBlock,
  deleteSuspensionStatement,
  findBlock,
  findSuspension,
  insertBlockStatement,
  isSuspended,
  pairState,
  type SendGuard,
  suspensionSnapshot,
  unmatchStatements,
  upsertSuspensionStatement,
} from "../db/safety";
import type { BlockRow, SendRefusal, SuspensionRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { findContactDetails } from "../lib/contact-details";
import { decodeCursor } from "../lib/cursor";
import { conversationIdOf } from "../lib/ids";
import { pageOf } from "../lib/paging";
import { nowIso } from "../lib/time";
import type { SuspendBody } from "../schemas/safety";
import { type AuditScope, commitWithAudit } from "./audit";
import { pairChanged, suspensionChanged } from "./realtime";

export type SafetyDeps = { db: Db; env: Env };

/** `FIRST_CONTACT_LIMIT`: messages a sender may send before the receiver replies; empty or 0 turns the rule off. */
export function firstContactLimitOf(env: Env): number {
  const raw = (env.FIRST_CONTACT_LIMIT ?? "").trim();
  if (raw === "") return 0;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 0) throw new Error(`FIRST_CONTACT_LIMIT must be empty or a whole number >= 0, got "${raw}"`);
  return limit;
}

/**
 * The send's guard, for db/messages.ts to put in the send batch. The content check is done here, in
 * the Worker (a pure function), and only its verdict goes into the SQL: whether this message could
 * be a first message at all (plain text, no attachments, no links or contact details).
 */
export function sendGuardFor(
  env: Env,
  senderId: string,
  m: { receiverId: string; content: string; messageType: string; attachmentCount: number },
  now: string,
): SendGuard {
  const limit = firstContactLimitOf(env);
  const { burst, minute } = sendLimitsOf(env);
  const at = Date.parse(now);
  const guard: SendGuard = {
    senderId,
    receiverId: m.receiverId,
    now,
    rate: {
      burst,
      burstSince: new Date(at - SEND_BURST_PERIOD_SECONDS * 1000).toISOString(),
      minute,
      minuteSince: new Date(at - SEND_MINUTE_PERIOD_SECONDS * 1000).toISOString(),
    },
  };
  if (limit > 0) {
    const restricted = m.messageType !== "text" || m.attachmentCount > 0 || findContactDetails(m.content) !== null;
    guard.firstContact = { limit, restricted };
  }
  return guard;
}

const unreachable = () => notFound("This user cannot be reached");

/** The answer to a refused send. None of them is ever charged (the batch that would have charged failed whole). */
export function refusalError(reason: SendRefusal, env: Env): AppError {
  switch (reason) {
    case "rate_burst":
    case "rate_minute": {
      // A sliding window: after a whole period every message it counted has left it.
      const retryAfter = reason === "rate_burst" ? SEND_BURST_PERIOD_SECONDS : SEND_MINUTE_PERIOD_SECONDS;
      return new AppError(
        "rate_limited",
        "Too many messages; slow down",
        { retry_after_seconds: retryAfter },
        { "Retry-After": String(retryAfter) },
      );
    }
    case "suspended":
      return new AppError("forbidden", "Your account is suspended: you can read, but not send messages", { reason: "suspended" });
    case "unmatched":
    case "blocked":
      // Exactly what any user one may not reach gets: nothing tells a block from an unmatch or a stranger.
      return unreachable();
    case "blocking":
      return new AppError("conflict", "You blocked this user; unblock them to send messages", { reason: "blocking" });
    case "first_contact_limit": {
      const limit = firstContactLimitOf(env);
      return new AppError("forbidden", `Until they reply you can send ${limit} message${limit === 1 ? "" : "s"}`, {
        reason: "first_contact",
        rule: "limit",
        limit,
      });
    }
    case "first_contact_content":
      return new AppError("forbidden", "Until they reply, send text only: no photos, links or contact details", {
        reason: "first_contact",
        rule: "content",
      });
  }
}

const notYourself = (what: string) =>
  new AppError("validation_failed", `You cannot ${what} yourself`, { user_id: ["must not be your own user id"] });

// ---- blocks ----------------------------------------------------------------------------------

export const toBlockView = (b: BlockRow) => ({ user_id: b.blockedId, created_at: b.createdAt });

/**
 * Blocks `blockedId` (idempotent: an existing block stands with its first time). After the commit
 * the room closes both users' sockets on the conversation and refuses new ones, and the blocker's
 * inboxes drop the conversation; the blocked user is told nothing.
 */
export async function block({ db, env }: SafetyDeps, blockerId: string, blockedId: string) {
  if (blockerId === blockedId) throw notYourself("block");
  const [inserted] = await insertBlockStatement(db, blockerId, blockedId, nowIso());
  const row = inserted ?? (await findBlock(db, blockerId, blockedId));
  if (!row) throw new AppError("conflict", "The block was removed meanwhile; block again"); // an unblock raced us
  await afterBlock(env, blockerId, blockedId);
  return { block: row, created: inserted !== undefined };
}

/** What follows a block's commit (also a report's `block: true`). */
export const afterBlock = (env: Env, blockerId: string, blockedId: string) =>
  pairChanged(env, conversationIdOf(blockerId, blockedId), [
    { userId: blockerId, partnerId: blockedId, change: "removed", reason: "blocked" },
  ]);

/** Lifts the block (idempotent). The conversation comes back to the blocker's list, history included. */
export async function unblock({ db, env }: SafetyDeps, blockerId: string, blockedId: string) {
  if (blockerId === blockedId) throw notYourself("unblock");
  await deleteBlock(db, blockerId, blockedId);
  await pairChanged(env, conversationIdOf(blockerId, blockedId), [{ userId: blockerId, partnerId: blockedId, change: "restored" }]);
  return { user_id: blockedId, blocked: false as const };
}

const BlockCursor = z.object({ a: z.string().min(1), u: z.string().min(1) });

export async function listBlocks({ db }: SafetyDeps, blockerId: string, page: { limit: number; before?: string }) {
  const cursor = page.before ? decodeCursor(page.before, BlockCursor) : undefined;
  const rows = await blockPageQuery(db, blockerId, { before: cursor && { at: cursor.a, userId: cursor.u }, limit: page.limit + 1 });
  const { items, nextCursor, hasMore } = pageOf(rows, page.limit, (b) => ({ a: b.createdAt, u: b.blockedId }));
  return { blocks: items.map(toBlockView), next_cursor: nextCursor, has_more: hasMore };
}

// ---- unmatch ---------------------------------------------------------------------------------

/**
 * Ends the conversation for both, for good (idempotent: the first unmatch's time stands). Both lists
 * lose it in the same write; after the commit both users' sockets on it close and both inboxes drop
 * it. The messages stay for REPORT_RETENTION_DAYS (reports, moderators), then the scheduled job
 * erases them.
 */
export async function unmatch({ db, env }: SafetyDeps, userId: string, partnerId: string) {
  if (userId === partnerId) throw notYourself("unmatch");
  const conversationId = conversationIdOf(userId, partnerId);
  const [, , stored] = await db.batch(unmatchStatements(db, { userId, partnerId, conversationId, now: nowIso() }));
  const row = stored[0];
  if (!row) throw new Error("unmatch row missing after its batch");
  await pairChanged(env, conversationId, [
    { userId, partnerId, change: "removed", reason: "unmatched" },
    { userId: partnerId, partnerId: userId, change: "removed", reason: "unmatched" },
  ]);
  return { partner_id: partnerId, unmatched_at: row.unmatchedAt };
}

/**
 * History is a read, so a read may decide it: a conversation the caller blocks (until they unblock)
 * or that was unmatched answers 404 exactly like one that never existed.
 */
export async function assertConversationVisible(db: Db, userId: string, partnerId: string): Promise<void> {
  const state = await pairState(db, userId, partnerId, nowIso());
  if (state.blocks || state.unmatched) throw notFound("Conversation not found");
}

/** Whether anything stands between two users now (push, attachments): either's block, an unmatch, or the sender's suspension. */
export async function mayReach(db: Db, senderId: string, receiverId: string): Promise<boolean> {
  const state = await pairState(db, senderId, receiverId, nowIso());
  return !(state.blocks || state.blockedBy || state.unmatched || state.suspended);
}

/** Whether `userId` is suspended now: an inbox upgrade is closed at once with 4403 then (rooms read it in their join). */
export const isSuspendedNow = (db: Db, userId: string) => isSuspended(db, userId, nowIso());

// ---- suspensions -----------------------------------------------------------------------------

export const toSuspensionView = (userId: string, s: SuspensionRow | undefined) =>
  s
    ? { user_id: userId, suspended: true as const, reason: s.reason, until: s.until, created_at: s.createdAt }
    : { user_id: userId, suspended: false as const, reason: null, until: null, created_at: null };

/**
 * Suspends a user (or changes an existing suspension), audited in the same write. Their sends are
 * refused from this commit on (the send guard reads the row); then every socket of theirs closes.
 */
export async function suspend(db: Db, env: Env, scope: AuditScope, userId: string, body: SuspendBody) {
  const now = nowIso();
  if (body.until && body.until <= now)
    throw new AppError("validation_failed", "`until` must be in the future", { until: ["must be in the future"] });
  const row = await commitWithAudit(db, scope, {
    statements: [
      upsertSuspensionStatement(db, { userId, reason: body.reason, until: body.until ?? null, adminId: scope.actor.adminId, now }),
    ],
    computed: { before: suspensionSnapshot(userId) },
    event: {
      targetType: "user",
      targetId: userId,
      severity: "warning",
      after: { suspended: true, reason: body.reason, until: body.until ?? null },
    },
    result: (results) => (results[0] as SuspensionRow[])[0],
  });
  await suspensionChanged(env, userId, row?.until ? Date.parse(row.until) : Number.POSITIVE_INFINITY);
  return toSuspensionView(userId, row);
}

/** Lifts a suspension (idempotent), audited with what it lifted. */
export async function unsuspend(db: Db, env: Env, scope: AuditScope, userId: string) {
  await commitWithAudit(db, scope, {
    statements: [deleteSuspensionStatement(db, userId)],
    computed: { before: suspensionSnapshot(userId) },
    event: { targetType: "user", targetId: userId, severity: "warning", after: { suspended: false } },
    result: () => undefined,
  });
  await suspensionChanged(env, userId, null);
  return toSuspensionView(userId, undefined);
}

export async function suspensionOf(db: Db, userId: string) {
  return (await findSuspension(db, userId).get()) ?? undefined;
}
