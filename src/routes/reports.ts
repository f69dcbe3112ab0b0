import { createRoute } from "@hono/zod-openapi";
import { ReportBody, ReportCreated } from "../schemas/reports";
import { fileReport } from "../services/reports";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "./openapi";

const create = createRoute({
  method: "post",
  path: "/",
  tags: ["safety"],
  security: bearer,
  summary: "Report a user",
  description: [
    "Keeps a server-side snapshot of the conversation with the reported user, taken by the database in the same write:",
    "its last 50 messages plus any `message_ids` named (which must be messages of that conversation, else 400), as",
    "moderators see them (deleted and blocked content included, with attachments). Nothing either user does later",
    "(a delete, an unmatch, a hard delete, an erasure) changes it. Works after a block or an unmatch, and for a user",
    "never written to (an empty snapshot). `block: true` blocks the user in the same write (see `POST /api/v2/blocks`).",
    "At most 5 reports a minute per reporter: past that 429 with `Retry-After`, nothing stored.",
  ].join(" "),
  request: { body: jsonBody(ReportBody) },
  responses: { 201: jsonOf(ReportCreated, "Filed"), ...errors(...BODY_ERRORS, "rate_limited") },
});

export const reportRoutes = createRouter().openapi(create, async (c) =>
  c.json(await fileReport(c.var.db, c.env, c.var.userId, c.req.valid("json")), 201),
);
