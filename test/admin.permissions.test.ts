import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  as,
  auditRowsOf,
  balanceOf,
  call,
  count,
  createAdmin,
  indexNow,
  json,
  newUser,
  pair,
  planOf,
  seedCredits,
  send,
  tokenFor,
} from "./helpers";

type Role = "user" | "support" | "moderator" | "analyst" | "admin" | "super_admin" | "inactive";
const ROLES: Role[] = ["user", "support", "moderator", "analyst", "admin", "super_admin", "inactive"];
type Severity = "info" | "warning" | "critical";

/**
 * One request of a route on its own fresh target. `effect(happened)` asserts what is stored: the
 * change when the call succeeded, and everything exactly as it was when it was refused.
 */
type Call = {
  method: string;
  path: string;
  body?: unknown;
  target?: { type: string; id: string };
  effect?: (happened: boolean) => Promise<void>;
};

/** Each route: its permission, the audited action, the success status and the severity of its success row. */
type Case = {
  route: string;
  permission: string;
  action: string;
  ok: number;
  severity: Severity;
  /** The target is named by the body, not the path: only the row written with the change carries it. */
  targetFromBody?: boolean;
  make: () => Promise<Call>;
};

/** A message whose content holds a word no other message has, so its search index entry can be counted. */
const freshMessage = async () => {
  const { alice, bob } = await pair(1);
  const word = `w${crypto.randomUUID().replaceAll("-", "")}`;
  const sent = await send(alice, bob, `target ${word}`);
  await indexNow(); // an indexed message, so a hard delete must also take it out of the index
  return { ...sent, word };
};
const moderationOf = (id: string) =>
  env.DB.prepare("SELECT moderation_status, moderation_reason FROM messages WHERE id = ?").bind(id).first();
const indexed = (word: string) => count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${word}"`);

