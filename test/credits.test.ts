import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, balanceOf, count, createAdmin, json, newUser, seedCredits, send } from "./helpers";

const GRANT = "/api/admin/credits/grant";

describe("GET /credits/balance and /credits/transactions", () => {
  it("is 0 and an empty ledger for a new user", async () => {
    const u = newUser();
    expect(await json(await as(u).get("/api/v2/credits/balance"))).toEqual({ user_id: u, balance: 0 });
    expect(await json(await as(u).get("/api/v2/credits/transactions"))).toEqual({ transactions: [], next_cursor: null, has_more: false });
  });

  it("pages the caller's own ledger newest first, and no one else's", async () => {
    const u = newUser();
    const other = newUser();
    await seedCredits(u, 5);
    await seedCredits(other, 9);
    for (let i = 0; i < 3; i++) await send(u, other);
    const first = await json(await as(u).get("/api/v2/credits/transactions?limit=2"));
    expect(first.transactions.map((t: { amount: number; balance_after: number }) => [t.amount, t.balance_after])).toEqual([
      [-1, 2],
      [-1, 3],
    ]);
    expect(first.has_more).toBe(true);
    const second = await json(await as(u).get(`/api/v2/credits/transactions?limit=2&cursor=${first.next_cursor}`));
    expect(second.transactions.map((t: { amount: number; kind: string }) => [t.amount, t.kind])).toEqual([
      [-1, "message"],
      [5, "grant"],
    ]);
    expect(second).toMatchObject({ has_more: false, next_cursor: null });
    expect(JSON.stringify([first, second])).not.toContain(other);
  });

  it("rejects a bad cursor or limit with 400", async () => {
    const u = newUser();
    expect((await as(u).get("/api/v2/credits/transactions?cursor=zzz")).status).toBe(400);
    expect((await as(u).get("/api/v2/credits/transactions?limit=500")).status).toBe(400);
  });

  it("the ledger is append-only, even in SQL", async () => {
    const u = newUser();
    await seedCredits(u, 1);
    await expect(env.DB.prepare("UPDATE credit_transactions SET amount = 1000 WHERE user_id = ?").bind(u).run()).rejects.toThrow(
      /append-only/,
    );
    await expect(env.DB.prepare("DELETE FROM credit_transactions WHERE user_id = ?").bind(u).run()).rejects.toThrow(/append-only/);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND amount = 1", u)).toBe(1);
  });

  it("the balance can never go below zero, even in SQL", async () => {
    const u = newUser();
    await seedCredits(u, 1);
    await expect(env.DB.prepare("UPDATE credit_balances SET balance = -1 WHERE user_id = ?").bind(u).run()).rejects.toThrow(/CHECK/);
  });
});

