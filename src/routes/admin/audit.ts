import { createRoute } from "@hono/zod-openapi";
import { requirePermission } from "../../middleware/permissions";
import { AuditPage, AuditQuery, ChainVerdict } from "../../schemas/admin";
import { auditLogPage } from "../../services/audit";
import { verifyAuditLog } from "../../services/audit-chain";
import { bearer, createRouter, errors, jsonOf } from "../openapi";

const tags = ["admin"];

const list = createRoute({
  method: "get",
  path: "/audit-logs",
  tags,
  security: bearer,
  summary: "The audit log, newest first (super_admin)",
  description:
    "Every admin call (reads and refusals included) has a row, committed with the change it records; a caller past the " +
    "allowance of refused calls (429) gets one row per minute. Filters combine; page with `cursor` = `next_cursor`. " +
    "Append-only: no route changes it, and triggers refuse UPDATE and DELETE in SQL. Moments after its commit each row is " +
    "sealed into an HMAC-SHA256 chain in commit order: `prev_hash`, `hash` and `key_id` (the key that sealed it) are null " +
    "until then. No message content is ever stored: a SHA-256 and a length stand for it. `request_id` is the server's id " +
    "(the response's X-Request-Id); an X-Request-Id the client sent is kept as `details.client_request_id`.",
  middleware: [requirePermission("super_admin", "audit.list")] as const,
  request: { query: AuditQuery },
  responses: { 200: jsonOf(AuditPage, "A page of audit rows"), ...errors("validation_failed", "forbidden", "rate_limited") },
});

const verify = createRoute({
  method: "get",
  path: "/audit-logs/verify",
  tags,
  security: bearer,
  summary: "Seal what is pending, then walk the audit chain (super_admin)",
  description:
    "First asks the sealer to seal every row committed so far, then recomputes every seal's HMAC-SHA256 with the key its " +
    "`key_id` names (the current key or one in AUDIT_HMAC_PREVIOUS_KEYS) and checks each links to the one before. " +
    "`{ok: true, rows_checked, head_hash, unsealed}` (`unsealed`: rows after the last seal, committed while the walk ran " +
    "or left by a sealer that failed), or `{ok: false, rows_checked, first_broken}` naming the first row that does not " +
    "verify: `hash_mismatch` (the row or its seal changed, or was sealed with another key), `prev_hash_mismatch` (a row " +
    "before it was removed), `unknown_key` (its key is not configured), `seal_missing` (its seal was removed), or " +
    "`chain_truncated` (rows or seals at the end are gone; the sealer keeps its last seal outside D1, `id` is null).",
  middleware: [requirePermission("super_admin", "audit.verify")] as const,
  responses: { 200: jsonOf(ChainVerdict, "The verdict"), ...errors("forbidden", "rate_limited") },
});

export const adminAuditRoutes = createRouter()
  .openapi(list, async (c) => {
    const q = c.req.valid("query");
    const filter = { adminId: q.admin_id, action: q.action, targetId: q.target_id, from: q.from, to: q.to };
    return c.json(await auditLogPage(c.var.db, filter, q), 200);
  })
  .openapi(verify, async (c) => c.json(await verifyAuditLog(c.var.db, c.env), 200));
