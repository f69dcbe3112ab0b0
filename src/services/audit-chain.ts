/**
 * The audit log's HMAC chain: the sealer's pass (run by durable-objects/audit-sealer.ts) and the
 * walk `GET /audit-logs/verify` makes. Rows are committed unsealed by audit.ts.
 */
import { auditChainPage, insertSeals, lastSeal, type NewSeal, rowsAfter, type SealedAuditRow, sealOf } from "../db/audit";
import type { Db } from "../db/client";
import type { AuditRow } from "../db/schema";
import { type AuditKeyring, auditHash, auditKeyringOf, GENESIS_HASH } from "../lib/audit-hash";
import { logError } from "../lib/log";
import { nowIso } from "../lib/time";

/** Where the sealer's chain ends: the pk and hash of the last seal it wrote. */
export type SealCursor = { pk: number; hash: string };

export class SealCursorMismatch extends Error {
  constructor(readonly cursor: SealCursor) {
    super(`audit_seals no longer holds the seal the sealer last wrote (pk ${cursor.pk}): refusing to extend the chain`);
    this.name = "SealCursorMismatch";
  }
}

const SEAL_PAGE = 100;

const hashOf = (row: AuditRow, prevHash: string, secret: string) => {
  const { pk: _pk, ...fields } = row;
  return auditHash({ ...fields, prevHash }, secret);
};

/**
 * Seals the rows after the last seal, oldest first, a page of `pageSize` per statement, at most
 * `maxPages` pages (a bound on one invocation's D1 queries; `more` says rows remain).
 *
 * `cursor` is the last seal this sealer wrote, kept outside D1: if D1 no longer holds it unchanged
 * (someone deleted seals to have rows re-sealed after editing them), it refuses to go on. With no
 * cursor (a fresh sealer) it continues from whatever chain D1 holds.
 */
export async function sealPending(
  db: Db,
  keyring: AuditKeyring,
  opts: { cursor: SealCursor | null; onPage?: (cursor: SealCursor) => Promise<void>; pageSize?: number; maxPages?: number },
): Promise<{ sealed: number; cursor: SealCursor | null; more: boolean }> {
  const { pageSize = SEAL_PAGE, maxPages = 20 } = opts;
  if (opts.cursor) {
    const kept = await sealOf(db, opts.cursor.pk).get();
    if (kept?.hash !== opts.cursor.hash) throw new SealCursorMismatch(opts.cursor);
  }
  const secret = keyring.secrets.get(keyring.currentId) as string;
  let head: SealCursor | null = (await lastSeal(db).get()) ?? null;
  let sealed = 0;
  for (let page = 0; page < maxPages; page++) {
    const rows = await rowsAfter(db, head?.pk ?? 0, pageSize);
    if (rows.length === 0) return { sealed, cursor: head, more: false };
    const seals: NewSeal[] = [];
    let prevHash = head?.hash ?? GENESIS_HASH;
    for (const row of rows) {
      const hash = await hashOf(row, prevHash, secret);
      seals.push({ pk: row.pk, prevHash, hash });
      prevHash = hash;
    }
    await insertSeals(db, seals, keyring.currentId, nowIso());
    head = { pk: rows[rows.length - 1]?.pk as number, hash: prevHash };
    sealed += rows.length;
    await opts.onPage?.(head);
    if (rows.length < pageSize) return { sealed, cursor: head, more: false };
  }
  return { sealed, cursor: head, more: true };
}

export type BreakReason = "hash_mismatch" | "prev_hash_mismatch" | "unknown_key" | "seal_missing" | "chain_truncated";

export type ChainVerdict =
  | { ok: true; rows_checked: number; head_hash: string; unsealed: number }
  | {
      ok: false;
      rows_checked: number;
      first_broken: { id: string | null; created_at: string | null; reason: BreakReason; key_id?: string };
    };

/**
 * Walks the sealed chain oldest first, page by page, recomputing every seal with the key it names,
 * then counts the unsealed tail. `sealerCursor` (the sealer's own record of its last seal) catches
 * a chain cut short at its end, which no link inside D1 can show.
 */
export async function verifyChain(db: Db, keyring: AuditKeyring, sealerCursor: SealCursor | null, pageSize = 500): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let lastSealedPk = 0;
  let checked = 0;
  let firstUnsealed: SealedAuditRow | null = null;
  let unsealed = 0;
  let afterPk = 0;
  const broken = (row: { id: string | null; createdAt: string | null }, reason: BreakReason, keyId?: string): ChainVerdict => ({
    ok: false,
    rows_checked: checked,
    first_broken: { id: row.id, created_at: row.createdAt, reason, ...(keyId && { key_id: keyId }) },
  });
  // The sealer may seal the tail while this walk reads it page by page: a sealed row after one read
  // as unsealed is read again from the last verified row once, before it counts as a missing seal.
  let recheckedFrom: number | null = null;
  walk: for (;;) {
    const rows = await auditChainPage(db, afterPk, pageSize);
    for (const row of rows) {
      afterPk = row.pk;
      if (row.hash === null || row.prevHash === null || row.keyId === null) {
        firstUnsealed ??= row;
        unsealed++;
        continue;
      }
      if (firstUnsealed) {
        if (recheckedFrom === firstUnsealed.pk) return broken(firstUnsealed, "seal_missing");
        recheckedFrom = firstUnsealed.pk;
        [afterPk, firstUnsealed, unsealed] = [lastSealedPk, null, 0];
        continue walk;
      }
      if (row.prevHash !== prev) return broken(row, "prev_hash_mismatch");
      const secret = keyring.secrets.get(row.keyId);
      if (!secret) return broken(row, "unknown_key", row.keyId);
      const { prevHash, hash, keyId: _keyId, ...content } = row;
      if ((await hashOf(content, prevHash, secret)) !== hash) return broken(row, "hash_mismatch");
      prev = hash;
      lastSealedPk = row.pk;
      checked++;
    }
    if (rows.length < pageSize) break;
  }
  if (sealerCursor && sealerCursor.pk > lastSealedPk) return broken({ id: null, createdAt: null }, "chain_truncated");
  return { ok: true, rows_checked: checked, head_hash: prev, unsealed };
}

/** The audit chain's one sequencer (durable-objects/audit-sealer.ts). */
export const sealerOf = (env: Env) => env.AUDIT_SEALER.getByName("audit-log");

/** After an admin call: the sealer chains its row in moments later. A failed poke is logged; the next call pokes again. */
export const sealSoon = (env: Env): Promise<void> =>
  sealerOf(env)
    .poke()
    .catch((err: unknown) => logError("audit.poke_failed", err));

/**
 * `GET /audit-logs/verify`: the sealer first seals what is pending (so the verdict covers every row
 * committed before the call), then the chain is walked here. If sealing fails, what is sealed is
 * still verified and the rest counts as unsealed.
 */
export async function verifyAuditLog(db: Db, env: Env): Promise<ChainVerdict> {
  const keyring = auditKeyringOf(env);
  const report = await sealerOf(env)
    .sealNow()
    .catch((err: unknown) => {
      logError("audit.seal_now_failed", err);
      return null;
    });
  return verifyChain(db, keyring, report?.cursor ?? null);
}
