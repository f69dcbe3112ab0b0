import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { as, json, newUser, pair, seedCredits, send } from "./helpers";

const history = (partner: string, query = "") => `/api/v2/messages/conversation/${partner}${query}`;

describe("GET /conversation/{partner_id}", () => {
  it("pages newest first with a keyset cursor until has_more is false", async () => {
    const { alice, bob } = await pair(7);
    for (let i = 1; i <= 7; i++) await send(alice, bob, `m${i}`);
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await as(bob).get(history(alice, `?limit=3${cursor ? `&before=${cursor}` : ""}`));
      expect(res.status).toBe(200);
      const page = await json(res);
      seen.push(...page.messages.map((m: { seq: number }) => m.seq));
      expect(page.has_more).toBe(page.next_cursor !== null);
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(pages).toBe(3);
  });

  it("is the same conversation from both sides", async () => {
    const { alice, bob } = await pair(1);
    await seedCredits(bob, 1);
    await send(alice, bob, "a");
    await send(bob, alice, "b");
    const fromAlice = await json(await as(alice).get(history(bob)));
    const fromBob = await json(await as(bob).get(history(alice)));
    expect(fromAlice.messages.map((m: { id: string }) => m.id)).toEqual(fromBob.messages.map((m: { id: string }) => m.id));
    expect(fromAlice.messages.map((m: { content: string }) => m.content)).toEqual(["b", "a"]);
  });

  it("supports skip for offset paging, alone and after a cursor", async () => {
    const { alice, bob } = await pair(6);
    for (let i = 1; i <= 6; i++) await send(alice, bob, `m${i}`);
    const skipped = await json(await as(alice).get(history(bob, "?skip=2&limit=2")));
    expect(skipped.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 3]);
    expect(skipped.has_more).toBe(true);
    const first = await json(await as(alice).get(history(bob, "?limit=1")));
    const after = await json(await as(alice).get(history(bob, `?limit=2&skip=1&before=${first.next_cursor}`)));
    expect(after.messages.map((m: { seq: number }) => m.seq)).toEqual([4, 3]);
  });

  it("only ever shows the caller's own conversation: a stranger sees nothing of alice and bob", async () => {
    const { alice, bob } = await pair(2);
    await send(alice, bob, "private");
    const mallory = newUser("mallory");
    const res = await as(mallory).get(history(alice));
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ messages: [], next_cursor: null, has_more: false });
  });

  it.each([
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=abc", "limit"],
    ["skip=-1", "skip"],
    ["before=not-a-cursor", "before"],
  ])("rejects ?%s with 400", async (query, field) => {
    const { alice, bob } = await pair(0);
    const res = await as(alice).get(history(bob, `?${query}`));
    expect(res.status).toBe(400);
    expect(Object.keys((await json(res)).error.details)).toContain(field);
  });

  it("rejects a conversation with yourself and a malformed partner id", async () => {
    const alice = newUser();
    expect((await as(alice).get(history(alice))).status).toBe(400);
    expect((await as(alice).get(history("bad%20id"))).status).toBe(400);
  });

  it("shows a deleted message as a tombstone in its place, content never returned", async () => {
    const { alice, bob } = await pair(2);
    const m = await send(alice, bob, "regret", {
      attachments: [{ url: "https://x.example/a.png", mime_type: "image/png", size_bytes: 3 }],
    });
    await send(alice, bob, "after");
    expect((await as(alice).del(`/api/v2/messages/${m.id}`)).status).toBe(200);
    for (const viewer of [alice, bob]) {
      const page = await json(await as(viewer).get(history(viewer === alice ? bob : alice)));
      const tomb = page.messages.find((x: { id: string }) => x.id === m.id);
      expect(tomb).toMatchObject({ seq: 1, is_deleted: true, content: null, attachments: [], metadata: {} });
      expect(tomb.deleted_at).toEqual(expect.any(String));
      expect(JSON.stringify(page)).not.toContain("regret");
    }
  });

  it("never shows blocked content to its receiver; the sender still sees it", async () => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob, "something nasty");
    await env.DB.prepare("UPDATE messages SET moderation_status = 'blocked' WHERE id = ?").bind(m.id).run();
    const bobView = await json(await as(bob).get(history(alice)));
    expect(bobView.messages[0]).toMatchObject({ id: m.id, moderation_status: "blocked", content: null });
    expect(JSON.stringify(bobView)).not.toContain("nasty");
    const aliceView = await json(await as(alice).get(history(bob)));
    expect(aliceView.messages[0]).toMatchObject({ id: m.id, content: "something nasty" });
    // Nor in the conversation list, nor as unread.
    const list = await json(await as(bob).get("/api/v2/messages/conversations"));
    expect(JSON.stringify(list)).not.toContain("nasty");
    expect((await json(await as(bob).get("/api/v2/messages/unread-count"))).unread_count).toBe(0);
  });
});

