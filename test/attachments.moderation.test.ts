import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import {
  accessQuery,
  claimAttachmentStatements,
  deletingQuery,
  markDeletingOfMessages,
  staleUploadsQuery,
  uploadsOf,
} from "../src/db/attachments";
import { dbOf } from "../src/db/client";
import worker from "../src/index";
import { deleteAttachmentBytes } from "../src/services/attachments";
import { announce, attachmentRow, download, keysOf, putBytes, uploaded } from "./attachments";
import { as, auditRowsOf, count, createAdmin, db, json, newUser, pair, planOf } from "./helpers";
import { pdf, png } from "./media";
import { openSocket } from "./sockets";

const SEND = "/api/v2/messages/send";
const HOUR = 3600_000;

let mod: string;
let support: string;
let analyst: string;
let superAdmin: string;
beforeAll(async () => {
  [mod, support, analyst, superAdmin] = await Promise.all([
    createAdmin("moderator"),
    createAdmin("support"),
    createAdmin("analyst"),
    createAdmin("super_admin"),
  ]);
});

async function sentWith(bytes = png(60, 40), type = "image/png", messageType = "image") {
  const { alice, bob } = await pair(5);
  const id = await uploaded(alice, type, bytes, "x.png");
  const res = await as(alice).post(SEND, {
    receiver_id: bob,
    content: "see attached",
    message_type: messageType,
    attachments: [{ attachment_id: id }],
  });
  expect(res.status).toBe(201);
  return { alice, bob, id, message: await json(res), bytes };
}

describe("moderators see attachments", () => {
  it("admin search and the conversation view list the attachment, its url pointing at the admin route", async () => {
    const { alice, bob, id, message } = await sentWith();
    const expected = {
      attachment_id: id,
      url: `/api/admin/attachments/${id}`,
      mime_type: "image/png",
      size_bytes: 256,
      name: "x.png",
      width: 60,
      height: 40,
    };
    const search = await json(await as(mod).get(`/api/admin/messages/search?sender_id=${alice}`));
    expect(search.messages.map((m: { id: string }) => m.id)).toEqual([message.id]);
    expect(search.messages[0].attachments).toEqual([expected]);
    const conversation = await json(await as(support).get(`/api/admin/messages/conversation/${alice}/${bob}`));
    expect(conversation.messages[0].attachments).toEqual([expected]);
    // Users keep their own url.
    expect(message.attachments[0].url).toBe(`/api/v2/attachments/${id}`);
  });

  it("GET /api/admin/attachments/{id} serves the bytes to moderation.view (Range too), audited; 403 without the permission", async () => {
    const { id, bytes } = await sentWith();
    for (const who of [mod, support]) {
      const res = await as(who).get(`/api/admin/attachments/${id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/png");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
      expect(await auditRowsOf(res)).toEqual([
        expect.objectContaining({
          admin_id: who,
          action: "attachments.view",
          target_type: "attachment",
          target_id: id,
          outcome: "success",
        }),
      ]);
    }
    const ranged = await (await import("cloudflare:workers")).exports.default.fetch(`http://pairly.test/api/admin/attachments/${id}`, {
      headers: { authorization: `Bearer ${await (await import("./helpers")).tokenFor(mod)}`, range: "bytes=0-7" },
    });
    expect(ranged.status).toBe(206);
    const denied = await as(analyst).get(`/api/admin/attachments/${id}`);
    expect(denied.status).toBe(403);
    expect(await auditRowsOf(denied)).toEqual([expect.objectContaining({ action: "attachments.view", outcome: "denied", target_id: id })]);
    const user = await as(newUser()).get(`/api/admin/attachments/${id}`);
    expect(user.status).toBe(403);
  });

  it("moderators still see a blocked or deleted message's attachment, but never an unsent upload", async () => {
    const { alice, id, message } = await sentWith();
    await as(mod).post(`/api/admin/messages/${message.id}/moderate`, { moderation_status: "blocked", reason: "nudity" });
    expect((await as(mod).get(`/api/admin/attachments/${id}`)).status).toBe(200);
    await as(alice).del(`/api/v2/messages/${message.id}`);
    expect((await as(mod).get(`/api/admin/attachments/${id}`)).status).toBe(200);
    const draft = await uploaded(alice, "image/png", png(2, 2));
    expect((await as(mod).get(`/api/admin/attachments/${draft}`)).status).toBe(404);
  });

  it("blocking hides the attachment from the receiver at once: the live event drops it, and the bytes answer 404", async () => {
    const { alice, bob, id, message } = await sentWith();
    const socket = await openSocket(bob, { partner: alice });
    expect((await download(bob, `/api/v2/attachments/${id}`)).status).toBe(200);
    await as(mod).post(`/api/admin/messages/${message.id}/moderate`, { moderation_status: "blocked", reason: "scam" });
    const event = await socket.nextOf("message.moderated");
    expect(event.message).toMatchObject({ id: message.id, content: null, attachments: [] });
    expect((await download(bob, `/api/v2/attachments/${id}`)).status).toBe(404);
    socket.close();
  });
});

