/**
 * Reports: a user's report of another, with its evidence (a snapshot taken by SQL in the report's
 * own INSERT), the admin queue and its resolution. Rate-limited per reporter.
 */

import type { Db } from "../db/client";
import {
  conversationMessageIds,
  dueRedactionsQuery,
  findReport,
  insertReportStatement,
  type ReportFilters,
  redactSnapshots,
  reportCountQuery,
  reportPageQuery,
  resolveStatement,
  suspendIfResolvedStatement,
} from "../db/reports";
import { insertBlockStatement } from "../db/safety";
import type { Attachment, ReportRow, SuspensionRow } from "../db/schema";
import { AppError, notFound } from "../errors";
import { conversationIdOf } from "../lib/ids";
import { nowIso } from "../lib/time";
import type { AdminReport, ReportBody, ReportQuery, ResolveBody } from "../schemas/reports";
import { forModerators } from "./attachments";
import { type AuditScope, commitWithAudit } from "./audit";
import { retentionCutoff } from "./erasure";
import { suspensionChanged } from "./realtime";
import { afterBlock, toSuspensionView } from "./safety";

/** Must match `simple.period` of REPORT_LIMITER in wrangler.toml. */
export const REPORT_PERIOD_SECONDS = 60;

const newReportId = () => `rep_${crypto.randomUUID().replaceAll("-", "")}`;

/**
 * Files a report. Any user may be reported (a profile, too, with no conversation yet); also after
 * a block or an unmatch. Named messages must be of the conversation with the reported user. The
 * snapshot and, with `block: true`, the block are in the same write as the report.
 */
export async function fileReport(db: Db, env: Env, reporterId: string, body: ReportBody) {
  if (body.user_id === reporterId)
    throw new AppError("validation_failed", "You cannot report yourself", { user_id: ["must not be your own user id"] });
  const { success } = await env.REPORT_LIMITER.limit({ key: reporterId });
  if (!success) {
    throw new AppError(
      "rate_limited",
      "Too many reports at once; try again in a minute",
      { retry_after_seconds: REPORT_PERIOD_SECONDS },
      { "Retry-After": String(REPORT_PERIOD_SECONDS) },
    );
  }
  const conversationId = conversationIdOf(reporterId, body.user_id);
  const named = [...new Set(body.message_ids)];
  if (named.length) {
    const found = new Set((await conversationMessageIds(db, conversationId, named)).map((r) => r.id));
    const details: Record<string, string[]> = {};
    body.message_ids.forEach((id, i) => {
      if (!found.has(id)) details[`message_ids.${i}`] = ["not a message of your conversation with this user"];
    });
    if (Object.keys(details).length) throw new AppError("validation_failed", "Some named messages cannot be reported", details);
  }
  const id = newReportId();
  const now = nowIso();
  const report = insertReportStatement(db, {
    id,
    reporterId,
    reportedUserId: body.user_id,
    conversationId,
    reason: body.reason,
    details: body.details ?? null,
    messageIds: named,
    alsoBlocked: body.block,
    now,
  });
  if (body.block) {
    await db.batch([report, insertBlockStatement(db, reporterId, body.user_id, now)]);
    await afterBlock(env, reporterId, body.user_id);
  } else {
    await report;
  }
  return { report_id: id, status: "open" as const };
}

type StoredSnapshotMessage = Omit<AdminReport["snapshot"][number], "attachments"> & { attachments: Attachment[] };

export function toAdminReport(r: ReportRow, suspension: SuspensionRow | null): AdminReport {
  const snapshot = JSON.parse(r.snapshot) as StoredSnapshotMessage[];
  return {
    id: r.id,
    reporter_id: r.reporterId,
    user_id: r.reportedUserId,
    conversation_id: r.conversationId,
    reason: r.reason,
    details: r.details,
    message_ids: r.messageIds,
    also_blocked: r.alsoBlocked,
    status: r.status,
    resolution: r.resolution,
    resolution_note: r.resolutionNote,
    resolved_by: r.resolvedBy,
    resolved_at: r.resolvedAt,
    created_at: r.createdAt,
    snapshot: snapshot.map((m) => ({ ...m, attachments: m.attachments.map(forModerators) })),
    snapshot_redacted_at: r.snapshotRedactedAt,
    user_suspension: toSuspensionView(r.reportedUserId, suspension ?? undefined),
  };
}

