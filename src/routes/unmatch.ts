import { createRoute } from "@hono/zod-openapi";
import { noBody } from "../middleware/body";
import { PartnerParam, Unmatched } from "../schemas/safety";
import { unmatch } from "../services/safety";
import { bearer, createRouter, errors, jsonOf } from "./openapi";

const unmatchRoute = createRoute({
  method: "post",
  path: "/{partner_id}/unmatch",
  tags: ["safety"],
  security: bearer,
  summary: "End a conversation for both, permanently",
  description: [
    "Mutual and final: in this write the conversation leaves both users' lists and unread counts; its history answers",
    "404 to both; sends either way answer 404 (never charged); both users' sockets on it close (4404) and new ones are",
    'refused; both users\' inbox sockets get `conversation.removed {partner_id, reason: "unmatched"}`. The messages stay',
    "for moderators and reports for REPORT_RETENTION_DAYS (default 30), then a scheduled job erases them. Idempotent:",
    "unmatching again answers the first unmatch's time. Works with no message exchanged yet (a match never written to).",
  ].join(" "),
  middleware: [noBody()] as const,
  request: { params: PartnerParam },
  responses: { 200: jsonOf(Unmatched, "Unmatched"), ...errors("validation_failed", "payload_too_large") },
});

export const unmatchRoutes = createRouter().openapi(unmatchRoute, async (c) =>
  c.json(await unmatch({ db: c.var.db, env: c.env }, c.var.userId, c.req.valid("param").partner_id), 200),
);
