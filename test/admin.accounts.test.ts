import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, createAdmin, json, newUser } from "./helpers";

const put = (by: string, id: string, body: unknown) => as(by).put(`/api/admin/admins/${id}`, body);

describe("admin management (super_admin)", () => {
  it("creates (201), lists, updates (200) and deactivates an admin; each change is audited", async () => {
    const sa = await createAdmin("super_admin");
    const id = newUser("support");
    const created = await put(sa, id, { email: `${id}@Pairly.Test`, role: "support" });
    expect(created.status).toBe(201);
    expect(await json(created)).toMatchObject({ id, email: `${id}@pairly.test`, role: "support", active: true });
    const list = await json(await as(sa).get("/api/admin/admins"));
    expect(list.admins.map((a: { id: string }) => a.id)).toContain(id);

    // The new admin works at once, with exactly the role's permissions.
    expect((await as(id).get("/api/admin/messages/search")).status).toBe(200);
    expect((await as(id).get("/api/admin/messages/stats/overview")).status).toBe(403);

    const promoted = await put(sa, id, { email: `${id}@pairly.test`, role: "analyst" });
    expect(promoted.status).toBe(200);
    expect((await as(id).get("/api/admin/messages/stats/overview")).status).toBe(200);
    expect((await as(id).get("/api/admin/messages/search")).status).toBe(403);

    const off = await as(sa).post(`/api/admin/admins/${id}/deactivate`);
    expect(off.status).toBe(200);
    expect(await json(off)).toMatchObject({ id, active: false });
    expect((await as(id).get("/api/admin/messages/stats/overview")).status).toBe(403);

    const audit = await env.DB.prepare(
      "SELECT action, severity, before_state, after_state FROM audit_log WHERE target_id = ? AND outcome = 'success' ORDER BY pk",
    )
      .bind(id)
      .all();
    expect(audit.results.map((r) => r.action)).toEqual(["admins.upsert", "admins.upsert", "admins.deactivate"]);
    expect(audit.results.every((r) => r.severity === "critical")).toBe(true);
    expect(audit.results[0]?.before_state).toBe("null");
    expect(JSON.parse(String(audit.results[1]?.before_state))).toMatchObject({ role: "support" });
    expect(JSON.parse(String(audit.results[1]?.after_state))).toMatchObject({ role: "analyst" });
  });

  it("the last active super admin cannot be deactivated or demoted (409), but can once another exists", async () => {
    // A clean slate of super admins for this test: deactivate any left by other tests in this file.
    await env.DB.prepare("UPDATE admins SET active = 0 WHERE role = 'super_admin'").run();
    const only = await createAdmin("super_admin");
    const off = await as(only).post(`/api/admin/admins/${only}/deactivate`);
    expect(off.status).toBe(409);
    expect(await json(off)).toMatchObject({ error: { code: "conflict" } });
    const demote = await put(only, only, { email: `${only}@pairly.test`, role: "admin" });
    expect(demote.status).toBe(409);
    const row = await env.DB.prepare("SELECT role, active FROM admins WHERE id = ?").bind(only).first();
    expect(row).toEqual({ role: "super_admin", active: 1 });

    const second = newUser("sa2");
    expect((await put(only, second, { email: `${second}@pairly.test`, role: "super_admin" })).status).toBe(201);
    expect((await as(only).post(`/api/admin/admins/${only}/deactivate`)).status).toBe(200);
    // Now `second` is the last one.
    expect((await as(second).post(`/api/admin/admins/${second}/deactivate`)).status).toBe(409);
  });

  it("two super admins deactivating each other at once: exactly one succeeds", async () => {
    await env.DB.prepare("UPDATE admins SET active = 0 WHERE role = 'super_admin'").run();
    const [a, b] = [await createAdmin("super_admin"), await createAdmin("super_admin")];
    const results = await Promise.all([as(a).post(`/api/admin/admins/${b}/deactivate`), as(b).post(`/api/admin/admins/${a}/deactivate`)]);
    const statuses = results.map((r) => r.status).sort();
    // One wins; the other either lost the race (409) or was itself already deactivated (403).
    expect(statuses[0]).toBe(200);
    expect([403, 409]).toContain(statuses[1]);
    const active = await env.DB.prepare("SELECT COUNT(*) AS n FROM admins WHERE role = 'super_admin' AND active = 1").first<{
      n: number;
    }>();
    expect(active?.n).toBe(1);
    // The audit log tells the same story: one success; the loser's refusal is a failure row, not a claim.
    const rows = await env.DB.prepare("SELECT outcome FROM audit_log WHERE action = 'admins.deactivate' AND target_id IN (?, ?)")
      .bind(a, b)
      .all();
    expect(rows.results.filter((r) => r.outcome === "success")).toHaveLength(1);
  });

  it.each([
    ["a bad email", { email: "not-an-email", role: "support" }, "email"],
    ["an unknown role", { email: "x@pairly.test", role: "god" }, "role"],
    ["an unknown field", { email: "x@pairly.test", role: "support", permissions: ["super_admin"] }, "permissions"],
  ])("rejects %s with 400", async (_name, body, field) => {
    const sa = await createAdmin("super_admin");
    const res = await put(sa, newUser(), body);
    expect(res.status).toBe(400);
    expect(Object.keys((await json(res)).error.details)).toContain(field);
  });

  it("an email already used by another admin is a 409; deactivating an unknown admin a 404", async () => {
    const sa = await createAdmin("super_admin");
    const res = await put(sa, newUser(), { email: `${sa}@pairly.test`, role: "support" });
    expect(res.status).toBe(409);
    expect((await as(sa).post(`/api/admin/admins/${newUser()}/deactivate`)).status).toBe(404);
  });
});