const CASES: Case[] = [
  {
    route: "GET /messages/search",
    permission: "moderation.view",
    action: "messages.search",
    ok: 200,
    severity: "info",
    make: async () => ({ method: "GET", path: "/api/admin/messages/search?limit=1" }),
  },
  {
    route: "GET /messages/conversation/{a}/{b}",
    permission: "moderation.view",
    action: "messages.conversation_view",
    ok: 200,
    severity: "info",
    make: async () => {
      const [a, b] = [newUser(), newUser()];
      return { method: "GET", path: `/api/admin/messages/conversation/${a}/${b}`, target: { type: "conversation", id: `${a}:${b}` } };
    },
  },
  {
    route: "POST /messages/{id}/moderate",
    permission: "moderation.action",
    action: "messages.moderate",
    ok: 200,
    severity: "warning",
    make: async () => {
      const m = await freshMessage();
      return {
        method: "POST",
        path: `/api/admin/messages/${m.id}/moderate`,
        body: { moderation_status: "flagged", reason: "check" },
        target: { type: "message", id: m.id },
        effect: async (happened) =>
          expect(await moderationOf(m.id)).toEqual(
            happened
              ? { moderation_status: "flagged", moderation_reason: "check" }
              : { moderation_status: "pending", moderation_reason: null },
          ),
      };
    },
  },
  {
    route: "GET /messages/stats/overview",
    permission: "analytics.view",
    action: "messages.stats",
    ok: 200,
    severity: "info",
    make: async () => ({ method: "GET", path: "/api/admin/messages/stats/overview" }),
  },
  {
    route: "GET /messages/export",
    permission: "analytics.export",
    action: "messages.export",
    ok: 200,
    severity: "info",
    make: async () => ({ method: "GET", path: `/api/admin/messages/export?format=ndjson&sender_id=${newUser()}` }),
  },
  {
    route: "DELETE /messages/{id}/hard-delete",
    permission: "super_admin",
    action: "messages.hard_delete",
    ok: 200,
    severity: "critical",
    make: async () => {
      const m = await freshMessage();
      return {
        method: "DELETE",
        path: `/api/admin/messages/${m.id}/hard-delete`,
        target: { type: "message", id: m.id },
        effect: async (happened) => {
          expect(await count("SELECT 1 FROM messages WHERE id = ? AND is_deleted = 0", m.id)).toBe(happened ? 0 : 1);
          expect(await indexed(m.word)).toBe(happened ? 0 : 1);
        },
      };
    },
  },
  {
    route: "POST /credits/grant",
    permission: "credits.manage",
    action: "credits.grant",
    ok: 200,
    severity: "warning",
    targetFromBody: true,
    make: async () => {
      const user = newUser();
      await seedCredits(user, 5);
      return {
        method: "POST",
        path: "/api/admin/credits/grant",
        body: { user_id: user, amount: 1, reason: "perm test" },
        target: { type: "user", id: user },
        effect: async (happened) => {
          expect(await balanceOf(user)).toBe(happened ? 6 : 5);
          expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", user)).toBe(happened ? 2 : 1);
        },
      };
    },
  },
  {
    route: "GET /audit-logs",
    permission: "super_admin",
    action: "audit.list",
    ok: 200,
    severity: "info",
    make: async () => ({ method: "GET", path: "/api/admin/audit-logs?limit=1" }),
  },
  {
    route: "GET /audit-logs/verify",
    permission: "super_admin",
    action: "audit.verify",
    ok: 200,
    severity: "info",
    make: async () => ({ method: "GET", path: "/api/admin/audit-logs/verify" }),
  },
  {
    route: "GET /admins",
    permission: "super_admin",
    action: "admins.list",
    ok: 200,
    severity: "info",
    make: async () => ({ method: "GET", path: "/api/admin/admins" }),
  },
  {
    route: "PUT /admins/{id}",
    permission: "super_admin",
    action: "admins.upsert",
    ok: 201,
    severity: "critical",
    make: async () => {
      const id = newUser("newadmin");
      return {
        method: "PUT",
        path: `/api/admin/admins/${id}`,
        body: { email: `${id}@pairly.test`, role: "support" },
        target: { type: "admin", id },
        effect: async (happened) =>
          expect(await env.DB.prepare("SELECT email, role, active FROM admins WHERE id = ?").bind(id).first()).toEqual(
            happened ? { email: `${id}@pairly.test`, role: "support", active: 1 } : null,
          ),
      };
    },
  },
  {
    route: "POST /admins/{id}/deactivate",
    permission: "super_admin",
    action: "admins.deactivate",
    ok: 200,
    severity: "critical",
    make: async () => {
      const id = await createAdmin("support");
      return {
        method: "POST",
        path: `/api/admin/admins/${id}/deactivate`,
        target: { type: "admin", id },
        effect: async (happened) =>
          expect(await env.DB.prepare("SELECT role, active FROM admins WHERE id = ?").bind(id).first()).toEqual({
            role: "support",
            active: happened ? 0 : 1,
          }),
      };
    },
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

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const parse = (text: unknown) => JSON.parse(String(text));

const table = ROLES.flatMap((role) => CASES.map((c) => [role, c.route, GRANTS[role].includes(c.permission) ? c.ok : 403, c] as const));

describe("role × route → status, what is stored, and exactly one audit row", () => {
  it.each(table)("%s on %s → %i", async (role, _route, expected, c) => {
    const caller = await callerFor(role);
    const { method, path, body, target, effect } = await c.make();
    const requestId = `perm-${crypto.randomUUID()}`;
    const start = new Date().toISOString();
    const res = await call(method, path, {
      token: await tokenFor(caller),
      body,
      headers: { "user-agent": "perm-table/1.0", "cf-connecting-ip": "203.0.113.9", "x-request-id": requestId },
    });
    expect(res.status).toBe(expected);
    if (expected === 403) expect(await json(res)).toMatchObject({ error: { code: "forbidden" } });
    else await res.arrayBuffer(); // drain (export streams)
    const end = new Date().toISOString();
    // The request id is ours, never the client's (which the row keeps in its details).
    const serverId = res.headers.get("x-request-id");
    expect(serverId).toMatch(/^[0-9a-f-]{36}$/);
    await effect?.(expected !== 403);

    // Not an active admin: refused at the door, before any route is looked at.
    const atTheDoor = role === "user" || role === "inactive";
    const recordsTarget = !atTheDoor && !(c.targetFromBody && expected === 403);
    const rows = await auditRowsOf(res);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      action: atTheDoor ? "admin.access" : c.action,
      target_type: recordsTarget ? (target?.type ?? null) : null,
      target_id: recordsTarget ? (target?.id ?? null) : null,
      admin_id: caller,
      admin_email: role === "user" ? null : `${caller}@pairly.test`,
      admin_role: role === "user" ? null : role === "inactive" ? "super_admin" : role,
      outcome: expected === 403 ? "denied" : "success",
      status_code: expected,
      severity: expected === 403 ? "warning" : c.severity,
      ip: "203.0.113.9",
      user_agent: "perm-table/1.0",
      request_id: serverId,
      created_at: expect.stringMatching(ISO),
    });
    expect(String(row?.created_at) >= start && String(row?.created_at) <= end).toBe(true);
    expect(parse(row?.details)).toMatchObject({ client_request_id: requestId });
    if (atTheDoor) {
      expect(parse(row?.details)).toEqual({
        path: path.split("?")[0],
        method,
        reason: role === "user" ? "not_admin" : "inactive",
        client_request_id: requestId,
      });
    } else if (expected === 403) {
      expect(parse(row?.details)).toMatchObject({ permission: c.permission, error: "forbidden" });
    }
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

describe("every admin call leaves exactly one audit row, whatever ends it", () => {
  it("an unknown admin path is a 404 in the contract's error shape, audited as admin.unknown_route", async () => {
    const admin = await createAdmin("admin");
    const res = await as(admin).get("/api/admin/no-such-thing?x=1");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    const rows = await auditRowsOf(res);
    expect(rows).toEqual([
      expect.objectContaining({
        action: "admin.unknown_route",
        admin_id: admin,
        admin_role: "admin",
        target_id: null,
        outcome: "failed",
        status_code: 404,
        severity: "warning",
      }),
    ]);
    expect(parse(rows[0]?.details)).toEqual({ query: { x: "1" }, method: "GET", path: "/api/admin/no-such-thing", error: "not_found" });
  });

  it("a known path with a method it does not serve is an unknown route too", async () => {
    const admin = await createAdmin("admin");
    const user = newUser();
    const res = await as(admin).put("/api/admin/credits/grant", { user_id: user, amount: 1, reason: "wrong verb" });
    expect(res.status).toBe(404);
    expect(await auditRowsOf(res)).toEqual([expect.objectContaining({ action: "admin.unknown_route", status_code: 404 })]);
    expect(await balanceOf(user)).toBe(0);
  });

  it("an unknown admin path tells a non-admin nothing: 403, one admin.access row", async () => {
    const plain = newUser("plain");
    const res = await as(plain).get("/api/admin/no-such-thing");
    expect(res.status).toBe(403);
    expect(await auditRowsOf(res)).toEqual([
      expect.objectContaining({ action: "admin.access", admin_id: plain, outcome: "denied", status_code: 403 }),
    ]);
  });

  // A grant that would be valid once parsed: the JSON is padded with whitespace past 64 KiB.
  const oversized = (user: string) => JSON.stringify({ user_id: user, amount: 5, reason: "too big" }) + " ".repeat(64 * 1024);

  it("an admin's body over 64 KiB is a 413, grants nothing, and is audited as a failure", async () => {
    const admin = await createAdmin("admin");
    const user = newUser();
    const res = await call("POST", "/api/admin/credits/grant", { token: await tokenFor(admin), body: oversized(user) });
    expect(res.status).toBe(413);
    expect(await json(res)).toMatchObject({ error: { code: "payload_too_large" } });
    expect(await balanceOf(user)).toBe(0);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", user)).toBe(0);
    const rows = await auditRowsOf(res);
    expect(rows).toEqual([
      expect.objectContaining({
        action: "credits.grant",
        admin_id: admin,
        admin_role: "admin",
        outcome: "failed",
        status_code: 413,
        severity: "warning",
      }),
    ]);
    expect(parse(rows[0]?.details)).toMatchObject({ error: "payload_too_large" });
    // The same grant without the padding goes through: the size alone refused it.
    const small = await call("POST", "/api/admin/credits/grant", { token: await tokenFor(admin), body: oversized(user).trim() });
    expect(small.status).toBe(200);
    expect(await balanceOf(user)).toBe(5);
  });

  it("an admin without the route's permission gets 403 for an oversized body too (the permission is checked first)", async () => {
    const support = await createAdmin("support");
    const user = newUser();
    const res = await call("POST", "/api/admin/credits/grant", { token: await tokenFor(support), body: oversized(user) });
    expect(res.status).toBe(403);
    expect(await auditRowsOf(res)).toEqual([
      expect.objectContaining({ action: "credits.grant", admin_id: support, outcome: "denied", status_code: 403 }),
    ]);
    expect(await balanceOf(user)).toBe(0);
  });

  it("a non-admin's body over 64 KiB is refused as a non-admin (403, not 413), with one admin.access row", async () => {
    const plain = newUser("plain");
    const user = newUser();
    const res = await call("POST", "/api/admin/credits/grant", { token: await tokenFor(plain), body: oversized(user) });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: { code: "forbidden" } });
    const rows = await auditRowsOf(res);
    expect(rows).toEqual([
      expect.objectContaining({ action: "admin.access", admin_id: plain, admin_role: null, outcome: "denied", status_code: 403 }),
    ]);
    expect(parse(rows[0]?.details)).toEqual({ path: "/api/admin/credits/grant", method: "POST", reason: "not_admin" });
    expect(await balanceOf(user)).toBe(0);
  });

  it.each([
    ["a field the schema refuses", (user: string) => JSON.stringify({ user_id: user, amount: 0, reason: "zero" })],
    ["malformed JSON", (user: string) => `{"user_id": "${user}", "amount": 1,`],
  ])("a validation 400 (%s) is recorded under the route's action as a failure, and grants nothing", async (_name, body) => {
    const admin = await createAdmin("admin");
    const user = newUser();
    const res = await call("POST", "/api/admin/credits/grant", { token: await tokenFor(admin), body: body(user) });
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: { code: "validation_failed" } });
    const rows = await auditRowsOf(res);
    expect(rows).toEqual([
      expect.objectContaining({
        action: "credits.grant",
        admin_id: admin,
        outcome: "failed",
        status_code: 400,
        severity: "warning",
      }),
    ]);
    expect(parse(rows[0]?.details)).toMatchObject({ error: "validation_failed" });
    expect(await balanceOf(user)).toBe(0);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", user)).toBe(0);
  });
});

