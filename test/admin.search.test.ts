import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { as, createAdmin, json, newUser, seedCredits, send } from "./helpers";

let mod: string;
let superAdmin: string;
beforeAll(async () => {
  mod = await createAdmin("moderator");
  superAdmin = await createAdmin("super_admin");
});

const search = async (query: string) => {
  const res = await as(mod).get(`/api/admin/messages/search?${query}`);
  expect(res.status).toBe(200);
  return json(res);
};
const ids = (r: { messages: { id: string }[] }) => r.messages.map((m) => m.id);

/** A small world: alice talks to bob and carol; bob answers. Words are unique to this world. */
async function world() {
  const w = newUser("w").slice(-6);
  const [alice, bob, carol] = [newUser("alice"), newUser("bob"), newUser("carol")];
  await seedCredits(alice, 10);
  await seedCredits(bob, 10);
  const m1 = await send(alice, bob, `hello ${w}zebra from alice`);
  const m2 = await send(alice, carol, `meet ${w}zebra at noon`, {
    message_type: "image",
    attachments: [{ url: "https://x.example/i.png", mime_type: "image/png", size_bytes: 10 }],
  });
  const m3 = await send(bob, alice, `plain reply ${w}quokka`);
  const m4 = await send(alice, bob, `${w}zebra ${"long ".repeat(100)}`);
  return { w, alice, bob, carol, m1, m2, m3, m4 };
}

