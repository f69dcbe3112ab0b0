import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { announce, attachmentRow, uploaded } from "./attachments";
import { as, balanceOf, count, json, newUser, pair } from "./helpers";
import { jpeg, mp4, ogg, pdf, png } from "./media";

const SEND = "/api/v2/messages/send";

/** What a refused send must leave untouched: the sender's balance and ledger, the pair's messages, the attachments' rows. */
async function stateOf(sender: string, receiver: string, attachmentIds: string[]) {
  return {
    balance: await balanceOf(sender),
    ledger: await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", sender),
    messages: await count("SELECT 1 FROM messages WHERE sender_id IN (?, ?) AND receiver_id IN (?, ?)", sender, receiver, sender, receiver),
    attachments: await Promise.all(attachmentIds.map(attachmentRow)),
    guard: await count("SELECT 1 FROM attachment_claim_guard"),
  };
}

describe("sending uploads", () => {
  it("a photo: the message carries id, url, type, size, name and dimensions; the upload is claimed; one credit charged", async () => {
    const { alice, bob } = await pair(3);
    const bytes = jpeg(1200, 800);
    const id = await uploaded(alice, "image/jpeg", bytes, "sunset.jpg");
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "look",
      message_type: "image",
      attachments: [{ attachment_id: id }],
    });
    expect(res.status).toBe(201);
    const m = await json(res);
    expect(m.attachments).toEqual([
      {
        attachment_id: id,
        url: `/api/v2/attachments/${id}`,
        mime_type: "image/jpeg",
        size_bytes: bytes.length,
        name: "sunset.jpg",
        width: 1200,
        height: 800,
      },
    ]);
    expect(await attachmentRow(id)).toMatchObject({ state: "sent", message_id: m.id, sent_at: m.created_at });
    expect(await balanceOf(alice)).toBe(2);
    // The receiver sees the same attachment in history.
    const history = await json(await as(bob).get(`/api/v2/messages/conversation/${alice}`));
    expect(history.messages[0].attachments).toEqual(m.attachments);
  });

  it("a voice note, a video and a PDF, each of its own kind (no dimensions for them)", async () => {
    const { alice, bob } = await pair(5);
    for (const [type, bytes, messageType] of [
      ["audio/ogg", ogg(), "audio"],
      ["video/mp4", mp4(), "video"],
      ["application/pdf", pdf(), "file"],
    ] as const) {
      const id = await uploaded(alice, type, bytes);
      const res = await as(alice).post(SEND, {
        receiver_id: bob,
        content: type,
        message_type: messageType,
        attachments: [{ attachment_id: id }],
      });
      expect(res.status).toBe(201);
      const [a] = (await json(res)).attachments;
      expect(a).toEqual({
        attachment_id: id,
        url: `/api/v2/attachments/${id}`,
        mime_type: type,
        size_bytes: bytes.length,
        name: expect.stringMatching(/^att_/),
      });
    }
  });

  it("several photos in one message, and a link (the earlier form) beside them, in the order given", async () => {
    const { alice, bob } = await pair(2);
    const [a, b] = [await uploaded(alice, "image/png", png(10, 20)), await uploaded(alice, "image/jpeg", jpeg(30, 40))];
    const link = { url: "https://cdn.example/x.png", mime_type: "image/png", size_bytes: 9 };
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "three",
      message_type: "image",
      attachments: [{ attachment_id: b }, link, { attachment_id: a }],
    });
    expect(res.status).toBe(201);
    const m = await json(res);
    expect(m.attachments.map((x: { attachment_id?: string; url: string }) => x.attachment_id ?? x.url)).toEqual([b, link.url, a]);
    expect(m.attachments[0]).toMatchObject({ width: 30, height: 40 });
  });

  it("the earlier link form alone is still stored as given", async () => {
    const { alice, bob } = await pair(1);
    const link = { url: "https://cdn.example/doc.pdf", mime_type: "application/pdf", size_bytes: 99, name: "doc.pdf" };
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "doc", message_type: "file", attachments: [link] });
    expect(res.status).toBe(201);
    expect((await json(res)).attachments).toEqual([link]);
  });

  it.each([
    ["a photo as a text message", "image/png", png(5, 5), "text", "image"],
    ["a photo as a video", "image/png", png(5, 5), "video", "image"],
    ["a voice note as a file", "audio/ogg", ogg(), "file", "audio"],
    ["a PDF as an image", "application/pdf", pdf(), "image", "file"],
  ])("refuses %s with 400; nothing written, nothing charged, the upload still unsent", async (_name, type, bytes, messageType, kind) => {
    const { alice, bob } = await pair(3);
    const id = await uploaded(alice, type, bytes);
    const before = await stateOf(alice, bob, [id]);
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "x",
      message_type: messageType,
      attachments: [{ attachment_id: id }],
    });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({
      error: { code: "validation_failed", message: expect.any(String), details: { message_type: [expect.stringContaining(`"${kind}"`)] } },
    });
    expect(await stateOf(alice, bob, [id])).toEqual(before);
  });

  it.each([
    [
      "someone else's upload",
      async (_alice: string, other: string) => uploaded(other, "image/png", png(5, 5)),
      "not an attachment you uploaded",
    ],
    ["an id never issued", async () => `att_${"a".repeat(32)}`, "not an attachment you uploaded"],
    [
      "an upload without its bytes",
      async (alice: string) => (await json(await announce(alice, "image/png", 100))).attachment_id as string,
      "has no bytes yet",
    ],
  ])("refuses %s with 400; nothing written, nothing charged", async (_name, make, message) => {
    const { alice, bob } = await pair(3);
    const id = await make(alice, newUser("other"));
    const before = await stateOf(alice, bob, [id]);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "x", message_type: "image", attachments: [{ attachment_id: id }] });
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toEqual({ "attachments.0.attachment_id": [expect.stringContaining(message)] });
    expect(await stateOf(alice, bob, [id])).toEqual(before);
  });

  it("refuses the same upload twice in one message with 400", async () => {
    const { alice, bob } = await pair(3);
    const id = await uploaded(alice, "image/png", png(5, 5));
    const before = await stateOf(alice, bob, [id]);
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "x",
      message_type: "image",
      attachments: [{ attachment_id: id }, { attachment_id: id }],
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toEqual({ "attachments.1.attachment_id": ["is listed twice"] });
    expect(await stateOf(alice, bob, [id])).toEqual(before);
  });

  it.each([
    ["a malformed id", { attachment_id: "x" }, "attachments.0.attachment_id"],
    ["an id with other fields", { attachment_id: `att_${"b".repeat(32)}`, url: "https://x.example/a" }, "attachments.0.url"],
    ["a link missing its size (told which field)", { url: "https://x.example/a", mime_type: "image/png" }, "attachments.0.size_bytes"],
    ["a number", 5, "attachments.0"],
  ])("refuses %s with 400 naming the field", async (_name, item, field) => {
    const { alice, bob } = await pair(1);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "x", message_type: "image", attachments: [item] });
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toHaveProperty([field]);
    expect(await balanceOf(alice)).toBe(1);
  });

  it("refuses 11 attachments with 400, uploads and links alike", async () => {
    const { alice, bob } = await pair(2);
    const ids = await Promise.all(Array.from({ length: 11 }, () => uploaded(alice, "image/png", png(2, 2))));
    const before = await stateOf(alice, bob, ids);
    const res = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "x",
      message_type: "image",
      attachments: ids.map((attachment_id) => ({ attachment_id })),
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toEqual({ attachments: ["at most 10 attachments"] });
    expect(await stateOf(alice, bob, ids)).toEqual(before);
    // Ten is fine.
    const ten = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "x",
      message_type: "image",
      attachments: ids.slice(0, 10).map((attachment_id) => ({ attachment_id })),
    });
    expect(ten.status).toBe(201);
  });

  it("an upload is sent once: a second message with it answers 409, writes nothing, charges nothing", async () => {
    const { alice, bob } = await pair(3);
    const id = await uploaded(alice, "image/png", png(5, 5));
    const first = await as(alice).post(SEND, {
      receiver_id: bob,
      content: "1",
      message_type: "image",
      attachments: [{ attachment_id: id }],
    });
    expect(first.status).toBe(201);
    const before = await stateOf(alice, bob, [id]);
    const carol = newUser("carol");
    for (const to of [bob, carol]) {
      const again = await as(alice).post(SEND, {
        receiver_id: to,
        content: "2",
        message_type: "image",
        attachments: [{ attachment_id: id }],
      });
      expect(again.status).toBe(409);
      expect(await json(again)).toMatchObject({ error: { code: "conflict", details: { attachments: [expect.any(String)] } } });
    }
    expect(await stateOf(alice, bob, [id])).toEqual(before);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ? AND receiver_id = ?", alice, carol)).toBe(0);
    expect(
      await env.DB.prepare("SELECT last_seq FROM conversations WHERE id = ?").bind([alice, bob].sort().join(":")).first("last_seq"),
    ).toBe(1);
  });

  it("a retry with the same client_message_id returns the original (200), charged once, not a 409", async () => {
    const { alice, bob } = await pair(3);
    const id = await uploaded(alice, "image/png", png(5, 5));
    const body = {
      receiver_id: bob,
      content: "once",
      message_type: "image",
      attachments: [{ attachment_id: id }],
      client_message_id: "photo-1",
    };
    const first = await as(alice).post(SEND, body);
    expect(first.status).toBe(201);
    const retry = await as(alice).post(SEND, body);
    expect(retry.status).toBe(200);
    expect(await json(retry)).toEqual(await json(first));
    expect(await balanceOf(alice)).toBe(2);
  });

  it("eight sends racing with one upload: exactly one message and one charge; the others 409 with nothing written", async () => {
    const { alice, bob } = await pair(10);
    const id = await uploaded(alice, "image/png", png(5, 5));
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        as(alice).post(SEND, { receiver_id: bob, content: `race ${i}`, message_type: "image", attachments: [{ attachment_id: id }] }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    expect(await balanceOf(alice)).toBe(9);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ? AND kind = 'message'", alice)).toBe(1);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(1);
    const winner = await json(results.find((r) => r.status === 201) as Response);
    expect(await attachmentRow(id)).toMatchObject({ state: "sent", message_id: winner.id });
    expect(await count("SELECT 1 FROM attachment_claim_guard")).toBe(0);
  });

  it("a short balance still answers 402 with the upload left unsent for later", async () => {
    const { alice, bob } = await pair(0);
    const id = await uploaded(alice, "image/png", png(5, 5));
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "x", message_type: "image", attachments: [{ attachment_id: id }] });
    expect(res.status).toBe(402);
    expect(await attachmentRow(id)).toMatchObject({ state: "uploaded", message_id: null });
  });
});
