import { createRoute } from "@hono/zod-openapi";
import { noBody } from "../../middleware/body";
import { requirePermission } from "../../middleware/permissions";
import { Erasure, SuspendBody, Suspension, UserIdParam } from "../../schemas/safety";
import { eraseUserMessages } from "../../services/erasure";
import { suspend, unsuspend } from "../../services/safety";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "../openapi";

const tags = ["admin"];
const userTarget = (p: Record<string, string>) => ({ targetType: "user", targetId: p.user_id });

const suspendRoute = createRoute({
  method: "post",
  path: "/users/{user_id}/suspend",
  tags,
  security: bearer,
  summary: "Suspend a user (moderation.action)",
  description: [
    "Audited in the same write. A suspended user still signs in and reads; every send answers 403 with",
    '`details.reason = "suspended"` and is never charged (checked inside the send\'s own write). Every socket of theirs',
    "(each conversation and the inbox) closes at once with code 4403, and new ones are closed with it right after the",
    "upgrade. `until` (in the future) ends it by itself; without it, until unsuspended. Suspending a suspended user",
    "replaces reason and end.",
  ].join(" "),
  middleware: [requirePermission("moderation.action", "users.suspend", userTarget)] as const,
  request: { params: UserIdParam, body: jsonBody(SuspendBody) },
  responses: { 200: jsonOf(Suspension, "Suspended"), ...errors(...BODY_ERRORS, "forbidden", "rate_limited") },
});

const unsuspendRoute = createRoute({
  method: "post",
  path: "/users/{user_id}/unsuspend",
  tags,
  security: bearer,
  summary: "Lift a user's suspension (moderation.action)",
  description: "Idempotent; audited with the suspension it lifted (or none). Sends and sockets work again at once.",
  middleware: [requirePermission("moderation.action", "users.unsuspend", userTarget), noBody()] as const,
  request: { params: UserIdParam },
  responses: { 200: jsonOf(Suspension, "Not suspended"), ...errors("validation_failed", "payload_too_large", "forbidden", "rate_limited") },
});

const erase = createRoute({
  method: "delete",
  path: "/users/{user_id}/messages",
  tags,
  security: bearer,
  summary: "Erase every message a user sent (super_admin)",
  description: [
    "Hard-deletes every message the user sent, with its search index entries, its attachments' bytes (and the user's",
    "uploads never sent) and the push state of their pairs. Ledger rows stay (amounts are accounting, they hold no",
    "text); report snapshots stay under their retention hold (redacted REPORT_RETENTION_DAYS after the report is",
    "resolved). The audit row records counts only. Work is done in chunks, at most ERASURE_MAX_QUERIES database queries",
    "per step: this call runs one step and answers the progress; a Durable Object alarm runs the next steps until",
    'nothing is left (`status: "done"`). Calling again answers the progress (and continues it); calling after it is',
    "done erases what the user sent since, if anything.",
  ].join(" "),
  middleware: [requirePermission("super_admin", "users.erase_messages", userTarget), noBody()] as const,
  request: { params: UserIdParam },
  responses: { 200: jsonOf(Erasure, "Progress"), ...errors("validation_failed", "payload_too_large", "forbidden", "rate_limited") },
});

export const adminUserRoutes = createRouter()
  .openapi(suspendRoute, async (c) =>
    c.json(await suspend(c.var.db, c.env, c.var.audit, c.req.valid("param").user_id, c.req.valid("json")), 200),
  )
  .openapi(unsuspendRoute, async (c) => c.json(await unsuspend(c.var.db, c.env, c.var.audit, c.req.valid("param").user_id), 200))
  .openapi(erase, async (c) => c.json(await eraseUserMessages(c.var.db, c.env, c.var.audit, c.req.valid("param").user_id), 200));
