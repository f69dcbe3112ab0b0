import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, count, json, newUser, pair, seedCredits, send } from "./helpers";

const delivered = (id: string) => `/api/v2/messages/mark-delivered/${id}`;
const MARK_READ = "/api/v2/messages/mark-read";
const UNREAD = "/api/v2/messages/unread-count";

async function row(id: string) {
  return env.DB.prepare("SELECT status, delivered_at, read_at, is_deleted, content FROM messages WHERE id = ?").bind(id).first();
}

describe("POST /mark-delivered/{id}", () => {
  it("sets delivered once; a second call changes nothing", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const res = await as(bob).post(delivered(m.id));
    expect(res.status).toBe(200);
    const first = await json(res);
    expect(first).toMatchObject({ id: m.id, status: "delivered" });
    expect(first.delivered_at).toEqual(expect.any(String));
    const again = await json(await as(bob).post(delivered(m.id)));
    expect(again.delivered_at).toBe(first.delivered_at);
    expect(again.updated_at).toBe(first.updated_at);
  });

  it("never moves a read message back", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    await as(bob).post(MARK_READ, { message_ids: [m.id] });
    const res = await as(bob).post(delivered(m.id));
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ status: "read" });
    expect(await row(m.id)).toMatchObject({ status: "read" });
  });

  it("is the receiver's: the sender gets 403, a stranger and an unknown id 404, and nothing changes", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const bySender = await as(alice).post(delivered(m.id));
    expect(bySender.status).toBe(403);
    expect(await json(bySender)).toMatchObject({ error: { code: "forbidden" } });
    const byStranger = await as(newUser()).post(delivered(m.id));
    expect(byStranger.status).toBe(404);
    const unknown = await as(bob).post(delivered("msg_doesnotexist"));
    expect(unknown.status).toBe(404);
    expect(await json(byStranger)).toEqual(await json(unknown)); // no existence oracle
    expect(await row(m.id)).toMatchObject({ status: "sent", delivered_at: null });
  });
});

describe("POST /mark-read", () => {
  it("marks the caller's received messages read, counts only those that changed, and sets delivered_at", async () => {
    const { alice, bob } = await pair(3);
    const [a, b, c] = [await send(alice, bob), await send(alice, bob), await send(alice, bob)];
    await as(bob).post(delivered(a.id));
    const res = await as(bob).post(MARK_READ, { message_ids: [a.id, b.id] });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ success: true, marked_count: 2 });
    const ra = await row(a.id);
    const rb = await row(b.id);
    expect(ra).toMatchObject({ status: "read" });
    expect(rb).toMatchObject({ status: "read" });
    expect(rb?.delivered_at).toBe(rb?.read_at); // delivered_at set when unset
    expect(ra?.delivered_at).not.toBe(null);
    expect(await row(c.id)).toMatchObject({ status: "sent" });
    // Again: nothing changes.
    expect(await json(await as(bob).post(MARK_READ, { message_ids: [a.id, b.id] }))).toEqual({ success: true, marked_count: 0 });
  });

  it("ignores ids that are not the caller's received messages", async () => {
    const { alice, bob } = await pair(2);
    const m = await send(alice, bob);
    const res = await as(alice).post(MARK_READ, { message_ids: [m.id, "msg_unknown"] });
    expect(await json(res)).toEqual({ success: true, marked_count: 0 });
    expect(await row(m.id)).toMatchObject({ status: "sent" });
    const stranger = await as(newUser()).post(MARK_READ, { message_ids: [m.id] });
    expect(await json(stranger)).toEqual({ success: true, marked_count: 0 });
  });

  const others = (n: number) => Array.from({ length: n }, (_, i) => `msg_other${i}`);
  it.each([
    ["no ids", () => ({ message_ids: [] }), "message_ids"],
    ["101 ids", (id: string) => ({ message_ids: [id, ...others(100)] }), "message_ids"],
    ["ids that are not strings", (id: string) => ({ message_ids: [id, 2] }), "message_ids.1"],
    ["an id with characters no id has", (id: string) => ({ message_ids: [id, "msg 1; DROP"] }), "message_ids.1"],
    ["an id over 64 characters", (id: string) => ({ message_ids: [id, `msg_${"x".repeat(61)}`] }), "message_ids.1"],
    ["message_ids that is not a list", (id: string) => ({ message_ids: id }), "message_ids"],
    ["an unknown field", (id: string) => ({ message_ids: [id], all: true }), "all"],
    ["no body field", () => ({}), "message_ids"],
  ])("rejects %s with 400 naming the field, and the caller's unread message stays unread", async (_name, body, field) => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const res = await as(bob).post(MARK_READ, body(m.id));
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error).toMatchObject({ code: "validation_failed", details: expect.any(Object) });
    expect(Object.keys(error.details)).toContain(field);
    expect(await row(m.id)).toMatchObject({ status: "sent", delivered_at: null, read_at: null });
    expect(await json(await as(bob).get(UNREAD))).toEqual({ unread_count: 1 });
  });

  it("accepts exactly 100 ids", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const res = await as(bob).post(MARK_READ, { message_ids: [m.id, ...others(99)] });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ success: true, marked_count: 1 });
    expect(await row(m.id)).toMatchObject({ status: "read", read_at: expect.any(String) });
  });
});

