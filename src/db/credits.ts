import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "./client";
import { creditBalances, creditTransactions } from "./schema";

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
