import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { othersKeepSuperAdmin } from "../src/db/admins";
import { admins } from "../src/db/schema";
import { auditHash } from "../src/lib/audit-hash";
import { type AuditScope, commitWithAudit } from "../src/services/audit";
import { as, auditRowsOf, balanceOf, count, createAdmin, db, json, newUser, pair, seedCredits, send } from "./helpers";

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
    hmacKey: env.AUDIT_HMAC_KEY,
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

  /**
   * Each audited change over HTTP, on a fresh target: `call` makes it (twice: once sabotaged, once
   * not), `changed(happened)` asserts what is stored either way.
   */
  type Atomic = {
    action: string;
    ok: number;
    call: () => Promise<Response>;
    target: string;
    changed: (happened: boolean) => Promise<void>;
  };
  const ATOMIC: [string, () => Promise<Atomic>][] = [
    [
      "credits grant",
      async () => {
        const user = newUser();
        await seedCredits(user, 3);
        return {
          action: "credits.grant",
          ok: 200,
          target: user,
          call: () => as(superAdmin).post("/api/admin/credits/grant", { user_id: user, amount: 7, reason: "atomic" }),
          changed: async (happened) => {
            expect(await balanceOf(user)).toBe(happened ? 10 : 3);
            expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'grant'", user)).toBe(happened ? 2 : 1);
          },
        };
      },
    ],
    [
      "hard delete",
      async () => {
        const { alice, bob } = await pair(1);
        const word = `w${crypto.randomUUID().replaceAll("-", "")}`;
        const m = await send(alice, bob, `evidence ${word}`);
        return {
          action: "messages.hard_delete",
          ok: 200,
          target: m.id,
          call: () => as(superAdmin).del(`/api/admin/messages/${m.id}/hard-delete`),
          changed: async (happened) => {
            expect(await count("SELECT 1 FROM messages WHERE id = ?", m.id)).toBe(happened ? 0 : 1);
            expect(await count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${word}"`)).toBe(happened ? 0 : 1);
          },
        };
      },
    ],
    [
      "admin upsert",
      async () => {
        const id = newUser("atomic");
        return {
          action: "admins.upsert",
          ok: 201,
          target: id,
          call: () => as(superAdmin).put(`/api/admin/admins/${id}`, { email: `${id}@pairly.test`, role: "moderator" }),
          changed: async (happened) => {
            const row = await env.DB.prepare("SELECT email, role, active FROM admins WHERE id = ?").bind(id).first();
            expect(row).toEqual(happened ? { email: `${id}@pairly.test`, role: "moderator", active: 1 } : null);
            // Only an admin that exists can use the admin API.
            expect((await as(id).get("/api/admin/messages/search")).status).toBe(happened ? 200 : 403);
          },
        };
      },
    ],
    [
      "admin deactivate",
      async () => {
        const id = await createAdmin("support");
        return {
          action: "admins.deactivate",
          ok: 200,
          target: id,
          call: () => as(superAdmin).post(`/api/admin/admins/${id}/deactivate`),
          changed: async (happened) => {
            expect(await env.DB.prepare("SELECT active FROM admins WHERE id = ?").bind(id).first()).toEqual({ active: happened ? 0 : 1 });
            expect((await as(id).get("/api/admin/messages/search")).status).toBe(happened ? 403 : 200);
          },
        };
      },
    ],
  ];

  it.each(ATOMIC)("%s: a failing audit insert undoes the change; without the sabotage both are written", async (_name, setup) => {
    const c = await setup();
    // Sabotage the audit table for this action only: the change's batch must fail as a whole.
    await env.DB.prepare(
      `CREATE TRIGGER audit_sabotage BEFORE INSERT ON audit_log WHEN NEW.action = '${c.action}' BEGIN SELECT RAISE(ABORT, 'sabotaged'); END`,
    ).run();
    const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
    let failed: Response;
    try {
      failed = await c.call();
    } finally {
      quiet.mockRestore();
      await env.DB.prepare("DROP TRIGGER audit_sabotage").run();
    }
    expect(failed.status).toBe(500);
    const body = await failed.text();
    expect(JSON.parse(body)).toMatchObject({ error: { code: "internal" } });
    expect(body).not.toContain("sabotaged");
    await c.changed(false);
    expect(await auditRowsOf(failed)).toEqual([]);
    expect(await count("SELECT 1 FROM audit_log WHERE action = ? AND target_id = ?", c.action, c.target)).toBe(0);

    const res = await c.call();
    expect(res.status).toBe(c.ok);
    await c.changed(true);
    expect(await auditRowsOf(res)).toEqual([
      expect.objectContaining({ action: c.action, target_id: c.target, admin_id: superAdmin, outcome: "success", status_code: c.ok }),
    ]);
    expect(await count("SELECT 1 FROM audit_log WHERE action = ? AND target_id = ?", c.action, c.target)).toBe(1);
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

  it("deleting a row from the middle breaks the link of the row after it (prev_hash_mismatch)", async () => {
    for (let i = 0; i < 3; i++) await as(superAdmin).get("/api/admin/admins");
    expect((await json(await as(superAdmin).get("/api/admin/audit-logs/verify"))).ok).toBe(true);
    const { results: chain } = await env.DB.prepare("SELECT * FROM audit_log ORDER BY pk").all<Record<string, unknown>>();
    const mid = Math.floor(chain.length / 2);
    const [victim, next] = [chain[mid], chain[mid + 1]];
    expect(mid).toBeGreaterThan(0);
    expect(next).toBeDefined();

    // An attacker with raw SQL access drops the guard and removes a row.
    await env.DB.prepare("DROP TRIGGER audit_log_no_delete").run();
    try {
      await env.DB.prepare("DELETE FROM audit_log WHERE id = ?").bind(victim?.id).run();
      const broken = await json(await as(superAdmin).get("/api/admin/audit-logs/verify"));
      expect(broken).toEqual({
        ok: false,
        rows_checked: mid,
        first_broken: { id: next?.id, created_at: next?.created_at, reason: "prev_hash_mismatch" },
      });
    } finally {
      // Put history back exactly as it was (same pk, same content) and the guard with it.
      const cols = Object.keys(victim ?? {});
      await env.DB.prepare(`INSERT INTO audit_log (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
        .bind(...cols.map((k) => victim?.[k]))
        .run();
      await env.DB.prepare(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'append-only: audit_log'); END",
      ).run();
    }
    expect((await json(await as(superAdmin).get("/api/admin/audit-logs/verify"))).ok).toBe(true);
    await expect(env.DB.prepare("DELETE FROM audit_log WHERE id = ?").bind(victim?.id).run()).rejects.toThrow(/append-only/);
  });

  it("verify walks the chain: ok, then the first broken row once someone rewrites history", async () => {
    await as(superAdmin).get("/api/admin/admins");
    const ok = await json(await as(superAdmin).get("/api/admin/audit-logs/verify"));
    expect(ok).toMatchObject({ ok: true, rows_checked: expect.any(Number), head_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(ok.rows_checked).toBeGreaterThan(1);

    // An attacker with raw SQL access drops the guard and edits a row.
    const victim = await env.DB.prepare("SELECT id, admin_id FROM audit_log ORDER BY pk LIMIT 1 OFFSET 1").first<{
      id: string;
      admin_id: string;
    }>();
    const victimAdmin = victim?.admin_id;
    await env.DB.prepare("DROP TRIGGER audit_log_no_update").run();
    await env.DB.prepare("UPDATE audit_log SET admin_id = 'someone-else' WHERE id = ?").bind(victim?.id).run();
    const broken = await json(await as(superAdmin).get("/api/admin/audit-logs/verify"));
    expect(broken).toEqual({
      ok: false,
      rows_checked: 1,
      first_broken: { id: victim?.id, created_at: expect.any(String), reason: "hash_mismatch" },
    });

    // Writing the original value back restores the hash: the chain is whole again, and the guard returns.
    await env.DB.prepare("UPDATE audit_log SET admin_id = ? WHERE id = ?").bind(victimAdmin, victim?.id).run();
    await env.DB.prepare(
      "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'append-only: audit_log'); END",
    ).run();
    expect((await json(await as(superAdmin).get("/api/admin/audit-logs/verify"))).ok).toBe(true);
    await expect(env.DB.prepare("UPDATE audit_log SET admin_id = 'someone-else'").run()).rejects.toThrow(/append-only/);
  });

  it("a writer without AUDIT_HMAC_KEY cannot forge a chain: re-sealing every later row with another key is caught", async () => {
    await as(superAdmin).get("/api/admin/admins");
    const rows = await env.DB.prepare("SELECT * FROM audit_log ORDER BY pk").all<Record<string, string | number | null>>();
    const all = rows.results;
    const at = all.length - 3;
    const camel = (r: Record<string, string | number | null>) => ({
      id: String(r.id),
      createdAt: String(r.created_at),
      adminId: String(r.admin_id),
      adminEmail: r.admin_email as string | null,
      adminRole: r.admin_role as string | null,
      action: String(r.action),
      targetType: r.target_type as string | null,
      targetId: r.target_id as string | null,
      outcome: String(r.outcome),
      statusCode: Number(r.status_code),
      severity: String(r.severity),
      before: r.before_state as string | null,
      after: r.after_state as string | null,
      details: r.details as string | null,
      ip: r.ip as string | null,
      userAgent: r.user_agent as string | null,
      requestId: r.request_id as string | null,
      prevHash: String(r.prev_hash),
    });
    // The attacker rewrites one row and recomputes the hashes from there on, exactly as the chain
    // is built, but with a key of their own (they can read the code, not the Worker's secrets).
    await env.DB.prepare("DROP TRIGGER audit_log_no_update").run();
    let prev = String(all[at - 1]?.hash);
    for (const [i, r] of all.slice(at).entries()) {
      const fields = { ...camel(r), prevHash: prev, ...(i === 0 && { adminId: "someone-else" }) };
      const hash = await auditHash(fields, "attacker-key-0123456789abcdef-0123456789abcdef");
      await env.DB.prepare("UPDATE audit_log SET admin_id = ?, prev_hash = ?, hash = ? WHERE pk = ?")
        .bind(fields.adminId, prev, hash, r.pk)
        .run();
      prev = hash;
    }
    const verdict = await json(await as(superAdmin).get("/api/admin/audit-logs/verify"));
    expect(verdict).toMatchObject({ ok: false, rows_checked: at, first_broken: { id: all[at]?.id, reason: "hash_mismatch" } });

    // Restored as it was (with the real key's hashes), and without the rows chained onto the forged
    // head meanwhile (that verify call's own), the chain verifies again and the guards return.
    for (const r of all.slice(at)) {
      await env.DB.prepare("UPDATE audit_log SET admin_id = ?, prev_hash = ?, hash = ? WHERE pk = ?")
        .bind(r.admin_id, r.prev_hash, r.hash, r.pk)
        .run();
    }
    await env.DB.prepare("DROP TRIGGER audit_log_no_delete").run();
    await env.DB.prepare("DELETE FROM audit_log WHERE pk > ?").bind(all.at(-1)?.pk).run();
    for (const kind of ["UPDATE", "DELETE"]) {
      await env.DB.prepare(
        `CREATE TRIGGER audit_log_no_${kind.toLowerCase()} BEFORE ${kind} ON audit_log BEGIN SELECT RAISE(ABORT, 'append-only: audit_log'); END`,
      ).run();
    }
    expect((await json(await as(superAdmin).get("/api/admin/audit-logs/verify"))).ok).toBe(true);
  });
});