describe("GET /conversations", () => {
  it("lists partners by last activity with the last message and the caller's unread count", async () => {
    const me = newUser("me");
    const [p1, p2, p3] = [newUser("p"), newUser("p"), newUser("p")];
    await Promise.all([me, p1, p2, p3].map((u) => seedCredits(u, 5)));
    await send(p1, me, "from p1");
    await send(p2, me, "from p2 #1");
    await send(p2, me, "from p2 #2");
    await send(me, p3, "to p3");
    await send(p1, me, "p1 again");

    const res = await as(me).get("/api/v2/messages/conversations");
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.conversations.map((c: { partner_id: string }) => c.partner_id)).toEqual([p1, p3, p2]);
    expect(body.conversations[0]).toMatchObject({ partner_id: p1, unread_count: 2, last_message: { content: "p1 again", seq: 2 } });
    expect(body.conversations[1]).toMatchObject({ partner_id: p3, unread_count: 0, last_message: { content: "to p3" } });
    expect(body.conversations[2]).toMatchObject({ partner_id: p2, unread_count: 2, last_message: { content: "from p2 #2" } });
    expect(body.conversations[0].last_activity_at).toBe(body.conversations[0].last_message.created_at);
    expect(body).toMatchObject({ has_more: false, next_cursor: null });

    // The partner sees the same conversation from their side, with their own unread count.
    const p1View = await json(await as(p1).get("/api/v2/messages/conversations"));
    expect(p1View.conversations).toEqual([expect.objectContaining({ partner_id: me, unread_count: 0 })]);
  });

  it("shows the last message field for field as the history shows it (every column, JSON and flags decoded)", async () => {
    const { alice, bob } = await pair(3);
    await send(alice, bob, "older");
    await send(alice, bob, "newest", { metadata: { mood: "🙂", nested: { n: 1 } }, client_message_id: "c-last" });
    await as(bob).post("/api/v2/messages/mark-read", {
      message_ids: [(await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`))).messages[0].id],
    });
    for (const [viewer, partner] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const [newest] = (await json(await as(viewer).get(`/api/v2/messages/conversation/${partner}?limit=1`))).messages;
      const [conversation] = (await json(await as(viewer).get("/api/v2/messages/conversations"))).conversations;
      expect(conversation.last_message).toEqual(newest);
      expect(newest).toMatchObject({
        content: "newest",
        metadata: { mood: "🙂", nested: { n: 1 } },
        status: "read",
        is_deleted: false,
        seq: 2,
      });
    }
  });

  it("shows a deleted last message as a tombstone, to both sides, without its content", async () => {
    const { alice, bob } = await pair(2);
    await send(alice, bob, "first");
    const last = await send(alice, bob, "regret this", { metadata: { secret: "meta-regret" } });
    expect((await as(alice).del(`/api/v2/messages/${last.id}`)).status).toBe(200);
    for (const [viewer, partner, unread] of [
      [alice, bob, 0],
      [bob, alice, 1],
    ] as const) {
      const body = await json(await as(viewer).get("/api/v2/messages/conversations"));
      expect(body.conversations).toHaveLength(1);
      const [conversation] = body.conversations;
      expect(conversation).toMatchObject({ partner_id: partner, unread_count: unread, last_activity_at: last.created_at });
      expect(conversation.last_message).toMatchObject({
        id: last.id,
        seq: 2,
        is_deleted: true,
        deleted_at: expect.any(String),
        content: null,
        attachments: [],
        metadata: {},
      });
      expect(JSON.stringify(body)).not.toMatch(/regret this|meta-regret/);
    }
  });

  it("pages with a cursor and with skip", async () => {
    const me = newUser("me");
    await seedCredits(me, 5);
    const partners = [newUser("p"), newUser("p"), newUser("p"), newUser("p"), newUser("p")];
    for (const p of partners) await send(me, p, `to ${p}`);
    const first = await json(await as(me).get("/api/v2/messages/conversations?limit=2"));
    expect(first.conversations.map((c: { partner_id: string }) => c.partner_id)).toEqual([partners[4], partners[3]]);
    expect(first.has_more).toBe(true);
    const second = await json(await as(me).get(`/api/v2/messages/conversations?limit=2&before=${first.next_cursor}`));
    expect(second.conversations.map((c: { partner_id: string }) => c.partner_id)).toEqual([partners[2], partners[1]]);
    const third = await json(await as(me).get(`/api/v2/messages/conversations?limit=2&before=${second.next_cursor}`));
    expect(third).toMatchObject({ has_more: false, next_cursor: null });
    expect(third.conversations.map((c: { partner_id: string }) => c.partner_id)).toEqual([partners[0]]);
    const skipped = await json(await as(me).get("/api/v2/messages/conversations?skip=4"));
    expect(skipped.conversations.map((c: { partner_id: string }) => c.partner_id)).toEqual([partners[0]]);
  });

  it("is empty for a new user", async () => {
    expect(await json(await as(newUser()).get("/api/v2/messages/conversations"))).toEqual({
      conversations: [],
      next_cursor: null,
      has_more: false,
    });
  });
});
