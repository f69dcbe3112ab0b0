import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "./client";
import { creditBalances, creditTransactions, messages } from "./schema";

export async function balanceOf(db: Db, userId: string): Promise<number> {
  const row = await db.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, userId)).get();
  return row?.balance ?? 0;
}

export const ledgerPage = (db: Db, userId: string, page: { beforePk?: number; limit: number }) =>
  db
    .select()
    .from(creditTransactions)
    .where(and(eq(creditTransactions.userId, userId), page.beforePk === undefined ? undefined : lt(creditTransactions.pk, page.beforePk)))
    .orderBy(desc(creditTransactions.pk))
    .limit(page.limit);

/**
 * The statements of a grant, to run in one batch with its audit row: the balance row, the credit,
 * and the ledger row that records the balance it produced.
 */
export function grantStatements(
  db: Db,
  g: { userId: string; amount: number; reason: string; adminId: string; transactionId: string; now: string },
): [BatchItem<"sqlite">, BatchItem<"sqlite">, BatchItem<"sqlite">] {
  return [
    db
      .insert(creditBalances)
      .values({ userId: g.userId, balance: g.amount, updatedAt: g.now })
      .onConflictDoUpdate({
        target: creditBalances.userId,
        set: { balance: sql`${creditBalances.balance} + ${g.amount}`, updatedAt: g.now },
      }),
    db.insert(creditTransactions).values({
      id: g.transactionId,
      userId: g.userId,
      amount: g.amount,
      balanceAfter: sql`(SELECT ${creditBalances.balance} FROM ${creditBalances} WHERE ${creditBalances.userId} = ${g.userId})`,
      kind: "grant",
      reason: g.reason,
      adminId: g.adminId,
      createdAt: g.now,
    }),
    db.select({ balance: creditBalances.balance }).from(creditBalances).where(eq(creditBalances.userId, g.userId)),
  ];
}

/**
 * SQL true when message `id`'s charge is due back: it is blocked as the statement runs, it was
 * charged, and it has no refund yet (the partial unique index on refunds answers that lookup, and
 * stops a second refund row regardless).
 */
const refundDue = (messageId: string) =>
  sql`EXISTS (SELECT 1 FROM ${messages} WHERE ${messages.id} = ${messageId} AND ${messages.moderationStatus} = 'blocked' AND ${messages.creditsCost} > 0 AND ${messages.creditsTransactionId} IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM ${creditTransactions} WHERE ${creditTransactions.kind} = 'refund' AND ${creditTransactions.messageId} = ${messageId})`;

/**
 * A refund as two statements of the moderation's batch, after the moderation itself: the sender's
 * balance credited with the message's cost, then the ledger row recording the balance it produced.
 * Both carry the same guard and nothing between them changes its answer, so they happen together
 * or not at all; a second moderation to `blocked` (or a racing one: D1 runs batches one at a time)
 * finds the refund and does neither.
 */
export function refundStatements(db: Db, r: { messageId: string; transactionId: string; adminId: string; now: string }) {
  const senderOf = sql`(SELECT ${messages.senderId} FROM ${messages} WHERE ${messages.id} = ${r.messageId})`;
  return [
    db
      .update(creditBalances)
      .set({
        balance: sql`${creditBalances.balance} + (SELECT ${messages.creditsCost} FROM ${messages} WHERE ${messages.id} = ${r.messageId})`,
        updatedAt: r.now,
      })
      .where(and(eq(creditBalances.userId, senderOf), refundDue(r.messageId))),
    db.insert(creditTransactions).select(
      sql`SELECT NULL, ${r.transactionId}, m.sender_id, m.credits_cost,
        (SELECT ${creditBalances.balance} FROM ${creditBalances} WHERE ${creditBalances.userId} = m.sender_id),
        'refund', 'message blocked by moderation', m.id, ${r.adminId}, ${r.now}
        FROM ${messages} m WHERE m.id = ${r.messageId} AND ${refundDue(r.messageId)}
        AND EXISTS (SELECT 1 FROM ${creditBalances} WHERE ${creditBalances.userId} = m.sender_id)`,
    ),
  ] as const;
}

/**
 * For the moderation's audit row (written first in its batch, reading the message as it was): would
 * moving this message to `status` refund it? As a JSON patch for the row's details.
 */
export const refundAuditPatch = (messageId: string, status: string, transactionId: string) =>
  sql`CASE WHEN ${status} = 'blocked' AND ${messages.creditsCost} > 0 AND ${messages.creditsTransactionId} IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM ${creditTransactions} WHERE ${creditTransactions.kind} = 'refund' AND ${creditTransactions.messageId} = ${messageId})
    THEN json_object('refund', json_object('transaction_id', ${transactionId}, 'amount', ${messages.creditsCost})) ELSE '{}' END`;
