import { createRoute, z } from "@hono/zod-openapi";
import { noBody } from "../../middleware/body";
import { requirePermission } from "../../middleware/permissions";
import { AdminAccount, AdminIdParam, UpsertAdminBody } from "../../schemas/admin";
import { allAdmins, deactivateAdmin, upsertAdmin } from "../../services/admins";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "../openapi";

const tags = ["admin"];
const adminTarget = (p: Record<string, string>) => ({ targetType: "admin", targetId: p.admin_id });

const list = createRoute({
  method: "get",
  path: "/admins",
  tags,
  security: bearer,
  summary: "List admins (super_admin)",
  middleware: [requirePermission("super_admin", "admins.list")] as const,
  responses: { 200: jsonOf(z.object({ admins: z.array(AdminAccount) }), "All admins"), ...errors("forbidden", "rate_limited") },
});

const upsert = createRoute({
  method: "put",
  path: "/admins/{admin_id}",
  tags,
  security: bearer,
  summary: "Create or update an admin (super_admin)",
  description:
    "`admin_id` is the `sub` of that admin's tokens. 201 when created, 200 when updated. Demoting or deactivating the last active super admin answers 409.",
  middleware: [requirePermission("super_admin", "admins.upsert", adminTarget)] as const,
  request: { params: AdminIdParam, body: jsonBody(UpsertAdminBody) },
  responses: {
    200: jsonOf(AdminAccount, "Updated"),
    201: jsonOf(AdminAccount, "Created"),
    ...errors(...BODY_ERRORS, "forbidden", "rate_limited", "conflict"),
  },
});

const deactivate = createRoute({
  method: "post",
  path: "/admins/{admin_id}/deactivate",
  tags,
  security: bearer,
  summary: "Deactivate an admin (super_admin)",
  description: "Takes effect on that admin's next request. The last active super admin cannot be deactivated (409).",
  middleware: [requirePermission("super_admin", "admins.deactivate", adminTarget), noBody()] as const,
  request: { params: AdminIdParam },
  responses: {
    200: jsonOf(AdminAccount, "Deactivated"),
    ...errors("validation_failed", "payload_too_large", "forbidden", "rate_limited", "not_found", "conflict"),
  },
});

export const adminAccountRoutes = createRouter()
  .openapi(list, async (c) => c.json({ admins: await allAdmins(c.var.db) }, 200))
  .openapi(upsert, async (c) => {
    const { account, created } = await upsertAdmin(c.var.db, c.var.audit, c.req.valid("param").admin_id, c.req.valid("json"));
    return c.json(account, created ? 201 : 200);
  })
  .openapi(deactivate, async (c) => c.json(await deactivateAdmin(c.var.db, c.var.audit, c.req.valid("param").admin_id), 200));
