import { createRoute, z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { PERMISSIONS } from "../../db/schema";
import type { AppEnv } from "../../env";
import { Role } from "../../schemas/admin";
import { bearer, createRouter, errors, jsonOf } from "../openapi";

const AdminMe = z
  .object({
    id: z.string().openapi({ example: "boss" }),
    email: z.string().openapi({ example: "boss@example.com" }),
    role: Role,
    permissions: z.array(z.enum(PERMISSIONS)).openapi({ example: ["moderation.view", "moderation.action"] }),
  })
  .openapi("AdminMe");

/** Any active admin may ask who they are: no permission, but the call is audited like every admin call. */
const claimAudit = createMiddleware<AppEnv>(async function claimAudit(c, next) {
  c.var.audit.action = "admin.me";
  c.var.audit.target = { targetType: "admin", targetId: c.var.admin.id };
  await next();
});

const me = createRoute({
  method: "get",
  path: "/me",
  tags: ["admin"],
  security: bearer,
  summary: "The calling admin and the permissions of their role (any active admin)",
  description:
    "Read from the database on this request (never from the token), so a console shows only what the role allows now. " +
    "A caller who is not an active admin gets 403. Audited as `admin.me`.",
  middleware: [claimAudit] as const,
  responses: { 200: jsonOf(AdminMe, "The caller"), ...errors("forbidden", "rate_limited") },
});

export const adminMeRoutes = createRouter().openapi(me, (c) => {
  const { id, email, role, permissions } = c.var.admin;
  return c.json({ id, email, role, permissions: PERMISSIONS.filter((p) => permissions.includes(p)) }, 200);
});