describe("hard delete removes the bytes", () => {
  it("the message's attachments leave the bucket and the table; other attachments stay", async () => {
    const { alice, bob } = await pair(5);
    const [a, b] = [await uploaded(alice, "image/png", png(3, 3)), await uploaded(alice, "application/pdf", pdf())];
    const keep = await sentWith();
    const m = await json(
      await as(alice).post(SEND, { receiver_id: bob, content: "two", message_type: "image", attachments: [{ attachment_id: a }] }),
    );
    const m2 = await json(
      await as(alice).post(SEND, { receiver_id: bob, content: "doc", message_type: "file", attachments: [{ attachment_id: b }] }),
    );
    expect(await keysOf(a)).toHaveLength(1);
    const res = await as(superAdmin).del(`/api/admin/messages/${m.id}/hard-delete`);
    expect(res.status).toBe(200);
    expect(await keysOf(a)).toEqual([]);
    expect(await attachmentRow(a)).toBeNull();
    expect((await download(alice, `/api/v2/attachments/${a}`)).status).toBe(404);
    expect((await as(mod).get(`/api/admin/attachments/${a}`)).status).toBe(404);
    // Untouched: the other message's file and another conversation's photo.
    expect(await keysOf(b)).toHaveLength(1);
    expect(await attachmentRow(b)).toMatchObject({ state: "sent", message_id: m2.id });
    expect(await keysOf(keep.id)).toHaveLength(1);
    expect((await download(keep.bob, `/api/v2/attachments/${keep.id}`)).status).toBe(200);
  });

  it("when R2 fails part-way, the rows are out of service at once and the scheduled purge finishes the job", async () => {
    const { id, message, alice } = await sentWith();
    await env.DB.prepare("DELETE FROM messages WHERE id = ?").bind(message.id).run(); // as the hard delete's batch does
    const failingBucket = new Proxy(env.ATTACHMENTS, {
      get: (target, prop) =>
        prop === "delete" ? () => Promise.reject(new Error("R2 unavailable")) : Reflect.get(target, prop, target).bind(target),
    });
    const err = await deleteAttachmentBytes(db, { ...env, ATTACHMENTS: failingBucket }, [{ id: message.id }]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await attachmentRow(id)).toMatchObject({ state: "deleting" });
    expect((await download(alice, `/api/v2/attachments/${id}`)).status).toBe(404);
    expect(await keysOf(id)).toHaveLength(1);
    await runCron(Date.now());
    expect(await keysOf(id)).toEqual([]);
    expect(await attachmentRow(id)).toBeNull();
  });

  it("a hard delete of a message without attachments touches no attachment", async () => {
    const { alice, bob } = await pair(2);
    const draft = await uploaded(alice, "image/png", png(2, 2));
    const m = await json(await as(alice).post(SEND, { receiver_id: bob, content: "plain" }));
    expect((await as(superAdmin).del(`/api/admin/messages/${m.id}/hard-delete`)).status).toBe(200);
    expect(await attachmentRow(draft)).toMatchObject({ state: "uploaded" });
    expect(await keysOf(draft)).toHaveLength(1);
  });
});

async function runCron(at: number) {
  const controller = createScheduledController({ scheduledTime: new Date(at), cron: "17 * * * *" });
  await worker.scheduled(controller, env, createExecutionContext());
}

async function ageBy(id: string, ms: number) {
  await env.DB.prepare("UPDATE attachments SET created_at = ? WHERE id = ?")
    .bind(new Date(Date.now() - ms).toISOString(), id)
    .run();
}

