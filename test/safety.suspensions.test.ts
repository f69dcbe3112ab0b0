/**
 * Suspensions (issue 11): reads work, sends are refused inside the send's batch (never charged), and
 * every socket of the user closes at once: D1's `room_visits` names the rooms to close, and a socket
 * that raced the suspension is closed by its room when it records its visit.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { conversationIdOf } from "../src/lib/ids";
import { as, auditRowsOf, balanceOf, count, createAdmin, json, newUser, pair, seedCredits, send } from "./helpers";
import { balancesOffLedger, SEND, suspendAs, trySend } from "./safety";
import { connect, forwardedUpgrade, openSocket } from "./sockets";

const FINAL_4403 = { type: "error", code: "forbidden", message: "account suspended", close_code: 4403 };

const visitedRooms = async (userId: string) =>
  (
    await env.DB.prepare("SELECT conversation_id FROM room_visits WHERE user_id = ? ORDER BY conversation_id")
      .bind(userId)
      .all<{ conversation_id: string }>()
  ).results.map((r) => r.conversation_id);

describe("a suspended user", () => {
  it("still authenticates and reads, but every send answers 403 (reason suspended), uncharged; a retry of a stored send still answers 200", async () => {
    const mod = await createAdmin("moderator");
    const { alice: a, bob: b } = await pair(5);
    const stored = await send(a, b, "before", { client_message_id: "c-before" });
    const view = await suspendAs(mod, a, { reason: "spam wave" });
    expect(view).toEqual({ user_id: a, suspended: true, reason: "spam wave", until: null, created_at: expect.any(String) });

    const balance = await balanceOf(a);
    const refused = await trySend(a, b, "after");
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({
      error: { code: "forbidden", message: expect.stringContaining("suspended"), details: { reason: "suspended" } },
    });
    expect(await balanceOf(a)).toBe(balance);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(1);
    const replay = await as(a).post(SEND, { receiver_id: b, content: "before", client_message_id: "c-before" });
    expect(replay.status).toBe(200);
    expect((await json(replay)).id).toBe(stored.id);

    expect((await as(a).get(`/api/v2/messages/conversation/${b}`)).status).toBe(200);
    expect((await as(a).get("/api/v2/messages/conversations")).status).toBe(200);
    expect((await as(a).get("/api/v2/credits/balance")).status).toBe(200);
    // Others may still write to them.
    await seedCredits(b, 1);
    expect((await trySend(b, a, "you there?")).status).toBe(201);

    await as(mod).post(`/api/admin/users/${a}/unsuspend`);
    expect((await trySend(a, b, "back")).status).toBe(201);
    expect(await balancesOffLedger()).toEqual([]);
  });

  it("has every open socket closed at once with 4403 (each conversation, the inbox); new ones are closed with 4403 right after the upgrade", async () => {
    const mod = await createAdmin("moderator");
    const [a, b, c, d] = [newUser("a"), newUser("b"), newUser("c"), newUser("d")];
    const [withB, withBLaptop, withC, inbox, partnerB] = await Promise.all([
      openSocket(a, { partner: b }),
      openSocket(a, { partner: b }),
      openSocket(a, { partner: c }),
      openSocket(a),
      openSocket(b, { partner: a }),
    ]);
    // Every room a opened is recorded once, also one whose socket has gone (its room has nothing to close).
    const gone = await openSocket(a, { partner: d });
    gone.close();
    await gone.closedBy();
    expect(await visitedRooms(a)).toEqual([conversationIdOf(a, b), conversationIdOf(a, c), conversationIdOf(a, d)].sort());
    expect(await visitedRooms(b)).toEqual([conversationIdOf(a, b)]);
    await partnerB.drain(); // a's presence so far

    await suspendAs(mod, a);
    for (const s of [withB, withBLaptop, withC, inbox]) expect(await s.closedBy()).toEqual({ code: 4403, reason: "account suspended" });
    expect(partnerB.closed).toBeNull(); // the partner's socket stays
    expect((await partnerB.nextOf("presence")).online).toBe(false);

    for (const s of [withB, withBLaptop, withC, inbox]) expect(s.unread.at(-1)).toEqual(FINAL_4403);
    for (const o of [{ partner: b }, { partner: newUser("e") }, {}]) {
      const late = await connect(a, o);
      expect(await late.closedBy()).toEqual({ code: 4403, reason: "account suspended" });
      expect(late.unread).toEqual([FINAL_4403]); // nothing read for them, only why
    }
    // A refused join records no visit (the new partner's room included).
    expect(await visitedRooms(a)).toEqual([conversationIdOf(a, b), conversationIdOf(a, c), conversationIdOf(a, d)].sort());

    await as(mod).post(`/api/admin/users/${a}/unsuspend`);
    const back = await openSocket(a, { partner: b });
    expect(back.closed).toBeNull();
    back.close();
    partnerB.close();
  });

  it("a conversation upgrade after the suspension committed is closed with 4403 by its room (its visit's batch reads the suspension), from every device", async () => {
    const mod = await createAdmin("moderator");
    const [a, b] = [newUser("a"), newUser("b")];
    const visited = await openSocket(a, { partner: b }); // a's visit is on record already
    await suspendAs(mod, a);
    expect(await visited.closedBy()).toMatchObject({ code: 4403 });
    // From two devices: the visit on record stays the one row, and every join reads the suspension.
    for (const device of ["phone", "laptop"]) {
      const res = await forwardedUpgrade(a, b);
      expect(res.status, device).toBe(101);
      const ws = res.webSocket as WebSocket;
      const closed = new Promise<number>((resolve) => ws.addEventListener("close", (e) => resolve(e.code)));
      ws.accept();
      expect(await closed, device).toBe(4403);
    }
    expect(await count("SELECT 1 FROM room_visits WHERE user_id = ?", a)).toBe(1);
  });

  it("an inbox whose unsuspension notification was lost lets the user in again: it confirms the suspension with D1 first", async () => {
    const mod = await createAdmin("moderator");
    const a = newUser("a");
    await suspendAs(mod, a);
    expect(await (await connect(a)).closedBy()).toMatchObject({ code: 4403 });
    await env.DB.prepare("DELETE FROM suspensions WHERE user_id = ?").bind(a).run(); // lifted without telling the inbox
    const inbox = await openSocket(a);
    expect(inbox.joined).toMatchObject({ type: "sync", conversations: [] });
    const room = await openSocket(a, { partner: newUser("b") });
    expect(room.closed).toBeNull();
    inbox.close();
    room.close();
  });

  it("is audited in the same write (before/after); suspending again replaces it; unsuspend is idempotent; `until` in the past is a 400; support may not", async () => {
    const mod = await createAdmin("moderator");
    const support = await createAdmin("support");
    const a = newUser("a");
    const until = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const first = await as(mod).post(`/api/admin/users/${a}/suspend`, { reason: "first" });
    const [row1] = await auditRowsOf(first);
    expect(row1).toMatchObject({ action: "users.suspend", target_type: "user", target_id: a, outcome: "success", severity: "warning" });
    expect(row1?.before_state).toBeNull();
    expect(JSON.parse(String(row1?.after_state))).toEqual({ suspended: true, reason: "first", until: null });

    const second = await as(mod).post(`/api/admin/users/${a}/suspend`, { reason: "second", until });
    expect(await json(second)).toMatchObject({ suspended: true, reason: "second", until });
    const [row2] = await auditRowsOf(second);
    expect(JSON.parse(String(row2?.before_state))).toMatchObject({ reason: "first", until: null });

    const lifted = await as(mod).post(`/api/admin/users/${a}/unsuspend`);
    expect(await json(lifted)).toEqual({ user_id: a, suspended: false, reason: null, until: null, created_at: null });
    const [row3] = await auditRowsOf(lifted);
    expect(JSON.parse(String(row3?.before_state))).toMatchObject({ reason: "second", until });
    expect((await as(mod).post(`/api/admin/users/${a}/unsuspend`)).status).toBe(200);
    expect(await count("SELECT 1 FROM suspensions WHERE user_id = ?", a)).toBe(0);

    for (const body of [{ reason: "x", until: "2000-01-01" }, { reason: "" }, { reason: "x", extra: 1 }, {}]) {
      const res = await as(mod).post(`/api/admin/users/${a}/suspend`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await as(support).post(`/api/admin/users/${a}/suspend`, { reason: "x" })).status).toBe(403);
    expect((await as(mod).post(`/api/admin/users/${a}/unsuspend`, { reason: "x" })).status).toBe(400);
    expect(await count("SELECT 1 FROM suspensions WHERE user_id = ?", a)).toBe(0);
  });

  it("a suspension whose end has passed no longer refuses sends (the guard compares `until` with the send's time)", async () => {
    const mod = await createAdmin("moderator");
    const { alice: a, bob: b } = await pair(2);
    await suspendAs(mod, a, { reason: "a week", until: new Date(Date.now() + 7 * 86_400_000).toISOString() });
    expect((await trySend(a, b, "now?")).status).toBe(403);
    // A week later, as far as the stored end is concerned.
    await env.DB.prepare("UPDATE suspensions SET until = ? WHERE user_id = ?")
      .bind(new Date(Date.now() - 1000).toISOString(), a)
      .run();
    expect((await trySend(a, b, "now?")).status).toBe(201);
  });
});
