import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { as, call, count, createAdmin, json, pair, send, tokenFor } from "./helpers";
import { openSocket } from "./sockets";

let mod: string;
let superAdmin: string;
beforeAll(async () => {
  mod = await createAdmin("moderator");
  superAdmin = await createAdmin("super_admin");
});

const moderate = (id: string, body: unknown, who = mod) => as(who).post(`/api/admin/messages/${id}/moderate`, body);
const auditOf = (res: Response) =>
  env.DB.prepare("SELECT * FROM audit_log WHERE request_id = ?").bind(res.headers.get("x-request-id")).first<Record<string, unknown>>();

describe("POST /api/admin/messages/{id}/moderate", () => {
  it("sets the state, answers the contract's shape, and audits before/after in the same write", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "borderline");
    const res = await moderate(m.id, { moderation_status: "flagged", reason: "reported by bob" });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ success: true, message_id: m.id, moderation_status: "flagged" });
    const row = await env.DB.prepare("SELECT moderation_status, moderation_reason FROM messages WHERE id = ?").bind(m.id).first();
    expect(row).toEqual({ moderation_status: "flagged", moderation_reason: "reported by bob" });
    const audit = await auditOf(res);
    expect(audit).toMatchObject({
      admin_id: mod,
      admin_role: "moderator",
      action: "messages.moderate",
      target_type: "message",
      target_id: m.id,
      outcome: "success",
      severity: "warning",
    });
    expect(JSON.parse(String(audit?.before_state))).toEqual({ moderation_status: "pending", moderation_reason: null });
    expect(JSON.parse(String(audit?.after_state))).toEqual({ moderation_status: "flagged", moderation_reason: "reported by bob" });
  });

  it.each([
    ["flagged without a reason", { moderation_status: "flagged" }, "reason"],
    ["blocked with a blank reason", { moderation_status: "blocked", reason: "  " }, "reason"],
    ["an unknown state", { moderation_status: "deleted", reason: "x" }, "moderation_status"],
    ["an unknown field", { moderation_status: "approved", status: "read" }, "status"],
  ])("rejects %s with 400 and changes nothing", async (_name, body, field) => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const res = await moderate(m.id, body);
    expect(res.status).toBe(400);
    expect(Object.keys((await json(res)).error.details)).toContain(field);
    const row = await env.DB.prepare("SELECT moderation_status FROM messages WHERE id = ?").bind(m.id).first();
    expect(row).toEqual({ moderation_status: "pending" });
    expect(await auditOf(res)).toMatchObject({ outcome: "failed", status_code: 400 });
  });

  it("approving needs no reason", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    expect((await moderate(m.id, { moderation_status: "approved" })).status).toBe(200);
  });

  it("blocking reaches the conversation's sockets at once: the receiver's copy has no content, the sender's does", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "abusive words");
    const bobSocket = await openSocket(bob, { partner: alice });
    const aliceSocket = await openSocket(alice, { partner: bob });
    const bobInbox = await openSocket(bob);
    await bobSocket.drain();
    await aliceSocket.drain();
    expect(await bobInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 1 });

    expect((await moderate(m.id, { moderation_status: "blocked", reason: "abuse" })).status).toBe(200);
    const forBob = await bobSocket.nextOf("message.moderated");
    expect(forBob).toMatchObject({
      message_id: m.id,
      moderation_status: "blocked",
      message: { id: m.id, content: null, moderation_status: "blocked" },
    });
    expect(JSON.stringify(forBob)).not.toContain("abusive");
    const forAlice = await aliceSocket.nextOf("message.moderated");
    expect(forAlice.message.content).toBe("abusive words");
    expect(await bobInbox.nextOf("unread")).toEqual({ type: "unread", unread_count: 0 });
    // And over HTTP the receiver never gets it back.
    const history = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    expect(history.messages[0]).toMatchObject({ id: m.id, content: null });
    for (const s of [bobSocket, aliceSocket, bobInbox]) s.close();
  });

  it("unblocking shows the content to the receiver again", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "false alarm");
    await moderate(m.id, { moderation_status: "blocked", reason: "auto" });
    await moderate(m.id, { moderation_status: "approved" });
    const history = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    expect(history.messages[0]).toMatchObject({ content: "false alarm", moderation_status: "approved" });
  });
});

describe("DELETE /api/admin/messages/{id}/hard-delete", () => {
  it("removes the row, keeps its seq unused, tells the sockets, and audits the whole row as before", async () => {
    const { alice, bob } = await pair(3);
    const m1 = await send(alice, bob, "one");
    const m2 = await send(alice, bob, "two: evidence");
    const bobSocket = await openSocket(bob, { partner: alice });
    await bobSocket.drain();

    const res = await as(superAdmin).del(`/api/admin/messages/${m2.id}/hard-delete`);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ success: true, message_id: m2.id });
    expect(await count("SELECT 1 FROM messages WHERE id = ?", m2.id)).toBe(0);
    expect(await bobSocket.nextOf("message.deleted")).toEqual({ type: "message.deleted", message_id: m2.id });

    const audit = await auditOf(res);
    expect(audit).toMatchObject({ action: "messages.hard_delete", target_id: m2.id, severity: "critical", admin_role: "super_admin" });
    expect(JSON.parse(String(audit?.before_state))).toMatchObject({ id: m2.id, content: "two: evidence", seq: 2, sender_id: alice });

    const m3 = await send(alice, bob, "three");
    expect(m3.seq).toBe(3); // 2 stays unused
    const history = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    expect(history.messages.map((m: { seq: number }) => m.seq)).toEqual([3, 1]);
    expect(history.messages[1].id).toBe(m1.id);
    // The ledger is append-only: the charge for the deleted message stays.
    expect(await count("SELECT 1 FROM credit_transactions WHERE message_id = ?", m2.id)).toBe(1);
    bobSocket.close();
  });

  it("a body (the route takes none) is a 400 that deletes nothing, audited as a failure", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "keep me");
    const res = await call("DELETE", `/api/admin/messages/${m.id}/hard-delete`, {
      token: await tokenFor(superAdmin),
      body: { reason: "cleanup" },
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatchObject({ code: "validation_failed", details: { reason: ["unknown field"] } });
    expect(await count("SELECT 1 FROM messages WHERE id = ?", m.id)).toBe(1);
    expect(await auditOf(res)).toMatchObject({ action: "messages.hard_delete", outcome: "failed", status_code: 400, target_id: m.id });
  });

  it("an unknown message is 404 and writes nothing but the failed audit row", async () => {
    const res = await as(superAdmin).del("/api/admin/messages/msg_nothing/hard-delete");
    expect(res.status).toBe(404);
    expect(await auditOf(res)).toMatchObject({ outcome: "failed", status_code: 404, target_id: "msg_nothing" });
  });

  it("a moderation without its audit row is impossible: a failing audit insert undoes the change", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    // Sabotage the audit table for this one call: the batch must fail as a whole.
    await env.DB.prepare(
      "CREATE TRIGGER audit_sabotage BEFORE INSERT ON audit_log WHEN NEW.action = 'messages.moderate' BEGIN SELECT RAISE(ABORT, 'sabotaged'); END",
    ).run();
    const quiet = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const res = await moderate(m.id, { moderation_status: "blocked", reason: "x" });
      expect(res.status).toBe(500);
    } finally {
      quiet.mockRestore();
      await env.DB.prepare("DROP TRIGGER audit_sabotage").run();
    }
    const row = await env.DB.prepare("SELECT moderation_status FROM messages WHERE id = ?").bind(m.id).first();
    expect(row).toEqual({ moderation_status: "pending" });
  });
});
