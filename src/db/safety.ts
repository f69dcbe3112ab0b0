/**
 * The SQL of blocks, unmatches and suspensions. The send's guard is a statement of the send's own
 * batch (composed by db/messages.ts from services/safety.ts), so no race lets a message past a
 * block, an unmatch or a suspension that committed before it.
 */
import { and, desc, eq, gt, lte, type SQL, type SQLWrapper, sql } from "drizzle-orm";
import type { Db } from "./client";
import type { Constraint } from "./constraints";
import { bindPrepared, d1Of, filled, prepareOnce } from "./prepared";
import { type Presence, presenceWhen } from "./presence";
import {
  blocks,
  conversationMembers,
  conversations,
  messages,
  pushState,
  roomVisits,
  SEND_REFUSALS,
  type SendRefusal,
  sendRefusals,
  suspensions,
  unmatches,
} from "./schema";

/**
 * What the send's guard needs to know: the send limits (at most `burst` messages since `burstSince`,
 * `minute` since `minuteSince`); `firstContact` is absent when the rule is off.
 */
export type SendGuard = {
  senderId: string;
  receiverId: string;
  now: string;
  rate: { burst: number; burstSince: string; minute: number; minuteSince: string };
  firstContact?: { limit: number; restricted: boolean };
};

/** SQL true while `userId` is suspended at `now` (a primary-key lookup). */
export const suspendedNow = (userId: SQLWrapper | string, now: SQLWrapper | string) =>
  sql`EXISTS (SELECT 1 FROM ${suspensions} WHERE ${suspensions.userId} = ${userId} AND (${suspensions.until} IS NULL OR ${suspensions.until} > ${now}))`;

/** SQL true when `blocker` blocks `blocked` (a primary-key lookup). */
export const blocking = (blocker: SQLWrapper | string, blocked: SQLWrapper | string) =>
  sql`EXISTS (SELECT 1 FROM ${blocks} WHERE ${blocks.blockerId} = ${blocker} AND ${blocks.blockedId} = ${blocked})`;

const unmatched = (userId: SQLWrapper | string, partnerId: SQLWrapper | string) =>
  sql`EXISTS (SELECT 1 FROM ${unmatches} WHERE ${unmatches.userId} = ${userId} AND ${unmatches.partnerId} = ${partnerId})`;

/**
 * SQL true when `userId` sent more than `cap` messages after `since`, the one this batch just inserted
 * included: one range of `messages_sender_created_idx`, read no further than cap + 1 entries.
 */
const sentMoreThan = (userId: SQLWrapper, since: SQLWrapper, cap: SQLWrapper) =>
  sql`(SELECT count(*) FROM (SELECT 1 FROM ${messages} WHERE ${messages.senderId} = ${userId} AND ${messages.createdAt} > ${since} LIMIT ${cap} + 1)) > ${cap}`;

const sentBy = (userId: SQLWrapper | string, partnerId: SQLWrapper | string) =>
  sql`coalesce((SELECT ${conversationMembers.sentCount} FROM ${conversationMembers} WHERE ${conversationMembers.userId} = ${userId} AND ${conversationMembers.partnerId} = ${partnerId}), 0)`;

/**
 * The first reason that refuses this send, as one CASE of index lookups, in this order: the send
 * limits (a burst, then the minute: the sender's own messages, so they reveal nothing); the sender
 * is suspended; the pair is unmatched; the sender blocks the receiver; the receiver blocks the
 * sender; first contact (the receiver never wrote back, and this message is not plain
 * text or the sender already sent `limit`). Suspension comes first so a suspended user cannot probe
 * who blocked them; the sender's own block before the receiver's so it never reveals the other's.
 */
