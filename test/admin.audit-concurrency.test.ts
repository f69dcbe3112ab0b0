import { createExecutionContext, runDurableObjectAlarm, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { auditChainPage, auditPage, lastSeal, rowsAfter, sealOf } from "../src/db/audit";
import worker from "../src/index";
import { sealer, sealNow, verify } from "./audit";
import { as, auditRowsOf, BASE, balanceOf, count, createAdmin, db, json, newUser, pair, planOf, send, tokenFor } from "./helpers";

/** A call through the Worker's own fetch with an execution context the test can wait on (its waitUntil work). */
async function callWaiting(userId: string, path: string) {
  const ctx = createExecutionContext();
  const request = new Request(`${BASE}${path}`, { headers: { authorization: `Bearer ${await tokenFor(userId)}` } });
  const res = await worker.fetch(request as Parameters<typeof worker.fetch>[0], env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const alarmOf = () => runInDurableObject(sealer(), (_instance, state) => state.storage.getAlarm());
const sealOfRow = (pk: unknown) => env.DB.prepare("SELECT key_id FROM audit_seals WHERE audit_pk = ?").bind(pk).first();

// First in this file: nothing has poked the sealer yet.
describe("each admin call pokes the sealer, which seals moments later (an alarm)", () => {
  it("the call commits its row unsealed and sets one alarm; running the alarm seals the row", async () => {
    const sa = await createAdmin("super_admin");
    expect(await alarmOf()).toBeNull();
    const before = Date.now();
    const res = await callWaiting(sa, "/api/admin/admins");
    expect(res.status).toBe(200);
    const alarm = await alarmOf();
    expect(alarm).toBeGreaterThanOrEqual(before + Number(env.AUDIT_SEAL_DELAY_MS));
    const [row] = await auditRowsOf(res);
    expect(await sealOfRow(row?.pk)).toBeNull();

    // A burst of calls meanwhile is covered by that same alarm (one pass seals them all).
    const burst = [];
    for (let i = 0; i < 5; i++) burst.push(await callWaiting(sa, "/api/admin/admins"));
    expect(await alarmOf()).toBe(alarm);

    expect(await runDurableObjectAlarm(sealer())).toBe(true);
    for (const r of [res, ...burst]) expect(await sealOfRow((await auditRowsOf(r))[0]?.pk)).toEqual({ key_id: "k1" });
    expect(await alarmOf()).toBeNull();
    expect(await runDurableObjectAlarm(sealer())).toBe(false);
  });
});

describe("200 parallel mixed admin calls", () => {
  it("answer without one error, leave exactly one audit row each, and seal into one chain that verifies", async () => {
    const [sa, admin, mod, support, analyst] = (await Promise.all(
      ["super_admin", "admin", "moderator", "support", "analyst"].map((role) => createAdmin(role)),
    )) as [string, string, string, string, string];
    const grantees = Array.from({ length: 10 }, () => newUser("grantee"));
    const toModerate: string[] = [];
    const toDelete: string[] = [];
    for (let i = 0; i < 25; i++) {
      const { alice, bob } = await pair(1);
      (i < 20 ? toModerate : toDelete).push((await send(alice, bob, `message ${i}`)).id);
    }
    const startPk = Number((await env.DB.prepare("SELECT coalesce(MAX(pk), 0) AS pk FROM audit_log").first())?.pk);

    type Planned = { call: () => Promise<Response>; status: number; action: string };
    const plan: Planned[] = [
      ...Array.from({ length: 50 }, (_, i) => ({
        call: () => as(admin).post("/api/admin/credits/grant", { user_id: grantees[i % 10], amount: 3, reason: "load" }),
        status: 200,
        action: "credits.grant",
      })),
      ...Array.from({ length: 40 }, (_, i) => ({
        call: () => as(mod).post(`/api/admin/messages/${toModerate[i % 20]}/moderate`, { moderation_status: "flagged", reason: `r${i}` }),
        status: 200,
        action: "messages.moderate",
      })),
      ...Array.from({ length: 30 }, (_, i) => ({
        call: () => as(support).get(`/api/admin/messages/search?q=message&limit=5&page=${(i % 3) + 1}`),
        status: 200,
        action: "messages.search",
      })),
      ...Array.from({ length: 10 }, () => ({
        call: () => as(support).get(`/api/admin/messages/conversation/${newUser()}/${newUser()}`),
        status: 200,
        action: "messages.conversation_view",
      })),
      ...Array.from({ length: 20 }, () => ({
        call: () => as(sa).get("/api/admin/audit-logs?limit=20"),
        status: 200,
        action: "audit.list",
      })),
      ...Array.from({ length: 10 }, () => ({
        call: () => as(sa).get("/api/admin/audit-logs/verify"),
        status: 200,
        action: "audit.verify",
      })),
      ...Array.from({ length: 20 }, () => ({
        call: () => as(analyst).get("/api/admin/messages/stats/overview"),
        status: 200,
        action: "messages.stats",
      })),
      ...Array.from({ length: 10 }, () => {
        const id = newUser("hire");
        return {
          call: () => as(sa).put(`/api/admin/admins/${id}`, { email: `${id}@pairly.test`, role: "support" }),
          status: 201,
          action: "admins.upsert",
        };
      }),
      ...toDelete.map((id) => ({
        call: () => as(sa).del(`/api/admin/messages/${id}/hard-delete`),
        status: 200,
        action: "messages.hard_delete",
      })),
      // A lower role refused (within its allowance of refusals).
      ...Array.from({ length: 5 }, () => ({
        call: () => as(support).post("/api/admin/credits/grant", { user_id: grantees[0], amount: 100, reason: "no" }),
        status: 403,
        action: "credits.grant",
      })),
    ];
    expect(plan).toHaveLength(200);
    // Interleaved, all in flight at once.
    const order = plan.map((_, i) => (i * 53) % plan.length);
    expect(new Set(order).size).toBe(200);
    const responses = await Promise.all(order.map((i) => (plan[i] as Planned).call()));

    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(statuses).toEqual(order.map((i) => plan[i]?.status));
    for (const [k, res] of responses.entries()) {
      const expected = plan[order[k] as number] as Planned;
      const rows = await auditRowsOf(res);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ action: expected.action, status_code: expected.status });
      if (expected.action === "audit.verify") expect(await json(res)).toMatchObject({ ok: true });
      else await res.arrayBuffer();
    }
    expect(await count("SELECT 1 FROM audit_log WHERE pk > ?", startPk)).toBe(200);
    for (const g of grantees) expect(await balanceOf(g)).toBe(15);

    // The sequencer then seals everything, in commit order, into one chain.
    const report = await sealNow();
    expect(report).toMatchObject({ error: null, more: false });
    expect(await count("SELECT 1 FROM audit_log a LEFT JOIN audit_seals s ON s.audit_pk = a.pk WHERE s.audit_pk IS NULL")).toBe(0);
    const verdict = await verify(sa);
    expect(verdict).toEqual({
      ok: true,
      rows_checked: await count("SELECT 1 FROM audit_seals"),
      head_hash: report.cursor?.hash,
      unsealed: 0,
    });
  }, 120_000);
});

describe("the sealer and verify read by primary key", () => {
  it.each([
    ["unsealed rows after the last seal", () => rowsAfter(db, 10, 100), /SEARCH audit_log USING INTEGER PRIMARY KEY \(rowid>\?\)/],
    ["the last seal", () => lastSeal(db), /SCAN audit_seals/],
    ["the seal at the sealer's cursor", () => sealOf(db, 10), /SEARCH audit_seals USING INTEGER PRIMARY KEY \(rowid=\?\)/],
    [
      "a page of the chain with its seals",
      () => auditChainPage(db, 10, 500),
      /SEARCH s USING INTEGER PRIMARY KEY|SEARCH audit_seals USING INTEGER PRIMARY KEY/,
    ],
    ["an audit page by admin, with its seals", () => auditPage(db, { adminId: "x" }, { limit: 51 }), /audit_log_admin_idx/],
  ])("%s", async (_name, query, expected) => {
    const plan = (await planOf(query())).join("\n");
    expect(plan).toMatch(expected);
    expect(plan).not.toMatch(/USE TEMP B-TREE/);
  });
});
