import { and, desc, eq, gt, isNull, ne, or, type SQLWrapper, sql } from "drizzle-orm";
import type { Db } from "./client";
import { conversations, messages, type PushSubscriptionRow, pushState, pushSubscriptions } from "./schema";

export type NewSubscription = typeof pushSubscriptions.$inferInsert;

/**
 * Stores a subscription and keeps the user within `limit`, in ONE batch: the upsert (an endpoint
 * another user had moves to this one, with a new id), then the eviction of this user's least recently
 * seen subscriptions beyond the limit. Concurrent posts never leave more than `limit`: each batch
 * trims after its own insert. Returns the stored row (its id is `s.id` only when it was created).
 */
export async function upsertSubscription(db: Db, s: NewSubscription, limit: number): Promise<PushSubscriptionRow> {
  const movesHands = sql`${pushSubscriptions.userId} <> excluded.user_id`;
  const [stored] = await db.batch([
    db
      .insert(pushSubscriptions)
      .values(s)
      .onConflictDoUpdate({
        target: pushSubscriptions.endpoint,
        set: {
          // SET reads the old row: a new owner gets a new id and creation time; the same owner keeps them.
          id: sql`CASE WHEN ${movesHands} THEN excluded.id ELSE ${pushSubscriptions.id} END`,
          createdAt: sql`CASE WHEN ${movesHands} THEN excluded.created_at ELSE ${pushSubscriptions.createdAt} END`,
          userId: sql`excluded.user_id`,
          p256dh: sql`excluded.p256dh`,
          auth: sql`excluded.auth`,
          expiresAt: sql`excluded.expires_at`,
          lastSeenAt: sql`excluded.last_seen_at`,
        },
      })
      .returning(),
    evictionQuery(db, s.userId, s.endpoint, limit),
  ]);
  const row = stored[0];
  if (!row) throw new Error("push subscription upsert returned no row");
  return row;
}

/** Removes the user's subscriptions beyond `limit`, least recently seen first, never `keep` (the one just posted). */
export const evictionQuery = (db: Db, userId: string, keep: string, limit: number) => {
  const others = and(eq(pushSubscriptions.userId, userId), ne(pushSubscriptions.endpoint, keep));
  const newest = db
    .select({ endpoint: pushSubscriptions.endpoint })
    .from(pushSubscriptions)
    .where(others)
    .orderBy(desc(pushSubscriptions.lastSeenAt), desc(pushSubscriptions.endpoint))
    .limit(limit - 1);
  return db.delete(pushSubscriptions).where(and(others, sql`${pushSubscriptions.endpoint} NOT IN ${newest}`));
};

/** Only the caller's own subscription; true when one was removed. */
export async function deleteSubscription(db: Db, userId: string, endpoint: string): Promise<boolean> {
  const removed = await db
    .delete(pushSubscriptions)
    .where(and(eq(pushSubscriptions.endpoint, endpoint), eq(pushSubscriptions.userId, userId)))
    .returning({ endpoint: pushSubscriptions.endpoint });
  return removed.length > 0;
}

/** A push service said the subscription is gone (404/410), or it expired. */
export const deleteSubscriptionById = (db: Db, id: string) => db.delete(pushSubscriptions).where(eq(pushSubscriptions.id, id));

/** A subscription of `userId` that may still take a push at `now`. */
const activeOf = (userId: SQLWrapper | string, now: SQLWrapper | string) =>
  and(eq(pushSubscriptions.userId, userId), or(isNull(pushSubscriptions.expiresAt), gt(pushSubscriptions.expiresAt, now)));

/** The receiver's subscriptions that may still take a push (fan-out of one notification). */
export const activeSubscriptionsQuery = (db: Db, userId: string, now: string) =>
  db.select({ id: pushSubscriptions.id }).from(pushSubscriptions).where(activeOf(userId, now));

/** SQL true when `userId` has a subscription that may still take a push (one range of the user's index). */
export const activeSubscriptionExists = (userId: SQLWrapper, now: SQLWrapper) =>
  sql`EXISTS (SELECT 1 FROM ${pushSubscriptions} WHERE ${activeOf(userId, now)})`;

/** Whether the user has a subscription that may still take a push (one range of the user's index, one row). */
export async function hasActiveSubscription(db: Db, userId: string, now: string): Promise<boolean> {
  return (await activeSubscriptionsQuery(db, userId, now).limit(1)).length > 0;
}

/** One subscription for one delivery, only while it still belongs to the job's receiver. */
export const subscriptionQuery = (db: Db, id: string, userId: string) =>
  db
    .select()
    .from(pushSubscriptions)
    .where(and(eq(pushSubscriptions.id, id), eq(pushSubscriptions.userId, userId)));

/**
 * What decides whether a notification is still news: the conversation's newest seq and the state of
 * the message itself (two primary-key lookups).
 */
export const newsQuery = (db: Db, conversationId: string, seq: number) =>
  db
    .select({
      lastSeq: conversations.lastSeq,
      status: messages.status,
      isDeleted: messages.isDeleted,
      moderationStatus: messages.moderationStatus,
      content: messages.content,
    })
    .from(conversations)
    .leftJoin(messages, and(eq(messages.conversationId, conversations.id), eq(messages.seq, seq)))
    .where(eq(conversations.id, conversationId));

export type News = Awaited<ReturnType<typeof newsQuery>>[number];

/** Reads for a fan-out in one round trip: what the message is now, and where it could go. */
export async function fanOutReads(db: Db, job: { conversationId: string; seq: number; receiverId: string }, now: string) {
  const [news, subscriptions] = await db.batch([
    newsQuery(db, job.conversationId, job.seq),
    activeSubscriptionsQuery(db, job.receiverId, now),
  ]);
  return { news: news[0], subscriptionIds: subscriptions.map((s) => s.id) };
}

/** Reads for one delivery in one round trip. */
export async function deliveryReads(db: Db, job: { conversationId: string; seq: number; subscriptionId: string; receiverId: string }) {
  const [news, subscription] = await db.batch([
    newsQuery(db, job.conversationId, job.seq),
    subscriptionQuery(db, job.subscriptionId, job.receiverId),
  ]);
  return { news: news[0], subscription: subscription[0] };
}

/**
 * Claims the push for `seq`: the write succeeds only if no equal or newer seq of this receiver and
 * conversation was claimed before (the guard is in the SQL, so two copies of one job cannot both win).
 * True when this call won the claim.
 */
export async function claimPush(db: Db, receiverId: string, conversationId: string, seq: number, now: string): Promise<boolean> {
  const [won] = await db
    .insert(pushState)
    .values({ receiverId, conversationId, seq, prevSeq: 0, updatedAt: now })
    .onConflictDoUpdate({
      target: [pushState.receiverId, pushState.conversationId],
      set: { prevSeq: sql`${pushState.seq}`, seq: sql`excluded.seq`, updatedAt: sql`excluded.updated_at` },
      setWhere: sql`excluded.seq > ${pushState.seq}`,
    })
    .returning({ prevSeq: pushState.prevSeq });
  return won !== undefined;
}

/** Hands a claim back after a failed fan-out, unless a newer one replaced it meanwhile. */
export const releasePush = (db: Db, receiverId: string, conversationId: string, seq: number) =>
  db
    .update(pushState)
    .set({ seq: sql`${pushState.prevSeq}` })
    .where(and(eq(pushState.receiverId, receiverId), eq(pushState.conversationId, conversationId), eq(pushState.seq, seq)));