function firstRefusal(withFirstContact: boolean): SQL {
  const [s, r, now] = [sql.placeholder("senderId"), sql.placeholder("receiverId"), sql.placeholder("now")];
  const firstContact = withFirstContact
    ? sql` WHEN ${sentBy(r, s)} = 0 THEN CASE WHEN ${sql.placeholder("restricted")} = 1 THEN 'first_contact_content' WHEN ${sentBy(s, r)} >= ${sql.placeholder("limit")} THEN 'first_contact_limit' END`
    : sql``;
  const P = sql.placeholder;
  const rate = sql`WHEN ${sentMoreThan(s, P("burstSince"), P("burst"))} THEN 'rate_burst' WHEN ${sentMoreThan(s, P("minuteSince"), P("minute"))} THEN 'rate_minute'`;
  return sql`CASE ${rate} WHEN ${suspendedNow(s, now)} THEN 'suspended' WHEN ${unmatched(s, r)} THEN 'unmatched' WHEN ${blocking(s, r)} THEN 'blocking' WHEN ${blocking(r, s)} THEN 'blocked'${firstContact} END`;
}

/** The guard in its two shapes (the first-contact rule off or on), built once per isolate. */
const guardOf = (withFirstContact: boolean) =>
  prepareOnce((db) =>
    db.insert(sendRefusals).select(sql`SELECT reason FROM (SELECT ${firstRefusal(withFirstContact)} AS reason) WHERE reason IS NOT NULL`),
  );
const GUARD = { plain: guardOf(false), firstContact: guardOf(true) };

/**
 * One statement for the send batch: inserts the first refusal that applies into the always-empty
 * `send_refusals`, whose CHECK for that reason then fails the whole batch (message, charge and all).
 * When nothing applies it inserts nothing.
 */
export const sendGuardStatement = (d1: D1Database, g: SendGuard) => {
  const { sql: text, params } = sendGuardQuery(g);
  return d1.prepare(text).bind(...params);
};

/** The guard's SQL and parameters for one send (what the EXPLAIN tests read). */
export const sendGuardQuery = (g: SendGuard) =>
  filled(g.firstContact ? GUARD.firstContact() : GUARD.plain(), {
    senderId: g.senderId,
    receiverId: g.receiverId,
    now: g.now,
    ...g.rate,
    restricted: g.firstContact?.restricted ? 1 : 0,
    limit: g.firstContact?.limit ?? 0,
  });

/** The refusal a failed send batch names (`send_refused_<reason>`), or null when it failed for another reason. */
export function sendRefusalOf(hit: Constraint | null): SendRefusal | null {
  if (hit?.kind !== "check" || !hit.name.startsWith("send_refused_")) return null;
  const reason = hit.name.slice("send_refused_".length);
  return (SEND_REFUSALS as readonly string[]).includes(reason) ? (reason as SendRefusal) : null;
}

/** Partners whose messages `userId` no longer sees: those they block and those they unmatched (two primary-key ranges). */
export const hiddenPartnersOf = (userId: SQLWrapper | string) =>
  sql`SELECT ${blocks.blockedId} FROM ${blocks} WHERE ${blocks.blockerId} = ${userId} UNION ALL SELECT ${unmatches.partnerId} FROM ${unmatches} WHERE ${unmatches.userId} = ${userId}`;

export type PairState = { blocks: boolean; blockedBy: boolean; unmatched: boolean; suspended: boolean };

/** How `userId` stands with `partnerId` now (and whether `userId` is suspended): four primary-key lookups, one query. */
export async function pairState(db: Db, userId: string, partnerId: string, now: string): Promise<PairState> {
  const row = await db
    .select({
      blocks: sql<number>`${blocking(userId, partnerId)}`,
      blockedBy: sql<number>`${blocking(partnerId, userId)}`,
      unmatched: sql<number>`${unmatched(userId, partnerId)}`,
      suspended: sql<number>`${suspendedNow(userId, now)}`,
    })
    .from(sql`(SELECT 1)`)
    .get();
  return { blocks: !!row?.blocks, blockedBy: !!row?.blockedBy, unmatched: !!row?.unmatched, suspended: !!row?.suspended };
}

/**
 * Why a socket of `userId` may not join its room with `partnerId`: suspended first (as in the send's
 * guard, so a suspended user learns nothing about blocks), then a block either way or an unmatch.
 */
function joinRefusal(): SQL {
  const [u, p, now] = [sql.placeholder("userId"), sql.placeholder("partnerId"), sql.placeholder("now")];
  return sql`CASE WHEN ${suspendedNow(u, now)} THEN 'suspended' WHEN ${blocking(u, p)} OR ${blocking(p, u)} OR ${unmatched(u, p)} THEN 'not_found' END`;
}