describe("GET /unread-count", () => {
  it("counts overall and per sender, and drops as messages are read or deleted", async () => {
    const me = newUser("me");
    const [p1, p2] = [newUser("p"), newUser("p")];
    await seedCredits(p1, 5);
    await seedCredits(p2, 5);
    const a = await send(p1, me);
    await send(p1, me);
    const c = await send(p2, me);
    expect(await json(await as(me).get(UNREAD))).toEqual({ unread_count: 3 });
    expect(await json(await as(me).get(`${UNREAD}?sender_id=${p1}`))).toEqual({ unread_count: 2 });
    expect(await json(await as(me).get(`${UNREAD}?sender_id=${p2}`))).toEqual({ unread_count: 1 });
    await as(me).post(MARK_READ, { message_ids: [a.id] });
    expect(await json(await as(me).get(UNREAD))).toEqual({ unread_count: 2 });
    await as(p2).del(`/api/v2/messages/${c.id}`);
    expect(await json(await as(me).get(UNREAD))).toEqual({ unread_count: 1 });
    // The sender's own sent messages are never unread for them.
    expect(await json(await as(p1).get(UNREAD))).toEqual({ unread_count: 0 });
  });

  it("rejects a malformed sender_id", async () => {
    expect((await as(newUser()).get(`${UNREAD}?sender_id=a%20b`)).status).toBe(400);
  });
});

describe("DELETE /{message_id}", () => {
  it("soft-deletes for the sender, idempotently; the row stays with its content for moderators only", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "delete me");
    const res = await as(alice).del(`/api/v2/messages/${m.id}`);
    expect(res.status).toBe(200);
    const tomb = await json(res);
    expect(tomb).toMatchObject({ id: m.id, is_deleted: true, content: null, seq: 1 });
    const again = await as(alice).del(`/api/v2/messages/${m.id}`);
    expect(again.status).toBe(200);
    expect((await json(again)).deleted_at).toBe(tomb.deleted_at);
    expect(await row(m.id)).toMatchObject({ is_deleted: 1, content: "delete me" });
  });

  it("is the sender's: the receiver gets 403, a stranger 404, and the message is untouched", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    expect((await as(bob).del(`/api/v2/messages/${m.id}`)).status).toBe(403);
    expect((await as(newUser()).del(`/api/v2/messages/${m.id}`)).status).toBe(404);
    expect((await as(alice).del("/api/v2/messages/msg_nope")).status).toBe(404);
    expect(await row(m.id)).toMatchObject({ is_deleted: 0 });
  });

  it("mark-delivered on a deleted message: 200 with the unchanged tombstone for the receiver; 403 and 404 as before", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "gone soon");
    const tomb = await json(await as(alice).del(`/api/v2/messages/${m.id}`));
    const res = await as(bob).post(delivered(m.id));
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toEqual({ ...tomb, content: null, attachments: [], metadata: {}, status: "sent", delivered_at: null });
    expect(JSON.stringify(body)).not.toContain("gone soon");
    expect(await row(m.id)).toMatchObject({ status: "sent", delivered_at: null, read_at: null, is_deleted: 1 });
    expect((await as(alice).post(delivered(m.id))).status).toBe(403);
    expect((await as(newUser()).post(delivered(m.id))).status).toBe(404);
  });

  it("a deleted message takes no receipts", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    await as(alice).del(`/api/v2/messages/${m.id}`);
    expect(await json(await as(bob).post(MARK_READ, { message_ids: [m.id] }))).toEqual({ success: true, marked_count: 0 });
    expect(await row(m.id)).toMatchObject({ status: "sent" });
  });
});

describe("GET /stats", () => {
  it("reports sent, received, unread, credits spent and conversations", async () => {
    const me = newUser("me");
    const [p1, p2] = [newUser("p"), newUser("p")];
    await seedCredits(me, 10);
    await seedCredits(p1, 10);
    await send(me, p1);
    await send(me, p1);
    await send(me, p2);
    const r = await send(p1, me);
    await send(p1, me);
    await as(me).post(MARK_READ, { message_ids: [r.id] });
    const res = await as(me).get("/api/v2/messages/stats");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ sent: 3, received: 2, unread: 1, credits_spent: 3, conversations: 2 });
    expect(await count("SELECT 1 FROM conversation_members WHERE user_id = ?", me)).toBe(2);
  });
});
