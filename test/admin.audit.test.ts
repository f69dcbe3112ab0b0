import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { othersKeepSuperAdmin } from "../src/db/admins";
import { admins } from "../src/db/schema";
import { type AuditScope, commitWithAudit } from "../src/services/audit";
import { as, count, createAdmin, db, json, newUser, pair, send } from "./helpers";

let superAdmin: string;
beforeAll(async () => {
  superAdmin = await createAdmin("super_admin");
});

const logs = async (query = "") => {
  const res = await as(superAdmin).get(`/api/admin/audit-logs${query}`);
  expect(res.status).toBe(200);
  return json(res);
};

describe("GET /api/admin/audit-logs", () => {
  it("lists rows newest first with every field the contract names", async () => {
    const mod = await createAdmin("moderator");
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const res = await as(mod).post(
      `/api/admin/messages/${m.id}/moderate`,
      { moderation_status: "blocked", reason: "abuse" },
      {
        "user-agent": "console/1.0",
        "cf-connecting-ip": "198.51.100.7",
        "x-request-id": "req-audit-fields-1",
      },
    );
    expect(res.status).toBe(200);
    const page = await logs(`?admin_id=${mod}`);
    expect(page.audit_logs[0]).toEqual({
      id: expect.stringMatching(/^aud_/),
      created_at: expect.stringMatching(/Z$/),
      admin_id: mod,
      admin_email: `${mod}@pairly.test`,
      admin_role: "moderator",
      action: "messages.moderate",
      target_type: "message",
      target_id: m.id,
      outcome: "success",
      status_code: 200,
      severity: "warning",
      before: { moderation_status: "pending", moderation_reason: null },
      after: { moderation_status: "blocked", moderation_reason: "abuse" },
      details: { sender_id: alice, receiver_id: bob },
      ip: "198.51.100.7",
      user_agent: "console/1.0",
      request_id: "req-audit-fields-1",
      prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it("records reads with the filters used, and refusals", async () => {
    const support = await createAdmin("support");
    await as(support).get(`/api/admin/messages/search?sender_id=${support}&limit=5`);
    await as(support).get("/api/admin/messages/stats/overview");
    const page = await logs(`?admin_id=${support}`);
    expect(page.audit_logs.map((r: { action: string; outcome: string }) => [r.action, r.outcome])).toEqual([
      ["messages.stats", "denied"],
      ["messages.search", "success"],
    ]);
    expect(page.audit_logs[1].details).toEqual({ query: { sender_id: support, limit: "5" } });
    expect(page.audit_logs[0].details).toEqual({ permission: "analytics.view", error: "forbidden" });
  });

  it("filters by admin, action, target and time, combined, and pages with a cursor", async () => {
    const admin = await createAdmin("admin");
    const targets = [newUser(), newUser(), newUser()];
    for (const t of targets) await as(admin).post("/api/admin/credits/grant", { user_id: t, amount: 1, reason: "audit paging" });
    const byAction = await logs(`?admin_id=${admin}&action=credits.grant&limit=2`);
    expect(byAction.audit_logs.map((r: { target_id: string }) => r.target_id)).toEqual([targets[2], targets[1]]);
    expect(byAction.has_more).toBe(true);
    const rest = await logs(`?admin_id=${admin}&action=credits.grant&limit=2&cursor=${byAction.next_cursor}`);
    expect(rest.audit_logs.map((r: { target_id: string }) => r.target_id)).toEqual([targets[0]]);
    expect(rest).toMatchObject({ has_more: false, next_cursor: null });
    expect((await logs(`?target_id=${targets[1]}`)).audit_logs).toHaveLength(1);
    expect((await logs(`?admin_id=${admin}&to=2000-01-01`)).audit_logs).toHaveLength(0);
    expect((await logs(`?admin_id=${admin}&from=2000-01-01&action=credits.grant`)).audit_logs).toHaveLength(3);
    expect((await as(superAdmin).get("/api/admin/audit-logs?cursor=bogus")).status).toBe(400);
  });
});

describe("a change and its audit row stand or fall together", () => {
  const scope = (action: string): AuditScope => ({
    actor: { adminId: "tester", email: null, role: "super_admin" },
    request: { ip: null, userAgent: null, requestId: null },
    action,
    written: false,
  });
  const deactivate = (id: string, s: AuditScope) =>
    commitWithAudit(db, s, async () => ({
      statements: [
        db
          .update(admins)
          .set({ active: false })
          .where(and(eq(admins.id, id), othersKeepSuperAdmin(id)))
          .returning(),
      ],
      event: { targetType: "admin", targetId: id, after: { active: false } },
      onlyIfChanged: true,
      result: (results) => (results[0] as unknown[]).length,
    }));

  it("when the guard inside the statement refuses, no audit row claims the change", async () => {
    await env.DB.prepare("UPDATE admins SET active = 0 WHERE role = 'super_admin'").run();
    const last = await createAdmin("super_admin");
    const s = scope("test.guard_refused");
    expect(await deactivate(last, s)).toBe(0);
    expect(s.written).toBe(false);
    expect(await count("SELECT 1 FROM audit_log WHERE action = 'test.guard_refused'")).toBe(0);
    expect(await count("SELECT 1 FROM admins WHERE id = ? AND active = 1", last)).toBe(1);
    await env.DB.prepare("UPDATE admins SET active = 1 WHERE id = ?").bind(superAdmin).run(); // the file's own super admin
  });

  it("when the change happens, its audit row is written with it", async () => {
    const other = await createAdmin("super_admin");
    await createAdmin("super_admin");
    const s = scope("test.guard_passed");
    expect(await deactivate(other, s)).toBe(1);
    expect(s.written).toBe(true);
    expect(await count("SELECT 1 FROM audit_log WHERE action = 'test.guard_passed' AND target_id = ?", other)).toBe(1);
    expect((await json(await as(superAdmin).get("/api/admin/audit-logs/verify"))).ok).toBe(true);
  });
});

describe("the audit log is append-only and tamper-evident", () => {
  it("UPDATE and DELETE are refused in SQL", async () => {
    await as(superAdmin).get("/api/admin/admins");
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log").first<{ n: number }>();
    await expect(env.DB.prepare("UPDATE audit_log SET action = 'nothing happened'").run()).rejects.toThrow(/append-only/);
    await expect(env.DB.prepare("DELETE FROM audit_log").run()).rejects.toThrow(/append-only/);
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log").first<{ n: number }>();
    expect(after?.n).toBe(before?.n);
  });

  it("verify walks the chain: ok, then the first broken row once someone rewrites history", async () => {
    await as(superAdmin).get("/api/admin/admins");
    const ok = await json(await as(superAdmin).get("/api/admin/audit-logs/verify"));
    expect(ok).toMatchObject({ ok: true, rows_checked: expect.any(Number), head_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(ok.rows_checked).toBeGreaterThan(1);

    // An attacker with raw SQL access drops the guard and edits a row.
    const victim = await env.DB.prepare("SELECT id FROM audit_log ORDER BY pk LIMIT 1 OFFSET 1").first<{ id: string }>();
    await env.DB.prepare("DROP TRIGGER audit_log_no_update").run();
    await env.DB.prepare("UPDATE audit_log SET admin_id = 'someone-else' WHERE id = ?").bind(victim?.id).run();
    const broken = await json(await as(superAdmin).get("/api/admin/audit-logs/verify"));
    expect(broken).toEqual({
      ok: false,
      rows_checked: 1,
      first_broken: { id: victim?.id, created_at: expect.any(String), reason: "hash_mismatch" },
    });
  });
});
