import { createRoute } from "@hono/zod-openapi";
import { requirePermission } from "../../middleware/permissions";
import { AdminReport, ReportIdParam, ReportPage, ReportQuery, ResolveBody } from "../../schemas/reports";
import { reportQueue, resolveReport, toAdminReport } from "../../services/reports";
import { suspensionOf } from "../../services/safety";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "../openapi";

const tags = ["admin"];

const queue = createRoute({
  method: "get",
  path: "/reports",
  tags,
  security: bearer,
  summary: "The report queue (moderation.view)",
  description: [
    "Filters combine (AND): `status`, `user_id` (the reported user), `reporter_id`, `reason`, `from`/`to` (when filed).",
    "Newest first, offset-paged (`page`, `limit`) with the `total`. Each report carries its snapshot (oldest first;",
    "attachments point at the audited admin download route) and the reported user's suspension. A snapshot is",
    "redacted (content, attachments and metadata gone, `snapshot_redacted_at` set) once its report has been resolved",
    "for REPORT_RETENTION_DAYS; open reports keep theirs. Audited.",
  ].join(" "),
  middleware: [requirePermission("moderation.view", "reports.list")] as const,
  request: { query: ReportQuery },
  responses: { 200: jsonOf(ReportPage, "A page of reports and the total"), ...errors("validation_failed", "forbidden", "rate_limited") },
});

const resolve = createRoute({
  method: "post",
  path: "/reports/{report_id}/resolve",
  tags,
  security: bearer,
  summary: "Resolve a report (moderation.action)",
  description: [
    "The resolution and its audit row are one write; `user_suspended` also suspends the reported user in that write",
    "(until unsuspended, the note as the reason; their sockets then close). `content_removed` records a decision: remove",
    "content with the moderation route (each change audited, blocked messages refunded). A report is resolved once:",
    "again → 409 with what it was resolved as, nothing changed.",
  ].join(" "),
  middleware: [
    requirePermission("moderation.action", "reports.resolve", (p) => ({ targetType: "report", targetId: p.report_id })),
  ] as const,
  request: { params: ReportIdParam, body: jsonBody(ResolveBody) },
  responses: {
    200: jsonOf(AdminReport, "Resolved"),
    ...errors(...BODY_ERRORS, "forbidden", "rate_limited", "not_found", "conflict"),
  },
});

export const adminReportRoutes = createRouter()
  .openapi(queue, async (c) => c.json(await reportQueue(c.var.db, c.req.valid("query")), 200))
  .openapi(resolve, async (c) => {
    const report = await resolveReport(c.var.db, c.env, c.var.audit, c.req.valid("param").report_id, c.req.valid("json"));
    return c.json(toAdminReport(report, (await suspensionOf(c.var.db, report.reportedUserId)) ?? null), 200);
  });
