import { createRoute } from "@hono/zod-openapi";
import { requirePermission } from "../../middleware/permissions";
import { GrantBody, GrantResult } from "../../schemas/credits";
import { grantCredits } from "../../services/credits";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "../openapi";

const grant = createRoute({
  method: "post",
  path: "/credits/grant",
  tags: ["admin"],
  security: bearer,
  summary: "Grant credits to a user (credits.manage)",
  description: "The balance, the ledger row and the audit row are one atomic write.",
  middleware: [requirePermission("credits.manage", "credits.grant")] as const,
  request: { body: jsonBody(GrantBody) },
  responses: { 200: jsonOf(GrantResult, "The new balance"), ...errors(...BODY_ERRORS, "forbidden", "rate_limited") },
});

export const adminCreditRoutes = createRouter().openapi(grant, async (c) =>
  c.json(await grantCredits(c.var.db, c.var.audit, c.req.valid("json")), 200),
);
