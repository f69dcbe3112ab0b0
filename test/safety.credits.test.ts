/**
 * Fair credits (issue 11): moderation to `blocked` refunds the sender exactly once, in the same write
 * as the moderation and its audit row; re-moderation and racing moderations never refund twice; free
 * messages are never refunded; no safety refusal is ever charged. And one walk through every path that
 * touches credits, checking after each step that every balance equals the sum of its ledger.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { as, auditRowsOf, BASE, balanceOf, count, createAdmin, json, newUser, seedCredits, send, tokenFor } from "./helpers";
import { balancesOffLedger, block, ledgerOf, suspendAs, trySend, unmatch } from "./safety";

let moderator: string;
const moderate = (id: string, moderation_status: string, reason = "review") =>
  as(moderator).post(`/api/admin/messages/${id}/moderate`, { moderation_status, reason });

describe("refunds", () => {
  it("blocking a charged message refunds its sender once, linked to the message, audited in the same write", async () => {
    moderator ??= await createAdmin("moderator");
    const [a, b] = [newUser("a"), newUser("b")];
    await seedCredits(a, 3);
    const m = await send(a, b, "nasty");
    expect(await balanceOf(a)).toBe(2);

    const res = await moderate(m.id, "blocked", "abuse");
    expect(res.status).toBe(200);
    expect(await balanceOf(a)).toBe(3);
    const refund = (await ledgerOf(a)).at(-1);
    expect(refund).toEqual({ kind: "refund", amount: 1, balance_after: 3, message_id: m.id });
    const [row] = await auditRowsOf(res);
    const details = JSON.parse(String(row?.details));
    expect(details.refund).toEqual({ transaction_id: expect.stringMatching(/^txn_/), amount: 1 });
    const txn = await env.DB.prepare("SELECT id, admin_id, reason FROM credit_transactions WHERE kind = 'refund' AND message_id = ?")
      .bind(m.id)
      .first();
    expect(txn).toEqual({ id: details.refund.transaction_id, admin_id: moderator, reason: "message blocked by moderation" });
    // The caller sees it in their own ledger.
    const ledger = await json(await as(a).get("/api/v2/credits/transactions"));
    expect(ledger.transactions[0]).toMatchObject({ kind: "refund", amount: 1, message_id: m.id });

    // Re-moderation never refunds twice: blocked again, approved and blocked, flagged.
    for (const status of ["blocked", "approved", "blocked", "flagged", "blocked"]) {
      const again = await moderate(m.id, status);
      expect(again.status).toBe(200);
      expect(JSON.parse(String((await auditRowsOf(again))[0]?.details)).refund).toBeUndefined();
    }
    expect(await balanceOf(a)).toBe(3);
    expect(await count("SELECT 1 FROM credit_transactions WHERE kind = 'refund' AND message_id = ?", m.id)).toBe(1);
    expect(await balancesOffLedger()).toEqual([]);
  });

  it("racing moderations to blocked refund once", async () => {
    moderator ??= await createAdmin("moderator");
    const [a, b] = [newUser("a"), newUser("b")];
    await seedCredits(a, 1);
    const m = await send(a, b, "contested");
    const statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => moderate(m.id, i % 3 ? "blocked" : "approved")))).map(
      (r) => r.status,
    );
    expect(statuses).toEqual(Array(20).fill(200));
    expect(await count("SELECT 1 FROM credit_transactions WHERE kind = 'refund' AND message_id = ?", m.id)).toBe(1);
    expect(await balanceOf(a)).toBe(1);
    const refunded = await count("SELECT 1 FROM audit_log WHERE target_id = ? AND json_extract(details, '$.refund') IS NOT NULL", m.id);
    expect(refunded).toBe(1);
    expect(await balancesOffLedger()).toEqual([]);
  });

  it("never refunds a free message (MESSAGE_COST 0)", async () => {
    moderator ??= await createAdmin("moderator");
    const [a, b] = [newUser("a"), newUser("b")];
    const res = await app.request(
      `${BASE}/api/v2/messages/send`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(a)}`, "content-type": "application/json" },
        body: JSON.stringify({ receiver_id: b, content: "free" }),
      },
      { ...env, MESSAGE_COST: "0" },
    );
    const m = await json(res);
    expect(m.credits_cost).toBe(0);
    expect((await moderate(m.id, "blocked")).status).toBe(200);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", a)).toBe(0);
    expect(await balanceOf(a)).toBe(0);
  });
});

describe("every path that touches credits keeps each balance equal to its ledger", () => {
  it("send, replay, each refusal, grant, refund, re-moderation and erasure", async () => {
    moderator ??= await createAdmin("moderator");
    const root = await createAdmin("super_admin");
    const [a, b, c] = [newUser("a"), newUser("b"), newUser("c")];
    const steps: string[] = [];
    const check = async (step: string, expected: Record<string, number>) => {
      steps.push(step);
      expect(await balancesOffLedger(), step).toEqual([]);
      for (const [user, balance] of Object.entries(expected)) expect(await balanceOf(user), `${step}: ${user}`).toBe(balance);
    };

    const grant = await as(root).post("/api/admin/credits/grant", { user_id: a, amount: 10, reason: "welcome" });
    expect(grant.status).toBe(200);
    await check("grant", { [a]: 10 });
    const m1 = await send(a, b, "one", { client_message_id: "w-1" });
    await check("send", { [a]: 9 });
    expect((await as(a).post("/api/v2/messages/send", { receiver_id: b, content: "one", client_message_id: "w-1" })).status).toBe(200);
    await check("replay", { [a]: 9 });
    expect((await as(a).post("/api/v2/messages/send", { receiver_id: b, content: "other", client_message_id: "w-1" })).status).toBe(409);
    await check("conflicting replay", { [a]: 9 });
    await seedCredits(c, 1);
    await trySend(c, a, "hi a");
    await check("a second sender", { [c]: 0 });
    expect((await trySend(c, a, "broke")).status).toBe(402);
    await check("402", { [c]: 0 });

    await block(b, a);
    expect((await trySend(a, b, "blocked by receiver")).status).toBe(404);
    await check("refused: blocked by the receiver", { [a]: 9 });
    await block(a, b);
    expect((await trySend(a, b, "blocking")).status).toBe(409);
    await check("refused: blocking the receiver", { [a]: 9 });
    await unmatch(a, c);
    expect((await trySend(a, c, "unmatched")).status).toBe(404);
    await check("refused: unmatched", { [a]: 9 });
    await suspendAs(moderator, a);
    expect((await trySend(a, newUser("z"), "suspended")).status).toBe(403);
    await check("refused: suspended", { [a]: 9 });
    await as(moderator).post(`/api/admin/users/${a}/unsuspend`);
    const firstContact = await app.request(
      `${BASE}/api/v2/messages/send`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(a)}`, "content-type": "application/json" },
        body: JSON.stringify({ receiver_id: newUser("y"), content: "text me at 415 555 0100" }),
      },
      { ...env, FIRST_CONTACT_LIMIT: "2" },
    );
    expect(firstContact.status).toBe(403);
    await check("refused: first contact", { [a]: 9 });

    expect((await moderate(m1.id, "blocked", "abuse")).status).toBe(200);
    await check("refund", { [a]: 10 });
    expect((await moderate(m1.id, "approved")).status).toBe(200);
    expect((await moderate(m1.id, "blocked", "abuse again")).status).toBe(200);
    await check("re-moderation", { [a]: 10 });

    const erased = await json(await as(root).del(`/api/admin/users/${a}/messages`));
    expect(erased).toMatchObject({ status: "done", removed: 1, remaining: 0 });
    await check("erasure (the ledger keeps its amounts)", { [a]: 10 });
    expect(await ledgerOf(a)).toEqual([
      expect.objectContaining({ kind: "grant", amount: 10 }),
      expect.objectContaining({ kind: "message", amount: -1, message_id: m1.id }),
      expect.objectContaining({ kind: "refund", amount: 1, message_id: m1.id }),
    ]);
    expect(steps).toHaveLength(14);
  });
});