const JOIN = {
  // The WHERE also keeps SQLite from reading ON CONFLICT as a join's ON.
  visit: prepareOnce((db) =>
    db
      .insert(roomVisits)
      .select(
        sql`SELECT ${sql.placeholder("userId")}, ${sql.placeholder("conversationId")}, ${sql.placeholder("now")} WHERE ${joinRefusal()} IS NULL`,
      )
      .onConflictDoNothing(),
  ),
  presence: presenceWhen(sql`${joinRefusal()} IS NULL`),
  state: prepareOnce((db) =>
    db
      .select({
        refusal: sql`${joinRefusal()}`.as("refusal"),
        lastSeq:
          sql`(SELECT ${conversations.lastSeq} FROM ${conversations} WHERE ${conversations.id} = ${sql.placeholder("conversationId")})`.as(
            "last_seq",
          ),
      })
      .from(sql`(SELECT 1)`),
  ),
};

export type JoinState = { refusal: "suspended" | "not_found" | null; lastSeq: number };

/**
 * A socket of `userId` joining its room with `partnerId`, in one transaction (the only D1 call of a
 * join): whether it may ("suspended", "not_found" or null), the conversation's newest seq (0 before
 * its first message), and, when it may, the visit recorded (once per user and room; later joins
 * change nothing) and, for the room's first socket, its presence. A send that commits before this
 * has a seq the join syncs past; one after it finds the room's socket.
 */
export async function roomJoinState(
  db: Db,
  j: { userId: string; partnerId: string; conversationId: string; now: string; presence: Presence | null },
): Promise<JoinState> {
  const d1 = d1Of(db);
  const values = { ...j, ...j.presence };
  const results = await d1.batch<{ refusal: JoinState["refusal"]; last_seq: number | null }>([
    bindPrepared(d1, JOIN.visit(), values),
    ...(j.presence ? [bindPrepared(d1, JOIN.presence(), values)] : []),
    bindPrepared(d1, JOIN.state(), values),
  ]);
  const row = results.at(-1)?.results[0];
  return { refusal: row?.refusal ?? null, lastSeq: Number(row?.last_seq ?? 0) };
}

/** The rooms `userId` ever opened, a page at a time in primary-key order (after `after`). */
export const roomVisitsQuery = (db: Db, userId: string, after: string, limit: number) =>
  db
    .select({ conversationId: roomVisits.conversationId })
    .from(roomVisits)
    .where(and(eq(roomVisits.userId, userId), gt(roomVisits.conversationId, after)))
    .orderBy(roomVisits.conversationId)
    .limit(limit);

export async function isSuspended(db: Db, userId: string, now: string): Promise<boolean> {
  const row = await db
    .select({ s: sql<number>`${suspendedNow(userId, now)}` })
    .from(sql`(SELECT 1)`)
    .get();
  return !!row?.s;
}

// ---- blocks ----------------------------------------------------------------------------------

export const insertBlockStatement = (db: Db, blockerId: string, blockedId: string, now: string) =>
  db.insert(blocks).values({ blockerId, blockedId, createdAt: now }).onConflictDoNothing().returning();

export const findBlock = (db: Db, blockerId: string, blockedId: string) =>
  db
    .select()
    .from(blocks)
    .where(and(eq(blocks.blockerId, blockerId), eq(blocks.blockedId, blockedId)))
    .get();

export const deleteBlock = (db: Db, blockerId: string, blockedId: string) =>
  db
    .delete(blocks)
    .where(and(eq(blocks.blockerId, blockerId), eq(blocks.blockedId, blockedId)))
    .returning();

/** The blocker's blocks, newest first, keyset on (created_at, blocked_id). */
export const blockPageQuery = (db: Db, blockerId: string, page: { before?: { at: string; userId: string }; limit: number }) =>
  db
    .select()
    .from(blocks)
    .where(
      and(
        eq(blocks.blockerId, blockerId),
        page.before ? sql`(${blocks.createdAt}, ${blocks.blockedId}) < (${page.before.at}, ${page.before.userId})` : undefined,
      ),
    )
    .orderBy(desc(blocks.createdAt), desc(blocks.blockedId))
    .limit(page.limit);