describe("the scheduled job removes uploads never sent within 24 hours", () => {
  it("removes unsent uploads older than 24 h (rows and bytes), keeps younger ones and every sent one", async () => {
    const user = newUser();
    const [old, young] = [await uploaded(user, "image/png", png(2, 2)), await uploaded(user, "image/png", png(3, 3))];
    const oldEmpty = (await json(await announce(user, "image/png", 10))).attachment_id as string;
    const sent = await sentWith();
    await Promise.all([ageBy(old, 24 * HOUR + 60_000), ageBy(oldEmpty, 25 * HOUR), ageBy(young, 23 * HOUR), ageBy(sent.id, 48 * HOUR)]);
    await runCron(Date.now());
    expect(await attachmentRow(old)).toBeNull();
    expect(await keysOf(old)).toEqual([]);
    expect(await attachmentRow(oldEmpty)).toBeNull();
    expect(await attachmentRow(young)).toMatchObject({ state: "uploaded" });
    expect(await keysOf(young)).toHaveLength(1);
    expect(await attachmentRow(sent.id)).toMatchObject({ state: "sent" });
    expect(await keysOf(sent.id)).toHaveLength(1);
    expect((await download(sent.bob, `/api/v2/attachments/${sent.id}`)).status).toBe(200);
    // Running again changes nothing.
    await runCron(Date.now());
    expect(await attachmentRow(young)).toMatchObject({ state: "uploaded" });
  });

  it("a send after the purge finds the upload gone (400); a PUT to a purged upload_url is 404", async () => {
    const { alice, bob } = await pair(3);
    const id = await uploaded(alice, "image/png", png(2, 2));
    const created = await json(await announce(alice, "image/png", 256));
    await Promise.all([ageBy(id, 25 * HOUR), ageBy(created.attachment_id, 25 * HOUR)]);
    await runCron(Date.now());
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "late",
      message_type: "image",
      attachments: [{ attachment_id: id }],
    });
    expect(res.status).toBe(400);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(0);
    expect((await putBytes(alice, created.upload_url, png(1, 1), "image/png")).status).toBe(404);
  });

  it("also removes any object a failed upload attempt left under the attachment's prefix", async () => {
    const user = newUser();
    const id = await uploaded(user, "image/png", png(2, 2));
    await env.ATTACHMENTS.put(`attachments/${id}/leftover-attempt`, "partial");
    expect(await keysOf(id)).toHaveLength(2);
    await ageBy(id, 25 * HOUR);
    await runCron(Date.now());
    expect(await keysOf(id)).toEqual([]);
  });
});

describe("attachment queries use indexes (EXPLAIN QUERY PLAN)", () => {
  const d = dbOf(env.DB);
  it("serving: the attachment by primary key, its message by the id index", async () => {
    const plan = (await planOf(accessQuery(d, "att_x"))).join("\n");
    expect(plan).toMatch(/SEARCH attachments USING INDEX sqlite_autoindex_attachments_1 \(id=\?\)/);
    expect(plan).toMatch(/SEARCH messages USING INDEX messages_id_unique \(id=\?\)/);
  });

  it("send: the sender's uploads and the claim inside the batch, by primary key", async () => {
    expect((await planOf(uploadsOf(d, "u", ["att_a", "att_b"]))).join("\n")).toMatch(
      /SEARCH attachments USING INDEX sqlite_autoindex_attachments_1 \(id=\?\)/,
    );
    const [claim] = claimAttachmentStatements(d, { ids: ["att_a", "att_b"], uploaderId: "u", sentAt: "2026-11-01T00:00:00.000Z" }, "msg_x");
    expect((await planOf(claim)).join("\n")).toMatch(/SEARCH attachments USING INDEX sqlite_autoindex_attachments_1 \(id=\?\)/);
  });

  it("purge: unsent uploads by (state, created_at), leftovers by state, a message's attachments by message_id", async () => {
    expect((await planOf(staleUploadsQuery(d, "2026-11-01T00:00:00.000Z", 50))).join("\n")).toMatch(
      /SEARCH attachments USING (COVERING )?INDEX attachments_state_created_idx \(state=\? AND created_at<\?\)/,
    );
    expect((await planOf(deletingQuery(d, 50))).join("\n")).toMatch(
      /SEARCH attachments USING (COVERING )?INDEX attachments_state_created_idx \(state=\?\)/,
    );
    expect((await planOf(markDeletingOfMessages(d, ["m1", "m2"]))).join("\n")).toMatch(
      /SEARCH attachments USING (COVERING )?INDEX attachments_message_idx \(message_id=\?\)/,
    );
  });
});
