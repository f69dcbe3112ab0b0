import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, createAdmin, json, newUser, pair, send } from "./helpers";

type Role = "user" | "support" | "moderator" | "analyst" | "admin" | "super_admin" | "inactive";
const ROLES: Role[] = ["user", "support", "moderator", "analyst", "admin", "super_admin", "inactive"];

/** Each route with a fresh, valid request (its own target), and the success status it answers. */
type Case = { route: string; permission: string; ok: number; make: () => Promise<{ method: string; path: string; body?: unknown }> };

const freshMessage = async () => {
  const { alice, bob } = await pair(1);
  return send(alice, bob, "target");
};

const CASES: Case[] = [
  {
    route: "GET /messages/search",
    permission: "moderation.view",
    ok: 200,
    make: async () => ({ method: "GET", path: "/api/admin/messages/search?limit=1" }),
  },
  {
    route: "GET /messages/conversation/{a}/{b}",
    permission: "moderation.view",
    ok: 200,
    make: async () => ({ method: "GET", path: `/api/admin/messages/conversation/${newUser()}/${newUser()}` }),
  },
  {
    route: "POST /messages/{id}/moderate",
    permission: "moderation.action",
    ok: 200,
    make: async () => ({
      method: "POST",
      path: `/api/admin/messages/${(await freshMessage()).id}/moderate`,
      body: { moderation_status: "flagged", reason: "check" },
    }),
  },
  {
    route: "GET /messages/stats/overview",
    permission: "analytics.view",
    ok: 200,
    make: async () => ({ method: "GET", path: "/api/admin/messages/stats/overview" }),
  },
  {
    route: "GET /messages/export",
    permission: "analytics.export",
    ok: 200,
    make: async () => ({ method: "GET", path: `/api/admin/messages/export?format=ndjson&sender_id=${newUser()}` }),
  },
  {
    route: "DELETE /messages/{id}/hard-delete",
    permission: "super_admin",
    ok: 200,
    make: async () => ({ method: "DELETE", path: `/api/admin/messages/${(await freshMessage()).id}/hard-delete` }),
  },
  {
    route: "POST /credits/grant",
    permission: "credits.manage",
    ok: 200,
    make: async () => ({ method: "POST", path: "/api/admin/credits/grant", body: { user_id: newUser(), amount: 1, reason: "perm test" } }),
  },
  {
    route: "GET /audit-logs",
    permission: "super_admin",
    ok: 200,
    make: async () => ({ method: "GET", path: "/api/admin/audit-logs?limit=1" }),
  },
  {
    route: "GET /audit-logs/verify",
    permission: "super_admin",
    ok: 200,
    make: async () => ({ method: "GET", path: "/api/admin/audit-logs/verify" }),
  },
  { route: "GET /admins", permission: "super_admin", ok: 200, make: async () => ({ method: "GET", path: "/api/admin/admins" }) },
  {
    route: "PUT /admins/{id}",
    permission: "super_admin",
    ok: 201,
    make: async () => {
      const id = newUser("newadmin");
      return { method: "PUT", path: `/api/admin/admins/${id}`, body: { email: `${id}@pairly.test`, role: "support" } };
    },
  },
  {
    route: "POST /admins/{id}/deactivate",
    permission: "super_admin",
    ok: 200,
    make: async () => ({ method: "POST", path: `/api/admin/admins/${await createAdmin("support")}/deactivate` }),
  },
];

/** The contract's role table. */
const GRANTS: Record<Role, string[]> = {
  user: [],
  inactive: [],
  support: ["moderation.view"],
  moderator: ["moderation.view", "moderation.action"],
  analyst: ["analytics.view", "analytics.export"],
  admin: ["moderation.view", "moderation.action", "analytics.view", "analytics.export", "credits.manage"],
  super_admin: ["moderation.view", "moderation.action", "analytics.view", "analytics.export", "credits.manage", "super_admin"],
};

async function callerFor(role: Role): Promise<string> {
  if (role === "user") return newUser("plain");
  if (role === "inactive") return createAdmin("super_admin", { active: false });
  return createAdmin(role);
}

const table = ROLES.flatMap((role) => CASES.map((c) => [role, c.route, GRANTS[role].includes(c.permission) ? c.ok : 403, c] as const));

describe("role × route → status, and every call leaves exactly one audit row", () => {
  it.each(table)("%s on %s → %i", async (role, _route, expected, c) => {
    const caller = await callerFor(role);
    const { method, path, body } = await c.make();
    const client = as(caller);
    const res =
      method === "GET"
        ? await client.get(path)
        : method === "DELETE"
          ? await client.del(path)
          : method === "PUT"
            ? await client.put(path, body)
            : await client.post(path, body);
    expect(res.status).toBe(expected);
    if (expected === 403) expect(await json(res)).toMatchObject({ error: { code: "forbidden" } });
    else await res.arrayBuffer(); // drain (export streams)
    const requestId = res.headers.get("x-request-id");
    const rows = await env.DB.prepare("SELECT admin_id, outcome, status_code, severity FROM audit_log WHERE request_id = ?")
      .bind(requestId)
      .all();
    expect(rows.results).toEqual([
      {
        admin_id: caller,
        outcome: expected === 403 ? "denied" : "success",
        status_code: expected,
        severity: expect.stringMatching(expected === 403 ? /^warning$/ : /^(info|warning|critical)$/),
      },
    ]);
  });
});

describe("permissions are read from D1 on every request", () => {
  it("a demoted admin loses the permission on the next request; a deactivated one loses access", async () => {
    const mod = await createAdmin("moderator");
    const m = await freshMessage();
    const moderate = () => as(mod).post(`/api/admin/messages/${m.id}/moderate`, { moderation_status: "approved" });
    expect((await moderate()).status).toBe(200);
    await env.DB.prepare("UPDATE admins SET role = 'support' WHERE id = ?").bind(mod).run();
    expect((await moderate()).status).toBe(403);
    expect((await as(mod).get("/api/admin/messages/search")).status).toBe(200);
    await env.DB.prepare("UPDATE admins SET active = 0 WHERE id = ?").bind(mod).run();
    expect((await as(mod).get("/api/admin/messages/search")).status).toBe(403);
  });

  it("claims in the token grant nothing", async () => {
    const { SignJWT } = await import("jose");
    const user = newUser("claims");
    const token = await new SignJWT({ role: "super_admin", permissions: ["super_admin"], admin: true })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(user)
      .setIssuer(env.JWT_ISSUER)
      .setAudience(env.JWT_AUDIENCE)
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    const { call } = await import("./helpers");
    expect((await call("GET", "/api/admin/audit-logs", { token })).status).toBe(403);
  });

  it("an unknown message is 404 for a permitted admin (and the failure is audited)", async () => {
    const mod = await createAdmin("moderator");
    const res = await as(mod).post("/api/admin/messages/msg_nope/moderate", { moderation_status: "approved" });
    expect(res.status).toBe(404);
    const row = await env.DB.prepare("SELECT outcome, status_code, target_id FROM audit_log WHERE request_id = ?")
      .bind(res.headers.get("x-request-id"))
      .first();
    expect(row).toEqual({ outcome: "failed", status_code: 404, target_id: "msg_nope" });
  });
});
