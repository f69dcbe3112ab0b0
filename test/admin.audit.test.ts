import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { othersKeepSuperAdmin } from "../src/db/admins";
import { admins } from "../src/db/schema";
import { auditHash, GENESIS_HASH } from "../src/lib/audit-hash";
import { contentDigest } from "../src/lib/content-digest";
import { type AuditScope, commitWithAudit } from "../src/services/audit";
import { chain, quietly, sealNow, verify, withoutTriggers } from "./audit";
import { as, auditRowsOf, balanceOf, count, createAdmin, db, indexNow, json, newUser, pair, seedCredits, send } from "./helpers";

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
  it("lists rows newest first with every field the contract names; the seal fields fill in once the row is sealed", async () => {
    const mod = await createAdmin("moderator");
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "rude words");
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
    const serverId = res.headers.get("x-request-id");
    expect(serverId).toMatch(/^[0-9a-f-]{36}$/);
    const expected = {
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
      // The text is never stored: its digest stands for it. The client's request id is kept, ours is the row's.
      // Blocking the (charged) message refunded its sender in the same write: the row names the refund.
      details: {
        sender_id: alice,
        receiver_id: bob,
        ...(await contentDigest("rude words")),
        client_request_id: "req-audit-fields-1",
        refund: { transaction_id: expect.stringMatching(/^txn_/), amount: 1 },
      },
      ip: "198.51.100.7",
      user_agent: "console/1.0",
      request_id: serverId,
    };
    // Committed, not yet sealed (nothing sealed since: the sealer runs when a test says so).
    const unsealed = await logs(`?admin_id=${mod}`);
    expect(unsealed.audit_logs[0]).toEqual({ ...expected, prev_hash: null, hash: null, key_id: null });

    await sealNow();
    const sealed = await logs(`?admin_id=${mod}`);
    expect(sealed.audit_logs[0]).toEqual({
      ...expected,
      prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      key_id: "k1",
    });
    // It links to the row committed just before it (the file's first row links to the genesis hash).
    const rows = await chain();
    const at = rows.findIndex((r) => r.id === sealed.audit_logs[0].id);
    expect(sealed.audit_logs[0].prev_hash).toBe(at === 0 ? GENESIS_HASH : rows[at - 1]?.hash);
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
    request: { ip: null, userAgent: null, requestId: null, clientRequestId: null },
    action,
    written: false,
  });
  const deactivate = (id: string, s: AuditScope) =>
    commitWithAudit(db, s, {
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
    });

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
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
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
        await indexNow();
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
    let failed: Response;
    try {
      failed = await quietly(c.call);
    } finally {
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
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });
});