describe("editing an admin changes only what the body says", () => {
  const rowOf = (id: string) => env.DB.prepare("SELECT email, role, active, updated_at FROM admins WHERE id = ?").bind(id).first();

  it("a PUT without `active` keeps a deactivated admin deactivated (and locked out); `active: true` brings them back", async () => {
    const sa = await createAdmin("super_admin");
    const id = await createAdmin("support");
    expect((await as(sa).post(`/api/admin/admins/${id}/deactivate`)).status).toBe(200);

    const edited = await put(sa, id, { email: `${id}@pairly.test`, role: "moderator" });
    expect(edited.status).toBe(200);
    expect(await json(edited)).toMatchObject({ id, role: "moderator", active: false });
    expect(await rowOf(id)).toMatchObject({ role: "moderator", active: 0 });
    const audit = await env.DB.prepare("SELECT after_state FROM audit_log WHERE request_id = ?")
      .bind(edited.headers.get("x-request-id"))
      .first();
    expect(JSON.parse(String(audit?.after_state))).toMatchObject({ role: "moderator", active: false });

    const locked = await as(id).get("/api/admin/messages/search");
    expect(locked.status).toBe(403);
    const refusal = await env.DB.prepare("SELECT action, outcome, details FROM audit_log WHERE request_id = ?")
      .bind(locked.headers.get("x-request-id"))
      .first();
    expect(refusal).toMatchObject({ action: "admin.access", outcome: "denied" });
    expect(JSON.parse(String(refusal?.details))).toMatchObject({ reason: "inactive" });

    const back = await put(sa, id, { email: `${id}@pairly.test`, role: "moderator", active: true });
    expect(back.status).toBe(200);
    expect(await json(back)).toMatchObject({ id, role: "moderator", active: true });
    expect((await as(id).get("/api/admin/messages/search")).status).toBe(200);
  });

  it("another admin's email (in any case) is a 409 that changes nothing, and the refusal is audited", async () => {
    const sa = await createAdmin("super_admin");
    const [a, b] = [await createAdmin("support"), await createAdmin("analyst")];
    const [aBefore, bBefore] = [await rowOf(a), await rowOf(b)];

    const res = await put(sa, b, { email: `${a}@PAIRLY.test`, role: "moderator", active: false });
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ error: { code: "conflict", details: { email: expect.any(Array) } } });
    expect(await rowOf(a)).toEqual(aBefore);
    expect(await rowOf(b)).toEqual(bBefore);
    expect((await as(b).get("/api/admin/messages/stats/overview")).status).toBe(200); // still an active analyst
    const audit = await env.DB.prepare(
      "SELECT action, target_type, target_id, admin_id, outcome, status_code, severity, details FROM audit_log WHERE request_id = ?",
    )
      .bind(res.headers.get("x-request-id"))
      .all();
    expect(audit.results).toEqual([
      {
        action: "admins.upsert",
        target_type: "admin",
        target_id: b,
        admin_id: sa,
        outcome: "failed",
        status_code: 409,
        severity: "warning",
        details: expect.any(String),
      },
    ]);
    expect(JSON.parse(String(audit.results[0]?.details))).toMatchObject({ error: "conflict" });

    // Creating a new admin with a taken email creates nothing.
    const fresh = newUser("dup");
    const created = await put(sa, fresh, { email: `${a}@pairly.test`, role: "support" });
    expect(created.status).toBe(409);
    expect(await rowOf(fresh)).toBeNull();
  });
});