describe("GET /api/admin/messages/search", () => {
  it("filters by user, sender and receiver, combined", async () => {
    const { alice, bob, carol, m1, m2, m3, m4 } = await world();
    expect(ids(await search(`user_id=${bob}`))).toEqual([m4.id, m3.id, m1.id]);
    expect(ids(await search(`sender_id=${alice}`))).toEqual([m4.id, m2.id, m1.id]);
    expect(ids(await search(`receiver_id=${carol}`))).toEqual([m2.id]);
    expect(ids(await search(`sender_id=${alice}&receiver_id=${bob}`))).toEqual([m4.id, m1.id]);
  });

  it("finds words with q (full text), prefixes with word*, and ANDs words", async () => {
    const { w, alice, m1, m2, m3, m4 } = await world();
    expect(ids(await search(`q=${w}zebra`))).toEqual([m4.id, m2.id, m1.id]);
    expect(ids(await search(`q=${w}quo*`))).toEqual([m3.id]);
    expect(ids(await search(`q=${encodeURIComponent(`${w}zebra noon`)}`))).toEqual([m2.id]);
    expect(ids(await search(`q=${w}zebra&sender_id=${alice}&message_type=image`))).toEqual([m2.id]);
    expect((await search(`q=${w}nothing`)).total).toBe(0);
  });

  it("treats FTS syntax in q as plain words: the message with those words is found (and no 500 for odd input)", async () => {
    const sender = newUser("fts");
    await seedCredits(sender, 10);
    const cases = ['"unbalanced AND (', "a-b", "x:y", "AND", "NEAR(", "OR NOT"];
    const sent = new Map<string, string>();
    for (const q of cases) sent.set(q, (await send(sender, newUser("r"), `note ${q} end`)).id);
    const other = await send(sender, newUser("r"), "note without any of it");
    for (const q of cases) {
      const res = await as(mod).get(`/api/admin/messages/search?sender_id=${sender}&q=${encodeURIComponent(q)}`);
      expect(res.status, q).toBe(200);
      const found = ids(await json(res));
      expect(found, q).toContain(sent.get(q));
      expect(found, q).not.toContain(other.id);
    }
    // A lone `*` or quote has no word in it: nothing to match, and still no error.
    for (const q of ["*", '"']) {
      const res = await as(mod).get(`/api/admin/messages/search?sender_id=${sender}&q=${encodeURIComponent(q)}`);
      expect(res.status, q).toBe(200);
      expect((await json(res)).total, q).toBe(0);
    }
    const blank = await as(mod).get("/api/admin/messages/search?q=%20%20");
    expect(blank.status).toBe(400);
  });

  it("filters by status, moderation status, type and time range", async () => {
    const { alice, bob, m1, m3, m4 } = await world();
    await as(bob).post("/api/v2/messages/mark-read", { message_ids: [m1.id] });
    await as(mod).post(`/api/admin/messages/${m4.id}/moderate`, { moderation_status: "flagged", reason: "spam?" });
    expect(ids(await search(`user_id=${alice}&status=read`))).toEqual([m1.id]);
    expect(ids(await search(`user_id=${alice}&moderation_status=flagged`))).toEqual([m4.id]);
    expect(ids(await search(`user_id=${alice}&message_type=text&receiver_id=${alice}`))).toEqual([m3.id]);
    const all = await search(`user_id=${alice}`);
    const newest = all.messages[0].created_at;
    expect(ids(await search(`user_id=${alice}&from=${encodeURIComponent(newest)}`))).toEqual([m4.id]);
    expect((await search(`user_id=${alice}&to=2000-01-01`)).total).toBe(0);
    expect((await search(`user_id=${alice}&from=2000-01-01&to=2999-12-31`)).total).toBe(4);
  });

  it("hides deleted messages unless include_deleted=true", async () => {
    const { alice, m1 } = await world();
    await as(alice).del(`/api/v2/messages/${m1.id}`);
    expect(ids(await search(`user_id=${alice}`))).not.toContain(m1.id);
    const withDeleted = await search(`user_id=${alice}&include_deleted=true`);
    const tomb = withDeleted.messages.find((m: { id: string }) => m.id === m1.id);
    expect(tomb).toMatchObject({ is_deleted: true, content: expect.stringContaining("hello") });
  });

  it("q finds a message its sender soft-deleted through the user API only with include_deleted=true", async () => {
    const { w, alice, m1, m2, m4 } = await world();
    const del = await as(alice).del(`/api/v2/messages/${m1.id}`);
    expect(del.status).toBe(200);
    const visible = await search(`q=${w}zebra`);
    expect(ids(visible)).toEqual([m4.id, m2.id]);
    expect(visible.total).toBe(2);
    expect(ids(await search(`q=${w}zebra&include_deleted=false`))).toEqual([m4.id, m2.id]);
    expect(ids(await search(`q=${encodeURIComponent(`${w}zebra hello`)}`))).toEqual([]);
    const withDeleted = await search(`q=${w}zebra&include_deleted=true`);
    expect(ids(withDeleted)).toEqual([m4.id, m2.id, m1.id]);
    expect(withDeleted.total).toBe(3);
    expect(withDeleted.messages[2]).toMatchObject({ id: m1.id, is_deleted: true, content: `hello ${w}zebra from alice` });
    expect(ids(await search(`q=${encodeURIComponent(`${w}zebra hello`)}&include_deleted=true`))).toEqual([m1.id]);
  });

  it("applies every filter at once: only the message matching all of them, among decoys that each miss one", async () => {
    const w = newUser("w").slice(-6);
    const [alice, bob, carol] = [newUser("alice"), newUser("bob"), newUser("carol")];
    for (const u of [alice, bob, carol]) await seedCredits(u, 20);
    const image = { message_type: "image", attachments: [{ url: "https://x.example/k.png", mime_type: "image/png", size_bytes: 10 }] };
    /** A message shaped like the target, with exactly one thing changed by `differ`. */
    const make = async (
      differ: Partial<{ from: string; to: string; word: string; text: boolean; unread: boolean; pending: boolean; at: string }>,
    ) => {
      const from = differ.from ?? alice;
      const to = differ.to ?? bob;
      const m = await send(from, to, `look ${differ.word ?? `${w}kiwi`} here`, differ.text ? {} : image);
      if (!differ.unread) expect((await as(to).post("/api/v2/messages/mark-read", { message_ids: [m.id] })).status).toBe(200);
      if (!differ.pending)
        expect((await as(mod).post(`/api/admin/messages/${m.id}/moderate`, { moderation_status: "flagged", reason: "x" })).status).toBe(
          200,
        );
      expect((await as(from).del(`/api/v2/messages/${m.id}`)).status).toBe(200);
      await env.DB.prepare("UPDATE messages SET created_at = ? WHERE id = ?")
        .bind(differ.at ?? "2021-05-10T12:00:00.000Z", m.id)
        .run();
      return m.id as string;
    };
    const target = await make({});
    const decoys = {
      sender: await make({ from: carol }),
      receiver: await make({ to: carol }),
      words: await make({ word: `${w}plum` }),
      type: await make({ text: true }),
      status: await make({ unread: true }),
      moderation: await make({ pending: true }),
      before: await make({ at: "2021-05-09T23:59:59.999Z" }),
      after: await make({ at: "2021-05-11T00:00:00.000Z" }),
    };
    const filters = {
      user_id: bob,
      sender_id: alice,
      receiver_id: bob,
      q: `${w}kiwi`,
      moderation_status: "flagged",
      message_type: "image",
      status: "read",
      from: "2021-05-10",
      to: "2021-05-10",
      include_deleted: "true",
    };
    const query = (f: Record<string, string>) => new URLSearchParams(f).toString();
    const all = await search(query(filters));
    expect(ids(all)).toEqual([target]);
    expect(all.total).toBe(1);
    expect(all.messages[0]).toMatchObject({
      sender_id: alice,
      receiver_id: bob,
      message_type: "image",
      status: "read",
      moderation_status: "flagged",
      is_deleted: true,
      created_at: "2021-05-10T12:00:00.000Z",
    });
    // Each decoy is found once the one filter it misses is relaxed, so each filter is what kept it out.
    const relaxed: [keyof typeof decoys, Partial<typeof filters>][] = [
      ["sender", { sender_id: undefined }],
      ["receiver", { receiver_id: undefined, user_id: alice }],
      ["words", { q: undefined }],
      ["type", { message_type: undefined }],
      ["status", { status: undefined }],
      ["moderation", { moderation_status: undefined }],
      ["before", { from: "2021-05-09" }],
      ["after", { to: "2021-05-11" }],
    ];
    for (const [decoy, change] of relaxed) {
      const f = Object.fromEntries(Object.entries({ ...filters, ...change }).filter(([, v]) => v !== undefined)) as Record<string, string>;
      expect(ids(await search(query(f))).sort(), decoy).toEqual([target, decoys[decoy]].sort());
    }
    // All of them deleted: without include_deleted, nothing.
    expect((await search(query({ ...filters, include_deleted: "false" }))).total).toBe(0);
  });

  it("pages with page and limit, reports total, and cuts content to 200 characters", async () => {
    const { alice, m4 } = await world();
    const p1 = await search(`user_id=${alice}&limit=3&page=1`);
    const p2 = await search(`user_id=${alice}&limit=3&page=2`);
    expect(p1).toMatchObject({ total: 4, page: 1, limit: 3 });
    expect(p1.messages).toHaveLength(3);
    expect(p2.messages).toHaveLength(1);
    expect(new Set([...ids(p1), ...ids(p2)]).size).toBe(4);
    const long = p1.messages.find((m: { id: string }) => m.id === m4.id);
    expect([...long.content]).toHaveLength(200);
    expect(long.content_truncated).toBe(true);
    expect(p1.messages.find((m: { id: string }) => m.id !== m4.id).content_truncated).toBe(false);
    expect(long).toMatchObject({ conversation_id: expect.any(String), moderation_reason: null });
  });

  it.each([
    ["status=unknown", "status"],
    ["moderation_status=maybe", "moderation_status"],
    ["message_type=gif", "message_type"],
    ["from=yesterday", "from"],
    ["from=2026-02-01&to=2026-01-01", "from"],
    ["page=0", "page"],
    ["limit=1000", "limit"],
    ["include_deleted=perhaps", "include_deleted"],
    ["user_id=a%20b", "user_id"],
  ])("rejects %s with 400", async (query, field) => {
    const res = await as(mod).get(`/api/admin/messages/search?${query}`);
    expect(res.status).toBe(400);
    expect(Object.keys((await json(res)).error.details)).toContain(field);
  });
});