describe("the audit log is append-only and tamper-evident", () => {
  const ATTACKER_KEY = "attacker-key-0123456789abcdef-0123456789abcdef";
  const all = (sql: string, ...params: unknown[]) =>
    env.DB.prepare(sql)
      .bind(...params)
      .all<Record<string, string | number | null>>()
      .then((r) => r.results);
  const insertBack = async (table: string, row: Record<string, unknown> | undefined) => {
    const cols = Object.keys(row ?? {});
    await env.DB.prepare(`INSERT INTO ${table} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)
      .bind(...cols.map((k) => row?.[k]))
      .run();
  };
  /** A sealed chain of a few rows, all sealed, oldest first. */
  const sealedChain = async () => {
    for (let i = 0; i < 3; i++) await as(superAdmin).get("/api/admin/admins");
    await sealNow();
    const rows = await chain();
    expect(rows.every((r) => r.hash !== null)).toBe(true);
    return rows;
  };

  it("UPDATE and DELETE are refused in SQL, on rows and on seals", async () => {
    await sealedChain();
    const counts = () => Promise.all(["audit_log", "audit_seals"].map((t) => count(`SELECT 1 FROM ${t}`)));
    const before = await counts();
    await expect(env.DB.prepare("UPDATE audit_log SET action = 'nothing happened'").run()).rejects.toThrow(/append-only: audit_log/);
    await expect(env.DB.prepare("DELETE FROM audit_log").run()).rejects.toThrow(/append-only: audit_log/);
    await expect(env.DB.prepare("UPDATE audit_seals SET key_id = 'k0'").run()).rejects.toThrow(/append-only: audit_seals/);
    await expect(env.DB.prepare("DELETE FROM audit_seals").run()).rejects.toThrow(/append-only: audit_seals/);
    expect(await counts()).toEqual(before);
  });

  it("a rewritten row is named by verify (hash_mismatch); written back, the chain verifies again", async () => {
    const ok = await verify(superAdmin);
    expect(ok).toEqual({ ok: true, rows_checked: expect.any(Number), head_hash: expect.stringMatching(/^[0-9a-f]{64}$/), unsealed: 0 });
    expect(ok.rows_checked).toBeGreaterThan(1);
    const [, victim] = await chain();
    await withoutTriggers(["audit_log"], async () => {
      await env.DB.prepare("UPDATE audit_log SET admin_id = 'someone-else' WHERE pk = ?").bind(victim?.pk).run();
      expect(await verify(superAdmin)).toEqual({
        ok: false,
        rows_checked: 1,
        first_broken: { id: victim?.id, created_at: victim?.created_at, reason: "hash_mismatch" },
      });
      await env.DB.prepare("UPDATE audit_log SET admin_id = ? WHERE pk = ?").bind(victim?.admin_id, victim?.pk).run();
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("a row deleted from the middle breaks the link of the row after it (prev_hash_mismatch)", async () => {
    const rows = await sealedChain();
    const mid = Math.floor(rows.length / 2);
    const [victim, next] = [rows[mid], rows[mid + 1]];
    expect(mid).toBeGreaterThan(0);
    const [stored] = await all("SELECT * FROM audit_log WHERE pk = ?", victim?.pk);
    await withoutTriggers(["audit_log"], async () => {
      await env.DB.prepare("DELETE FROM audit_log WHERE pk = ?").bind(victim?.pk).run();
      try {
        expect(await verify(superAdmin)).toEqual({
          ok: false,
          rows_checked: mid,
          first_broken: { id: next?.id, created_at: next?.created_at, reason: "prev_hash_mismatch" },
        });
      } finally {
        await insertBack("audit_log", stored); // the same pk and content
      }
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("a seal removed from the middle is named by its row (seal_missing)", async () => {
    const rows = await sealedChain();
    const mid = Math.floor(rows.length / 2);
    const victim = rows[mid];
    const [seal] = await all("SELECT * FROM audit_seals WHERE audit_pk = ?", victim?.pk);
    await withoutTriggers(["audit_seals"], async () => {
      await env.DB.prepare("DELETE FROM audit_seals WHERE audit_pk = ?").bind(victim?.pk).run();
      try {
        expect(await verify(superAdmin)).toEqual({
          ok: false,
          rows_checked: mid,
          first_broken: { id: victim?.id, created_at: victim?.created_at, reason: "seal_missing" },
        });
      } finally {
        await insertBack("audit_seals", seal);
      }
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("a writer without the key cannot forge seals: re-sealing from a rewritten row with another key is caught, and nothing is chained onto it", async () => {
    const rows = await sealedChain();
    const at = rows.length - 3;
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
    });
    await withoutTriggers(["audit_log", "audit_seals"], async () => {
      // The attacker rewrites one row and recomputes every seal from there on, exactly as the sealer
      // does, but with a key of their own (they can read the code, not the Worker's secrets).
      let prev = String(rows[at - 1]?.hash);
      for (const [i, r] of rows.slice(at).entries()) {
        const fields = { ...camel(r), ...(i === 0 && { adminId: "someone-else" }), prevHash: prev };
        const hash = await auditHash(fields, ATTACKER_KEY);
        await env.DB.prepare("UPDATE audit_log SET admin_id = ? WHERE pk = ?").bind(fields.adminId, r.pk).run();
        await env.DB.prepare("UPDATE audit_seals SET prev_hash = ?, hash = ? WHERE audit_pk = ?").bind(prev, hash, r.pk).run();
        prev = hash;
      }
      const seals = await count("SELECT 1 FROM audit_seals");
      expect(await quietly(() => verify(superAdmin))).toEqual({
        ok: false,
        rows_checked: at,
        first_broken: { id: rows[at]?.id, created_at: rows[at]?.created_at, reason: "hash_mismatch" },
      });
      // The sealer's last seal is no longer in D1 as it wrote it: it refused to extend the forged chain.
      expect(await count("SELECT 1 FROM audit_seals")).toBe(seals);

      // Restored as it was, the sealer goes on where it stopped.
      for (const r of rows.slice(at)) {
        await env.DB.prepare("UPDATE audit_log SET admin_id = ? WHERE pk = ?").bind(r.admin_id, r.pk).run();
        await env.DB.prepare("UPDATE audit_seals SET prev_hash = ?, hash = ? WHERE audit_pk = ?").bind(r.prev_hash, r.hash, r.pk).run();
      }
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("a seal claiming a key that is not configured is refused (unknown_key)", async () => {
    const rows = await sealedChain();
    const victim = rows[1];
    await withoutTriggers(["audit_seals"], async () => {
      await env.DB.prepare("UPDATE audit_seals SET key_id = 'k0' WHERE audit_pk = ?").bind(victim?.pk).run();
      expect(await verify(superAdmin)).toEqual({
        ok: false,
        rows_checked: 1,
        first_broken: { id: victim?.id, created_at: victim?.created_at, reason: "unknown_key", key_id: "k0" },
      });
      await env.DB.prepare("UPDATE audit_seals SET key_id = 'k1' WHERE audit_pk = ?").bind(victim?.pk).run();
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("removing the newest seals to get an edited row sealed again stops the sealer (chain_truncated)", async () => {
    const rows = await sealedChain();
    const at = rows.length - 2;
    const from = Number(rows[at]?.pk);
    const seals = await all("SELECT * FROM audit_seals WHERE audit_pk >= ? ORDER BY audit_pk", from);
    await withoutTriggers(["audit_log", "audit_seals"], async () => {
      await env.DB.prepare("DELETE FROM audit_seals WHERE audit_pk >= ?").bind(from).run();
      await env.DB.prepare("UPDATE audit_log SET admin_id = 'someone-else' WHERE pk = ?").bind(from).run();
      expect(await quietly(() => verify(superAdmin))).toEqual({
        ok: false,
        rows_checked: at,
        first_broken: { id: null, created_at: null, reason: "chain_truncated" },
      });
      // Nothing was sealed again: the edited row stays unsealed.
      expect(await count("SELECT 1 FROM audit_seals WHERE audit_pk >= ?", from)).toBe(0);
      await env.DB.prepare("UPDATE audit_log SET admin_id = ? WHERE pk = ?").bind(rows[at]?.admin_id, from).run();
      for (const seal of seals) await insertBack("audit_seals", seal);
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("a cut-off tail (the newest rows and their seals removed) is caught too (chain_truncated)", async () => {
    const rows = await sealedChain();
    const last = rows.at(-1);
    const [row] = await all("SELECT * FROM audit_log WHERE pk = ?", last?.pk);
    const [seal] = await all("SELECT * FROM audit_seals WHERE audit_pk = ?", last?.pk);
    await withoutTriggers(["audit_log", "audit_seals"], async () => {
      await env.DB.prepare("DELETE FROM audit_seals WHERE audit_pk = ?").bind(last?.pk).run();
      await env.DB.prepare("DELETE FROM audit_log WHERE pk = ?").bind(last?.pk).run();
      try {
        expect(await quietly(() => verify(superAdmin))).toEqual({
          ok: false,
          rows_checked: rows.length - 1,
          first_broken: { id: null, created_at: null, reason: "chain_truncated" },
        });
      } finally {
        await insertBack("audit_log", row);
        await insertBack("audit_seals", seal);
      }
    });
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
  });

  it("verify reports the unsealed tail, and rows committed while the sealer fails are sealed once it works again", async () => {
    await verify(superAdmin); // everything sealed; this call's own row is the one pending
    await env.DB.prepare("CREATE TRIGGER seal_sabotage BEFORE INSERT ON audit_seals BEGIN SELECT RAISE(ABORT, 'sabotaged'); END").run();
    try {
      for (let i = 0; i < 3; i++) expect((await as(superAdmin).get("/api/admin/admins")).status).toBe(200);
      expect(await quietly(() => verify(superAdmin))).toEqual({
        ok: true,
        rows_checked: expect.any(Number),
        head_hash: expect.any(String),
        unsealed: 4,
      });
      const newest = await logs("?limit=4");
      expect(newest.audit_logs.map((r: { hash: string | null; key_id: string | null }) => [r.hash, r.key_id])).toEqual(
        Array(4).fill([null, null]),
      );
    } finally {
      await env.DB.prepare("DROP TRIGGER seal_sabotage").run();
    }
    expect(await verify(superAdmin)).toMatchObject({ ok: true, unsealed: 0 });
    expect(await count("SELECT 1 FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.audit_pk = a.pk)")).toBe(1);
  });
});
