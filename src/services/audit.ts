import type { BatchItem } from "drizzle-orm/batch";
import {
  type AuditFilter,
  auditChainPage,
  auditPage,
  chainHead,
  insertAuditRow,
  insertAuditRowIfChanged,
  type NewAuditRow,
} from "../db/audit";
import type { Db } from "../db/client";
import { constraintOf } from "../db/constraints";
import type { AuditRow, Severity } from "../db/schema";
import { auditHash, GENESIS_HASH } from "../lib/audit-hash";
import { newId } from "../lib/ids";
import { beforePkOf, pageByPk } from "../lib/paging";
import { nowIso } from "../lib/time";

/** Who acted and from where: set once per admin request by the permission middleware. */
export type AuditScope = {
  actor: { adminId: string; email: string | null; role: string | null };
  request: { ip: string | null; userAgent: string | null; requestId: string | null };
  /** AUDIT_HMAC_KEY: seals each row. */
  hmacKey: string;
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

async function sealRow(db: Db, scope: AuditScope, e: AuditEvent): Promise<NewAuditRow> {
  const prevHash = (await chainHead(db)) ?? GENESIS_HASH;
  const row = {
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
    details: json(e.details),
    ip: scope.request.ip,
    userAgent: scope.request.userAgent,
    requestId: scope.request.requestId,
    prevHash,
  };
  return { ...row, hash: await auditHash(row, scope.hmacKey) };
}

const CHAIN_ATTEMPTS = 8;

const isChainConflict = (err: unknown) => {
  const hit = constraintOf(err);
  return hit?.kind === "unique" && hit.columns.includes("audit_log.prev_hash");
};

/**
 * Commits `statements` and their audit row in ONE batch, so a change without its audit row cannot
 * exist. Two writers that read the same chain head collide on UNIQUE(prev_hash); the loser's whole
 * batch rolls back and is rebuilt (`build` runs again, so its "before" state is fresh).
 */
export async function commitWithAudit<T>(
  db: Db,
  scope: AuditScope,
  build: () => Promise<{
    statements: BatchItem<"sqlite">[];
    event: AuditEvent;
    result: (results: unknown[]) => T;
    /** The last statement holds a guard: write the audit row only if it changed a row. */
    onlyIfChanged?: boolean;
  }>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const { statements, event, result, onlyIfChanged } = await build();
    const row = await sealRow(db, scope, event);
    try {
      if (onlyIfChanged) {
        const results = await db.batch([...(statements as [BatchItem<"sqlite">]), insertAuditRowIfChanged(db, row)]);
        // Nothing changed: no audit row was written, so the middleware records the refusal instead.
        scope.written = (results.at(-1) as D1Result).meta.changes > 0;
        return result(results.slice(0, -1));
      }
      const results = await db.batch([insertAuditRow(db, row), ...statements]);
      scope.written = true;
      return result(results.slice(1));
    } catch (err) {
      if (!isChainConflict(err) || attempt >= CHAIN_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}

/** An audit row on its own: reads, refusals and failures. */
export async function recordAudit(db: Db, scope: AuditScope, event: AuditEvent): Promise<void> {
  await commitWithAudit(db, scope, async () => ({ statements: [], event, result: () => undefined }));
}

export type ChainVerdict =
  | { ok: true; rows_checked: number; head_hash: string }
  | { ok: false; rows_checked: number; first_broken: { id: string; created_at: string; reason: "hash_mismatch" | "prev_hash_mismatch" } };

/** Walks the whole chain oldest first, page by page, recomputing every hash. */
export async function verifyChain(db: Db, hmacKey: string, pageSize = 500): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let afterPk = 0;
  let checked = 0;
  for (;;) {
    const rows = await auditChainPage(db, afterPk, pageSize);
    for (const row of rows) {
      const { pk: _pk, hash, ...content } = row;
      const broken = row.prevHash !== prev ? "prev_hash_mismatch" : (await auditHash(content, hmacKey)) !== hash ? "hash_mismatch" : null;
      if (broken) return { ok: false, rows_checked: checked, first_broken: { id: row.id, created_at: row.createdAt, reason: broken } };
      prev = hash;
      checked++;
      afterPk = row.pk;
    }
    if (rows.length < pageSize) return { ok: true, rows_checked: checked, head_hash: prev };
  }
}

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export function toAuditView(r: AuditRow) {
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
  };
}

/** The audit log, newest first, filtered and keyset-paged. */
export async function auditLogPage(db: Db, filter: AuditFilter, page: { limit: number; cursor?: string }) {
  const rows = await auditPage(db, filter, { beforePk: beforePkOf(page.cursor), limit: page.limit + 1 });
  const { items, nextCursor, hasMore } = pageByPk(rows, page.limit);
  return { audit_logs: items.map(toAuditView), next_cursor: nextCursor, has_more: hasMore };
}
