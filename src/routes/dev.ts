import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { devAuthEnabled } from "../config";
import type { AppEnv } from "../env";
import { notFound } from "../errors";
import { signToken } from "../lib/jwt";
import { jwtConfigOf } from "../middleware/auth";
import { UserId } from "../schemas/common";
import { BODY_ERRORS, createRouter, jsonBody, jsonOf, publicErrors } from "./openapi";

const TTL_SECONDS = 12 * 3600;

const DevTokenBody = z.strictObject({ user_id: UserId }).openapi("DevTokenBody");
const DevToken = z.object({ token: z.string(), user_id: z.string(), expires_at: z.string() }).openapi("DevToken");

/** Without DEV_AUTH the route does not exist: 404 before the body is even validated. */
const devOnly = createMiddleware<AppEnv>(async function devOnly(c, next) {
  if (!devAuthEnabled(c.env)) throw notFound(`No route for ${c.req.method} ${c.req.path}`);
  await next();
});

const token = createRoute({
  method: "post",
  path: "/token",
  tags: ["development"],
  security: [],
  summary: "Local sign-in for the web client (only with DEV_AUTH=true; 404 otherwise)",
  middleware: [devOnly] as const,
  request: { body: jsonBody(DevTokenBody) },
  responses: { 200: jsonOf(DevToken, "A local HS256 token"), ...publicErrors(...BODY_ERRORS, "not_found") },
});

export const devRoutes = createRouter().openapi(token, async (c) => {
  const { user_id } = c.req.valid("json");
  const expiresAt = new Date(Date.now() + TTL_SECONDS * 1000).toISOString();
  return c.json({ token: await signToken(user_id, jwtConfigOf(c.env), TTL_SECONDS), user_id, expires_at: expiresAt }, 200);
});
