import { auditSnapshots } from "../db/audit";
import type { Db } from "../db/client";
import { balanceOf, grantStatements, ledgerPage, refundAuditPatch, refundStatements } from "../db/credits";
import type { LedgerRow } from "../db/schema";
import { newId } from "../lib/ids";
import { beforePkOf, pageByPk } from "../lib/paging";
import { nowIso } from "../lib/time";
import type { GrantBody } from "../schemas/credits";
import { type AuditScope, commitWithAudit } from "./audit";

export { balanceOf };

export async function ledgerFor(db: Db, userId: string, page: { limit: number; cursor?: string }) {
  const rows = await ledgerPage(db, userId, { beforePk: beforePkOf(page.cursor), limit: page.limit + 1 });
  return pageByPk(rows, page.limit);
}

export const toLedgerView = (t: LedgerRow) => ({
  id: t.id,
  user_id: t.userId,
  amount: t.amount,
  balance_after: t.balanceAfter,
  kind: t.kind,
  reason: t.reason,
  message_id: t.messageId,
  created_at: t.createdAt,
});

/**
 * Credits a user; the balance, the ledger row and the audit row commit together or not at all. The
 * audit row goes first and reads the balance by SQL inside the batch, so its before and after are
 * exact however many grants and sends race.
 */
export async function grantCredits(db: Db, scope: AuditScope, grant: GrantBody) {
  const transactionId = newId("txn");
  return commitWithAudit(db, scope, {
    statements: grantStatements(db, {
      userId: grant.user_id,
      amount: grant.amount,
      reason: grant.reason,
      adminId: scope.actor.adminId,
      transactionId,
      now: nowIso(),
    }),
    computed: {
      before: auditSnapshots.balance(grant.user_id),
      after: auditSnapshots.balance(grant.user_id, grant.amount, { transaction_id: transactionId }),
    },
    event: {
      targetType: "user",
      targetId: grant.user_id,
      severity: "warning",
      details: { amount: grant.amount, reason: grant.reason },
    },
    result: (results) => {
      const [row] = results[2] as { balance: number }[];
      return { user_id: grant.user_id, balance: row?.balance ?? 0, transaction_id: transactionId };
    },
  });
}

/**
 * The refund of a message moderated to `blocked`, as statements for the moderation's own batch (after
 * the moderation) and the patch its audit row records: exactly once per message, and never for a
 * free one (services/moderation.ts composes them).
 */
export function refundForBlocked(db: Db, r: { messageId: string; status: string; adminId: string; now: string }) {
  const transactionId = newId("txn");
  return {
    statements:
      r.status === "blocked" ? refundStatements(db, { messageId: r.messageId, transactionId, adminId: r.adminId, now: r.now }) : [],
    auditPatch: refundAuditPatch(r.messageId, r.status, transactionId),
  };
}
