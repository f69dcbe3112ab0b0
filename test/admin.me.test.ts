import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, auditRowsOf, call, createAdmin, json, newUser } from "./helpers";

const PERMISSIONS_OF: Record<string, string[]> = {
  support: ["moderation.view"],
  moderator: ["moderation.view", "moderation.action"],
  analyst: ["analytics.view", "analytics.export"],
  admin: ["moderation.view", "moderation.action", "analytics.view", "analytics.export", "credits.manage"],
  super_admin: ["moderation.view", "moderation.action", "analytics.view", "analytics.export", "credits.manage", "super_admin"],
};

describe("GET /api/admin/me", () => {
  it.each(Object.entries(PERMISSIONS_OF))(
    "role %s: the caller sees who they are and what the role allows, and the call is audited",
    async (role, permissions) => {
      const id = await createAdmin(role);
      const res = await as(id).get("/api/admin/me");
      expect(res.status).toBe(200);
      expect(await json(res)).toEqual({ id, email: `${id}@pairly.test`, role, permissions });
      const rows = await auditRowsOf(res);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        admin_id: id,
        admin_role: role,
        action: "admin.me",
        target_type: "admin",
        target_id: id,
        outcome: "success",
        status_code: 200,
        severity: "info",
      });
    },
  );

  it("follows the role in the database on the next request (a demotion shows at once)", async () => {
    const id = await createAdmin("admin");
    expect((await json(await as(id).get("/api/admin/me"))).permissions).toContain("credits.manage");
    await env.DB.prepare("UPDATE admins SET role = 'support' WHERE id = ?").bind(id).run();
    expect(await json(await as(id).get("/api/admin/me"))).toMatchObject({ role: "support", permissions: ["moderation.view"] });
  });

  it("refuses a plain user and an inactive admin with 403, audited as a denied access, and 401 without a token", async () => {
    const user = newUser();
    const inactive = await createAdmin("super_admin", { active: false });
    for (const caller of [user, inactive]) {
      const res = await as(caller).get("/api/admin/me");
      expect(res.status).toBe(403);
      expect(await json(res)).toMatchObject({ error: { code: "forbidden" } });
      expect(await auditRowsOf(res)).toEqual([expect.objectContaining({ admin_id: caller, action: "admin.access", outcome: "denied" })]);
    }
    expect((await call("GET", "/api/admin/me")).status).toBe(401);
  });
});