describe("POST /api/admin/credits/grant", () => {
  it("credits the user, writes the ledger and an audit row with before/after", async () => {
    const admin = await createAdmin("admin");
    const u = newUser();
    await seedCredits(u, 2);
    const res = await as(admin).post(
      GRANT,
      { user_id: u, amount: 10, reason: "welcome bonus" },
      { "user-agent": "vitest", "cf-connecting-ip": "203.0.113.9" },
    );
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toEqual({ user_id: u, balance: 12, transaction_id: expect.stringMatching(/^txn_/) });
    expect(await balanceOf(u)).toBe(12);
    const ledger = await json(await as(u).get("/api/v2/credits/transactions?limit=1"));
    expect(ledger.transactions[0]).toMatchObject({
      id: body.transaction_id,
      amount: 10,
      balance_after: 12,
      kind: "grant",
      reason: "welcome bonus",
    });
    const audit = await env.DB.prepare("SELECT * FROM audit_log WHERE action = 'credits.grant' AND target_id = ?").bind(u).all();
    expect(audit.results).toHaveLength(1);
    expect(audit.results[0]).toMatchObject({
      admin_id: admin,
      admin_email: `${admin}@pairly.test`,
      admin_role: "admin",
      outcome: "success",
      status_code: 200,
      severity: "warning",
      ip: "203.0.113.9",
      user_agent: "vitest",
      target_type: "user",
    });
    expect(JSON.parse(String(audit.results[0]?.before_state))).toEqual({ balance: 2 });
    expect(JSON.parse(String(audit.results[0]?.after_state))).toMatchObject({ balance: 12, transaction_id: body.transaction_id });
    expect(audit.results[0]?.request_id).toBe(res.headers.get("x-request-id"));
  });

  it("a plain user gets 403 and nothing changes (the refusal is audited)", async () => {
    const mallory = newUser("mallory");
    const res = await as(mallory).post(GRANT, { user_id: mallory, amount: 1000, reason: "free money" });
    expect(res.status).toBe(403);
    expect(await json(res)).toMatchObject({ error: { code: "forbidden" } });
    expect(await balanceOf(mallory)).toBe(0);
    expect(await count("SELECT 1 FROM audit_log WHERE admin_id = ? AND outcome = 'denied'", mallory)).toBe(1);
  });

  it.each(["support", "moderator", "analyst"])("a %s lacks credits.manage: 403, nothing changes", async (role) => {
    const admin = await createAdmin(role);
    const u = newUser();
    const res = await as(admin).post(GRANT, { user_id: u, amount: 5, reason: "x" });
    expect(res.status).toBe(403);
    expect(await balanceOf(u)).toBe(0);
    expect(await count("SELECT 1 FROM audit_log WHERE admin_id = ? AND action = 'credits.grant' AND outcome = 'denied'", admin)).toBe(1);
  });

  it("a super_admin may grant; an inactive admin may not", async () => {
    const sa = await createAdmin("super_admin");
    const u = newUser();
    expect((await as(sa).post(GRANT, { user_id: u, amount: 3, reason: "x" })).status).toBe(200);
    const gone = await createAdmin("admin", { active: false });
    expect((await as(gone).post(GRANT, { user_id: u, amount: 3, reason: "x" })).status).toBe(403);
    expect(await balanceOf(u)).toBe(3);
  });

  it("permissions come from D1 on every request, never from token claims", async () => {
    const admin = await createAdmin("admin");
    const u = newUser();
    expect((await as(admin).post(GRANT, { user_id: u, amount: 1, reason: "x" })).status).toBe(200);
    await env.DB.prepare("UPDATE admins SET role = 'support' WHERE id = ?").bind(admin).run();
    expect((await as(admin).post(GRANT, { user_id: u, amount: 1, reason: "x" })).status).toBe(403);
    expect(await balanceOf(u)).toBe(1);
  });

  it.each([
    ["a zero amount", { amount: 0 }],
    ["a negative amount", { amount: -5 }],
    ["a fractional amount", { amount: 1.5 }],
    ["no reason", { reason: undefined }],
    ["a blank reason", { reason: "  " }],
    ["a bad user id", { user_id: "a b" }],
    ["an unknown field", { balance: 99 }],
  ])("rejects %s with 400 and grants nothing", async (_name, patch) => {
    const admin = await createAdmin("admin");
    const u = newUser();
    const res = await as(admin).post(GRANT, { user_id: u, amount: 5, reason: "ok", ...patch });
    expect(res.status).toBe(400);
    expect(await balanceOf(u)).toBe(0);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", u)).toBe(0);
  });

  it("parallel grants all land, each audit row records the balance exactly as its batch found it, and the chain seals whole", async () => {
    const admin = await createAdmin("admin");
    const sa = await createAdmin("super_admin");
    const u = newUser();
    await seedCredits(u, 3);
    const results = await Promise.all(Array.from({ length: 30 }, () => as(admin).post(GRANT, { user_id: u, amount: 2, reason: "batch" })));
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(await balanceOf(u)).toBe(63);
    const { results: rows } = await env.DB.prepare(
      "SELECT before_state, after_state, request_id FROM audit_log WHERE action = 'credits.grant' AND target_id = ? ORDER BY pk",
    )
      .bind(u)
      .all<{ before_state: string; after_state: string; request_id: string }>();
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((r) => r.request_id))).toEqual(new Set(results.map((r) => r.headers.get("x-request-id"))));
    // In commit order, each row's before is the previous row's after: no grant saw a stale balance.
    let balance = 3;
    for (const r of rows) {
      expect(JSON.parse(r.before_state)).toEqual({ balance });
      balance += 2;
      expect(JSON.parse(r.after_state)).toEqual({ balance, transaction_id: expect.stringMatching(/^txn_/) });
    }
    expect(await json(await as(sa).get("/api/admin/audit-logs/verify"))).toMatchObject({ ok: true, unsealed: 0 });
  });
});
