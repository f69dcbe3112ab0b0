import type { SQL } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import {
  type AuditFilter,
  auditChainPage,
  auditPage,
  auditRowOncePerWindow,
  auditRowStatement,
  CHANGED,
  type ComputedAuditFields,
  insertSeals,
  lastSeal,
  type NewAuditRow,
  type NewSeal,
  rowsAfter,
  type SealedAuditRow,
  sealOf,
} from "../db/audit";
import type { Db } from "../db/client";
import type { AuditRow, Severity } from "../db/schema";
import { type AuditKeyring, auditHash, auditKeyringOf, GENESIS_HASH } from "../lib/audit-hash";
import { newId } from "../lib/ids";
import { logError } from "../lib/log";
import { beforePkOf, pageByPk } from "../lib/paging";
import { nowIso } from "../lib/time";

/** Who acted and from where: set once per admin request by the permission middleware. */
export type AuditScope = {
  actor: { adminId: string; email: string | null; role: string | null };
  request: {
    ip: string | null;
    userAgent: string | null;
    /** Ours (the response's X-Request-Id), never the client's. */
    requestId: string | null;
    /** What the client sent as X-Request-Id, if anything: kept in the row's details. */
    clientRequestId: string | null;
  };
  action: string;
  /** What the call acts on, and extra facts for its row (set by the route's permission check). */
  target?: Pick<AuditEvent, "targetType" | "targetId">;
  details?: Record<string, unknown>;
  /** Set once a row for this request is committed, so the middleware does not write a second one. */
  written: boolean;
};

export type AuditEvent = {
  targetType?: string;
  targetId?: string;
  outcome?: "success" | "denied" | "failed";
  statusCode?: number;
  severity?: Severity;
  before?: unknown;
  after?: unknown;
  details?: Record<string, unknown>;
};

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

/** The row as committed: no hash. The sealer chains it moments later (sealPending). */
function auditRow(scope: AuditScope, e: AuditEvent): NewAuditRow {
  const { clientRequestId } = scope.request;
  const details = clientRequestId === null ? e.details : { ...e.details, client_request_id: clientRequestId };
  return {
    id: newId("aud"),
    createdAt: nowIso(),
    adminId: scope.actor.adminId,
    adminEmail: scope.actor.email,
    adminRole: scope.actor.role,
    action: scope.action,
    targetType: e.targetType ?? null,
    targetId: e.targetId ?? null,
    outcome: e.outcome ?? "success",
    statusCode: e.statusCode ?? 200,
    severity: e.severity ?? "info",
    before: json(e.before),
    after: json(e.after),
    details: json(details),
    ip: scope.request.ip,
    userAgent: scope.request.userAgent,
    requestId: scope.request.requestId,
  };
}

/** One audited change: its statements, its audit row, and how the row knows the change happened. */
export type AuditedChange<T> = {
  statements: BatchItem<"sqlite">[];
  event: AuditEvent;
  result: (results: unknown[]) => T;
  /** Row fields SQL computes inside the batch, before the statements run (a before-state, say). */
  computed?: ComputedAuditFields;
  /**
   * `<table> WHERE …` of the row the change acts on: the audit row is written (first) only if the
   * batch finds it, and `computed` reads it. The statements must find it just as well (same batch).
   */
  from?: SQL;
  /** The last statement holds a guard: write the audit row (after it) only if it changed a row. */
  onlyIfChanged?: boolean;
};

/**
 * Commits `statements` and their audit row in ONE batch, so a change without its audit row cannot
 * exist. Nothing here reads the chain head: concurrent changes never contend (D1 runs them one at
 * a time, and each row gets the next AUTOINCREMENT pk). `scope.written` tells whether the row was
 * written; when it was not (a guard refused), the middleware records the outcome instead.
 */
export async function commitWithAudit<T>(db: Db, scope: AuditScope, change: AuditedChange<T>): Promise<T> {
  const row = auditRow(scope, change.event);
  const { statements, computed, from } = change;
  if (change.onlyIfChanged) {
    const results = await db.batch([...(statements as [BatchItem<"sqlite">]), auditRowStatement(db, row, { computed, onlyIf: CHANGED })]);
    scope.written = (results.at(-1) as D1Result).meta.changes > 0;
    return change.result(results.slice(0, -1));
  }
  const results = await db.batch([auditRowStatement(db, row, { computed, from }), ...statements]);
  scope.written = (results[0] as D1Result).meta.changes > 0;
  return change.result(results.slice(1));
}

/** An audit row on its own: reads, refusals and failures. */
export async function recordAudit(db: Db, scope: AuditScope, event: AuditEvent): Promise<void> {
  await auditRowStatement(db, auditRow(scope, event));
  scope.written = true;
}

/** A throttled call: recorded only if it is the caller's first throttled call since `windowStart`. */
export async function recordThrottled(db: Db, scope: AuditScope, event: AuditEvent, windowStart: string): Promise<void> {
  await auditRowOncePerWindow(db, auditRow(scope, { ...event, details: { ...event.details, window_start: windowStart } }), windowStart);
  scope.written = true;
}

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
  for (;;) {
    const rows = await auditChainPage(db, afterPk, pageSize);
    for (const row of rows) {
      afterPk = row.pk;
      if (row.hash === null || row.prevHash === null || row.keyId === null) {
        firstUnsealed ??= row;
        unsealed++;
        continue;
      }
      // A sealed row after an unsealed one: that one's seal was removed.
      if (firstUnsealed) return broken(firstUnsealed, "seal_missing");
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

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function toAuditView(r: SealedAuditRow) {
  return {
    id: r.id,
    created_at: r.createdAt,
    admin_id: r.adminId,
    admin_email: r.adminEmail,
    admin_role: r.adminRole,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    outcome: r.outcome,
    status_code: r.statusCode,
    severity: r.severity,
    before: parse(r.before),
    after: parse(r.after),
    details: parse(r.details),
    ip: r.ip,
    user_agent: r.userAgent,
    request_id: r.requestId,
    prev_hash: r.prevHash,
    hash: r.hash,
    key_id: r.keyId,
  };
}

/** The audit log, newest first, filtered and keyset-paged. */
export async function auditLogPage(db: Db, filter: AuditFilter, page: { limit: number; cursor?: string }) {
  const rows = await auditPage(db, filter, { beforePk: beforePkOf(page.cursor), limit: page.limit + 1 });
  const { items, nextCursor, hasMore } = pageByPk(rows, page.limit);
  return { audit_logs: items.map(toAuditView), next_cursor: nextCursor, has_more: hasMore };
}