// ---- unmatches -------------------------------------------------------------------------------

/**
 * Ends a conversation for both: both sides' rows (kept if already there, so the first unmatch's time
 * stands) and both member rows gone, so it leaves both lists at once. Then the pair's row, as stored.
 */
export function unmatchStatements(db: Db, u: { userId: string; partnerId: string; conversationId: string; now: string }) {
  const row = (userId: string, partnerId: string) => ({
    userId,
    partnerId,
    conversationId: u.conversationId,
    unmatchedBy: u.userId,
    unmatchedAt: u.now,
  });
  return [
    db
      .insert(unmatches)
      .values([row(u.userId, u.partnerId), row(u.partnerId, u.userId)])
      .onConflictDoNothing(),
    db.delete(conversationMembers).where(eq(conversationMembers.conversationId, u.conversationId)),
    db
      .select()
      .from(unmatches)
      .where(and(eq(unmatches.userId, u.userId), eq(unmatches.partnerId, u.partnerId))),
  ] as const;
}

/** What the partial index `unmatches_pending_erasure_idx` says, term for term (SQLite needs that to use it). */
const PENDING_ERASURE = sql.raw(`messages_erased_at IS NULL AND user_id < partner_id`);

/** Unmatched pairs (one row each) whose messages are due for erasure, oldest first. */
export const dueUnmatchesQuery = (db: Db, unmatchedBefore: string, limit: number) =>
  db
    .select({ conversationId: unmatches.conversationId, userId: unmatches.userId, partnerId: unmatches.partnerId })
    .from(unmatches)
    .where(and(PENDING_ERASURE, lte(unmatches.unmatchedAt, unmatchedBefore)))
    .orderBy(unmatches.unmatchedAt)
    .limit(limit);

/** A conversation's messages, oldest first, to erase in chunks (a range of the (conversation_id, seq) index). */
export const conversationChunkQuery = (db: Db, conversationId: string, limit: number) =>
  db
    .select({ pk: messages.pk, id: messages.id, attachments: messages.attachments })
    .from(messages)
    .where(eq(messages.conversationId, conversationId))
    .orderBy(messages.seq)
    .limit(limit);

/** Both sides' rows say the messages are gone, and the pair's push claims with them. */
export const markUnmatchErased = (db: Db, conversationId: string, pair: [string, string], now: string) =>
  db.batch([
    db
      .update(unmatches)
      .set({ messagesErasedAt: now })
      .where(sql`(${unmatches.userId}, ${unmatches.partnerId}) IN (VALUES (${pair[0]}, ${pair[1]}), (${pair[1]}, ${pair[0]}))`),
    db
      .delete(pushState)
      .where(
        sql`(${pushState.receiverId}, ${pushState.conversationId}) IN (VALUES (${pair[0]}, ${conversationId}), (${pair[1]}, ${conversationId}))`,
      ),
  ]);

// ---- suspensions -----------------------------------------------------------------------------

export const findSuspension = (db: Db, userId: string) => db.select().from(suspensions).where(eq(suspensions.userId, userId));

/** Suspends (or changes an existing suspension's reason and end); returns the row as stored. */
export const upsertSuspensionStatement = (
  db: Db,
  s: { userId: string; reason: string; until: string | null; adminId: string; now: string },
) =>
  db
    .insert(suspensions)
    .values({ userId: s.userId, reason: s.reason, until: s.until, adminId: s.adminId, createdAt: s.now })
    .onConflictDoUpdate({
      target: suspensions.userId,
      set: { reason: s.reason, until: s.until, adminId: s.adminId, createdAt: s.now },
    })
    .returning();

export const deleteSuspensionStatement = (db: Db, userId: string) =>
  db.delete(suspensions).where(eq(suspensions.userId, userId)).returning();

/** A suspension as JSON, read by SQL inside the batch that changes it (an audit row's before-state). */
export const suspensionSnapshot = (userId: string) =>
  sql`(SELECT json_object('reason', ${suspensions.reason}, 'until', ${suspensions.until}, 'created_at', ${suspensions.createdAt}) FROM ${suspensions} WHERE ${suspensions.userId} = ${userId})`;
