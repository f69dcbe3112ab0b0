import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { contentDigest } from "../src/lib/content-digest";
import { conversationIdOf } from "../src/lib/ids";
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
  it("removes the row, keeps its seq unused, tells the sockets, and audits the row's state (a digest for its text) as before", async () => {
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
    expect(JSON.parse(String(audit?.before_state))).toEqual({
      id: m2.id,
      conversation_id: conversationIdOf(alice, bob),
      seq: 2,
      sender_id: alice,
      receiver_id: bob,
      ...(await contentDigest("two: evidence")),
      message_type: "text",
      attachment_count: 0,
      status: "sent",
      delivered_at: null,
      read_at: null,
      moderation_status: "pending",
      moderation_reason: null,
      is_deleted: false,
      deleted_at: null,
      credits_cost: 1,
      credits_transaction_id: expect.stringMatching(/^txn_/),
      created_at: m2.created_at,
      updated_at: m2.updated_at,
    });

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

describe("the audit log holds no message content, and records state as the write found it", () => {
  it("after moderating and hard-deleting a message, no column of any audit row (or seal) holds its text", async () => {
    const { alice, bob } = await pair(1);
    const text = `secret ${crypto.randomUUID()} 🙈 text`;
    const m = await send(alice, bob, text);
    expect((await moderate(m.id, { moderation_status: "flagged", reason: "reported" })).status).toBe(200);
    expect((await moderate(m.id, { moderation_status: "blocked", reason: "abuse" })).status).toBe(200);
    const del = await as(superAdmin).del(`/api/admin/messages/${m.id}/hard-delete`);
    expect(del.status).toBe(200);
    expect(await json(await as(superAdmin).get("/api/admin/audit-logs/verify"))).toMatchObject({ ok: true });

    const digest = await contentDigest(text);
    expect(digest).toEqual({ content_sha256: expect.stringMatching(/^[0-9a-f]{64}$/), content_length: [...text].length });
    const rows = await env.DB.prepare("SELECT * FROM audit_log WHERE target_id = ? ORDER BY pk").bind(m.id).all();
    expect(rows.results).toHaveLength(3);
    expect(JSON.parse(String(rows.results[0]?.details))).toMatchObject(digest);
    expect(JSON.parse(String(rows.results[2]?.before_state))).toMatchObject(digest);
    // Every column of every row, searched for the text and for any part of it a moderator would recognise.
    for (const table of ["audit_log", "audit_seals"]) {
      const all = await env.DB.prepare(`SELECT * FROM ${table}`).all();
      const stored = JSON.stringify(all.results);
      for (const part of [text, text.split(" ")[1] as string, "🙈"]) expect(stored).not.toContain(part);
    }
    expect(await count("SELECT 1 FROM messages WHERE id = ?", m.id)).toBe(0);
  });

  it("racing moderations: in commit order, each audit row's before is exactly the previous row's after", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "contested");
    const states = ["flagged", "blocked", "approved", "pending"] as const;
    const bodies = Array.from({ length: 40 }, (_, i) => ({ moderation_status: states[i % 4], reason: `r${i}` }));
    const responses = await Promise.all(bodies.map((b) => moderate(m.id, b)));
    expect(responses.map((r) => r.status)).toEqual(Array(40).fill(200));
    const { results } = await env.DB.prepare(
      "SELECT before_state, after_state FROM audit_log WHERE target_id = ? AND action = 'messages.moderate' ORDER BY pk",
    )
      .bind(m.id)
      .all<{ before_state: string; after_state: string }>();
    expect(results).toHaveLength(40);
    let state: unknown = { moderation_status: "pending", moderation_reason: null };
    for (const r of results) {
      expect(JSON.parse(r.before_state)).toEqual(state);
      state = JSON.parse(r.after_state);
    }
    // And the message ends as the last row says.
    expect(await env.DB.prepare("SELECT moderation_status, moderation_reason FROM messages WHERE id = ?").bind(m.id).first()).toEqual(
      state,
    );
  });

  it("a hard delete racing moderations records the state the last moderation before it left", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "doomed");
    const calls = [
      ...Array.from({ length: 15 }, (_, i) => moderate(m.id, { moderation_status: i % 2 ? "blocked" : "flagged", reason: `r${i}` })),
      as(superAdmin).del(`/api/admin/messages/${m.id}/hard-delete`),
      ...Array.from({ length: 15 }, (_, i) => moderate(m.id, { moderation_status: "approved", reason: `late${i}` })),
    ];
    const statuses = (await Promise.all(calls)).map((r) => r.status);
    expect(statuses[15]).toBe(200);
    expect(statuses.every((s) => s === 200 || s === 404)).toBe(true);
    const { results } = await env.DB.prepare(
      "SELECT action, outcome, before_state, after_state FROM audit_log WHERE target_id = ? ORDER BY pk",
    )
      .bind(m.id)
      .all<{ action: string; outcome: string; before_state: string | null; after_state: string | null }>();
    expect(results).toHaveLength(31); // one row per call
    const changes = results.filter((r) => r.outcome === "success");
    const deleteAt = changes.findIndex((r) => r.action === "messages.hard_delete");
    expect(deleteAt).toBe(changes.length - 1); // nothing changed the message after it was gone
    const lastBefore =
      deleteAt === 0 ? { moderation_status: "pending", moderation_reason: null } : JSON.parse(String(changes[deleteAt - 1]?.after_state));
    expect(JSON.parse(String(changes[deleteAt]?.before_state))).toMatchObject(lastBefore);
    // Calls that came too late found no message: 404, recorded as failures, claiming nothing.
    expect(results.filter((r) => r.outcome === "failed").length).toBe(statuses.filter((s) => s === 404).length);
  });
});