describe("FTS stays in step", () => {
  it("after moderation (still searchable, filterable by state) and hard delete (gone from the index)", async () => {
    const { w, m1, m2, m4 } = await world();
    await as(mod).post(`/api/admin/messages/${m2.id}/moderate`, { moderation_status: "blocked", reason: "abuse" });
    expect(ids(await search(`q=${w}zebra&moderation_status=blocked`))).toEqual([m2.id]);
    expect(ids(await search(`q=${w}zebra`))).toEqual([m4.id, m2.id, m1.id]);

    const del = await as(superAdmin).del(`/api/admin/messages/${m2.id}/hard-delete`);
    expect(del.status).toBe(200);
    expect(ids(await search(`q=${w}zebra&include_deleted=true`))).toEqual([m4.id, m1.id]);
    const fts = await env.DB.prepare("SELECT COUNT(*) AS n FROM messages_fts WHERE messages_fts MATCH ?")
      .bind(`"${w}zebra"`)
      .first<{ n: number }>();
    expect(fts?.n).toBe(2);
    await env.DB.prepare("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')").run();
  });
});

describe("GET /api/admin/messages/conversation/{user1}/{user2}", () => {
  it("shows the whole conversation, deleted and blocked included, paged, in either order of users", async () => {
    const { alice, bob, m1, m3, m4 } = await world();
    await as(alice).del(`/api/v2/messages/${m1.id}`);
    await as(mod).post(`/api/admin/messages/${m3.id}/moderate`, { moderation_status: "blocked", reason: "rude" });
    const res = await as(mod).get(`/api/admin/messages/conversation/${alice}/${bob}?limit=2`);
    expect(res.status).toBe(200);
    const page1 = await json(res);
    expect(page1).toMatchObject({ user1_id: alice, user2_id: bob, has_more: true });
    expect(ids(page1)).toEqual([m4.id, m3.id]);
    expect(page1.messages[1]).toMatchObject({
      moderation_status: "blocked",
      moderation_reason: "rude",
      content: expect.stringContaining("plain reply"),
    });
    const page2 = await json(await as(mod).get(`/api/admin/messages/conversation/${bob}/${alice}?limit=2&before=${page1.next_cursor}`));
    expect(ids(page2)).toEqual([m1.id]);
    expect(page2.messages[0]).toMatchObject({ is_deleted: true, content: expect.stringContaining("hello") });
    expect(page2.has_more).toBe(false);
  });

  it("rejects the same user twice", async () => {
    const u = newUser();
    expect((await as(mod).get(`/api/admin/messages/conversation/${u}/${u}`)).status).toBe(400);
  });
});
