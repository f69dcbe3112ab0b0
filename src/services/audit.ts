import { type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import {
  type AuditFilter,
  auditPage,
  auditRowOncePerWindow,
  auditRowStatement,
  CHANGED,
  type ComputedAuditFields,
  type NewAuditRow,
  type SealedAuditRow,
} from "../db/audit";
import type { Db } from "../db/client";
import type { Severity } from "../db/schema";
import { newId } from "../lib/ids";
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

/** The row as committed: no hash. The sealer chains it moments later (audit-chain.ts). */
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
  /** A JSON object SQL computes (like `computed`) and merges into the row's details (a refund the change makes, say). */
  detailsPatch?: SQL;
};

/**
 * Commits `statements` and their audit row in ONE batch, so a change without its audit row cannot
 * exist. Nothing here reads the chain head: concurrent changes never contend (D1 runs them one at
 * a time, and each row gets the next AUTOINCREMENT pk). `scope.written` tells whether the row was
 * written; when it was not (a guard refused), the middleware records the outcome instead.
 */
export async function commitWithAudit<T>(db: Db, scope: AuditScope, change: AuditedChange<T>): Promise<T> {
  const row = auditRow(scope, change.event);
  const { statements, from } = change;
  const computed = change.detailsPatch
    ? { ...change.computed, details: sql`json_patch(${row.details ?? "{}"}, ${change.detailsPatch})` }
    : change.computed;
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