/** The queue: every filter of the contract, newest first, offset-paged with the total. */
export async function reportQueue(db: Db, q: ReportQuery) {
  if (q.from && q.to && q.from > q.to) throw new AppError("validation_failed", "`from` is after `to`", { from: ["must not be after to"] });
  const f: ReportFilters = { status: q.status, userId: q.user_id, reporterId: q.reporter_id, reason: q.reason, from: q.from, to: q.to };
  const [rows, total] = await Promise.all([
    reportPageQuery(db, f, { offset: (q.page - 1) * q.limit, limit: q.limit }),
    reportCountQuery(db, f).get(),
  ]);
  return {
    reports: rows.map((r) => toAdminReport(r.report, r.suspension)),
    total: Number(total?.n ?? 0),
    page: q.page,
    limit: q.limit,
  };
}

/**
 * Resolves an open report, audited in the same write; `user_suspended` suspends the reported user
 * in that write too (until unsuspended, the note as the reason). Resolving twice answers 409 and
 * changes nothing (the guarded update finds no open report, so neither the suspension nor the
 * audit row's claim are written; the refusal is audited as such).
 */
export async function resolveReport(db: Db, env: Env, scope: AuditScope, reportId: string, body: ResolveBody) {
  const current = await findReport(db, reportId);
  if (!current) throw notFound("Report not found");
  const now = nowIso();
  const adminId = scope.actor.adminId;
  const suspending = body.resolution === "user_suspended";
  const resolved = await commitWithAudit(db, scope, {
    statements: [
      resolveStatement(db, reportId, { resolution: body.resolution, note: body.note, adminId, now }),
      ...(suspending
        ? [suspendIfResolvedStatement(db, { userId: current.reportedUserId, reason: `report ${reportId}: ${body.note}`, adminId, now })]
        : []),
    ],
    onlyIfChanged: true,
    event: {
      targetType: "report",
      targetId: reportId,
      severity: suspending ? "critical" : "warning",
      before: { status: "open" },
      after: { status: "resolved", resolution: body.resolution, ...(suspending && { suspended: current.reportedUserId }) },
      details: { reported_user_id: current.reportedUserId, reporter_id: current.reporterId, reason: current.reason, note: body.note },
    },
    result: (results) => (results[0] as ReportRow[])[0],
  });
  if (!resolved) {
    const after = await findReport(db, reportId);
    throw new AppError("conflict", "This report is already resolved", {
      status: after?.status ?? "resolved",
      resolution: after?.resolution ?? null,
      resolved_at: after?.resolvedAt ?? null,
    });
  }
  if (suspending) await suspensionChanged(env, current.reportedUserId, Number.POSITIVE_INFINITY);
  return resolved;
}

/** Redacted per scheduled run at most (pages of 100). */
const REDACT_PAGE = 100;
const REDACT_MAX_PAGES = 10;

/**
 * The scheduled job: snapshots of reports resolved more than REPORT_RETENTION_DAYS ago lose their
 * content, attachments and metadata (the hold ends); what was decided stays. Open reports keep
 * their evidence however old.
 */
export async function redactResolvedSnapshots(db: Db, env: Env, now: Date) {
  const cutoff = retentionCutoff(env, now);
  let redacted = 0;
  for (let page = 0; page < REDACT_MAX_PAGES; page++) {
    const due = (await dueRedactionsQuery(db, cutoff, REDACT_PAGE)).map((r) => r.pk);
    if (due.length === 0) break;
    await redactSnapshots(db, due, now.toISOString());
    redacted += due.length;
  }
  return { redacted };
}
