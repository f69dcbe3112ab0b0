import { createRoute } from "@hono/zod-openapi";
import { requirePermission } from "../../middleware/permissions";
import { AuditPage, AuditQuery, ChainVerdict } from "../../schemas/admin";
import { auditLogPage, verifyChain } from "../../services/audit";
import { bearer, createRouter, errors, jsonOf } from "../openapi";

const tags = ["admin"];

const list = createRoute({
  method: "get",
  path: "/audit-logs",
  tags,
  security: bearer,
  summary: "The audit log, newest first (super_admin)",
  description:
    "Every admin call (reads and refusals included) has a row. Filters combine; page with `cursor` = `next_cursor`. " +
    "Append-only: no route changes it, and triggers refuse UPDATE and DELETE in SQL.",
  middleware: [requirePermission("super_admin", "audit.list")] as const,
  request: { query: AuditQuery },
  responses: { 200: jsonOf(AuditPage, "A page of audit rows"), ...errors("validation_failed", "forbidden") },
});

const verify = createRoute({
  method: "get",
  path: "/audit-logs/verify",
  tags,
  security: bearer,
  summary: "Walk the audit hash chain (super_admin)",
  description: "Recomputes every row's SHA-256 and checks each links to the one before. `ok`, or the first broken row.",
  middleware: [requirePermission("super_admin", "audit.verify")] as const,
  responses: { 200: jsonOf(ChainVerdict, "The verdict"), ...errors("forbidden") },
});

export const adminAuditRoutes = createRouter()
  .openapi(list, async (c) => {
    const q = c.req.valid("query");
    const filter = { adminId: q.admin_id, action: q.action, targetId: q.target_id, from: q.from, to: q.to };
    return c.json(await auditLogPage(c.var.db, filter, q), 200);
  })
  .openapi(verify, async (c) => c.json(await verifyChain(c.var.db, c.env.AUDIT_HMAC_KEY), 200));