describe("refused admin calls are throttled per caller (10 a minute), and audited once per window", () => {
  /**
   * Calls until `throttled` calls answered 429. The limiter counts in fixed windows of a minute, so a
   * window's edge between two calls may grant a fresh allowance: the loop does not assume where.
   */
  async function probe(call: (i: number) => Promise<Response>, throttled = 4) {
    const responses: Response[] = [];
    for (let i = 0; i < 60 && responses.filter((r) => r.status === 429).length < throttled; i++) responses.push(await call(i));
    return responses;
  }

  async function expectThrottledOncePerWindow(responses: Response[], caller: string, action: string) {
    const refused = responses.filter((r) => r.status === 403);
    const throttled = responses.filter((r) => r.status === 429);
    expect(refused.length + throttled.length).toBe(responses.length);
    expect(refused.length).toBeGreaterThanOrEqual(10); // the allowance comes first
    expect(responses.slice(0, 10).map((r) => r.status)).toEqual(Array(10).fill(403));
    expect(throttled.length).toBe(4);
    for (const r of refused) expect(await auditRowsOf(r)).toHaveLength(1);
    for (const r of throttled) {
      expect(r.headers.get("retry-after")).toBe("60");
      expect(await json(r)).toEqual({ error: { code: "rate_limited", message: expect.any(String) } });
    }
    // The first throttled call of a (clock) minute writes one row; the others of that minute write none.
    const rows = (await Promise.all(throttled.map(auditRowsOf))).flat();
    const windows = new Set(rows.map((r) => parse(r.details).window_start));
    expect(rows.length).toBe(windows.size);
    expect(rows.length).toBeLessThan(throttled.length);
    for (const row of rows) {
      expect(row).toMatchObject({ action, admin_id: caller, outcome: "denied", status_code: 429, severity: "warning" });
      expect(parse(row.details)).toMatchObject({ error: "rate_limited", window_start: expect.stringMatching(/:00\.000Z$/) });
    }
    expect(await count("SELECT 1 FROM audit_log WHERE admin_id = ?", caller)).toBe(refused.length + rows.length);
    return rows;
  }

  it("a plain user probing /api/admin: 403 and one row each up to the allowance, then 429 with Retry-After", async () => {
    const plain = newUser("prober");
    const responses = await probe((i) => as(plain).get(`/api/admin/messages/search?probe=${i}`));
    const [row] = await expectThrottledOncePerWindow(responses, plain, "admin.access");
    expect(parse(row?.details)).toMatchObject({ reason: "not_admin", path: "/api/admin/messages/search", method: "GET" });
  });

  it("an admin lacking the permission is throttled the same way, under the route's action, and nothing changes", async () => {
    const support = await createAdmin("support");
    const user = newUser();
    const responses = await probe(() => as(support).post("/api/admin/credits/grant", { user_id: user, amount: 5, reason: "probe" }));
    const [row] = await expectThrottledOncePerWindow(responses, support, "credits.grant");
    expect(parse(row?.details)).toMatchObject({ permission: "credits.manage" });
    expect(await balanceOf(user)).toBe(0);
    // Calls it may make are not refusals: they pass, and are audited as ever.
    const allowed = await as(support).get("/api/admin/messages/search?limit=1");
    expect(allowed.status).toBe(200);
    expect(await auditRowsOf(allowed)).toHaveLength(1);
  });

  it("the OpenAPI document lists 403 and 429 on every admin route", async () => {
    const doc = await json(await call("GET", "/api/openapi.json"));
    const ops = Object.entries(doc.paths as Record<string, Record<string, { responses: object }>>)
      .filter(([path]) => path.startsWith("/api/admin/"))
      .flatMap(([path, item]) => Object.entries(item).map(([method, op]) => [`${method} ${path}`, op.responses] as const));
    expect(ops.length).toBeGreaterThanOrEqual(12);
    for (const [name, responses] of ops) {
      expect(responses, name).toHaveProperty("403");
      expect(responses, name).toHaveProperty("429");
    }
  });

  it("each caller has their own allowance", async () => {
    const [a, b] = [newUser("prober"), newUser("prober")];
    await probe(() => as(a).get("/api/admin/admins"), 1);
    const other = await as(b).get("/api/admin/admins");
    expect(other.status).toBe(403);
    expect(await auditRowsOf(other)).toHaveLength(1);
  });

  it("the once-per-window check reads only the throttled rows' index", async () => {
    const { auditRowOncePerWindow } = await import("../src/db/audit");
    const { db } = await import("./helpers");
    const row = {
      id: "aud_plan",
      createdAt: "2026-01-01T00:00:00.000Z",
      adminId: "x",
      action: "a",
      outcome: "denied",
      statusCode: 429,
      severity: "warning",
    } as const;
    const plan = (await planOf(auditRowOncePerWindow(db, row, "2026-01-01T00:00:00.000Z"))).join("\n");
    expect(plan).toMatch(/USING (COVERING )?INDEX audit_log_throttled_idx/);
    expect(plan).not.toMatch(/SCAN audit_log/);
  });
});

describe("stored request text is bounded", () => {
  it("a probe's path is cut to 256 characters in its audit row", async () => {
    const plain = newUser("plain");
    const long = `/api/admin/${"x".repeat(5000)}`;
    const res = await as(plain).get(long);
    expect(res.status).toBe(403);
    const [row] = await auditRowsOf(res);
    expect(parse(row?.details)).toEqual({ path: long.slice(0, 256), path_truncated: true, method: "GET", reason: "not_admin" });
  });

  it("an admin's unknown path and its query are cut too (each name and value to 256, at most 32 of them)", async () => {
    const admin = await createAdmin("admin");
    const query = Array.from({ length: 40 }, (_, i) => `k${i}=${"v".repeat(1000)}`).join("&");
    const res = await as(admin).get(`/api/admin/${"y".repeat(3000)}?${query}`);
    expect(res.status).toBe(404);
    const [row] = await auditRowsOf(res);
    const details = parse(row?.details);
    expect(details).toMatchObject({ path: `/api/admin/${"y".repeat(245)}`, path_truncated: true, error: "not_found" });
    expect(Object.keys(details.query)).toHaveLength(32);
    expect(Object.values(details.query).every((v) => v === "v".repeat(256))).toBe(true);
  });
});
