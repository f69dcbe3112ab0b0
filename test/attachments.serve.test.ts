import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signTicket } from "../src/lib/attachment-ticket";
import { download, uploaded } from "./attachments";
import { as, json, newUser, pair } from "./helpers";
import { mp4, pdf, png, sha256 } from "./media";

const SEND = "/api/v2/messages/send";

async function sentPhoto(name = "p.png") {
  const { alice, bob } = await pair(5);
  const bytes = png(40, 30, 5000);
  const id = await uploaded(alice, "image/png", bytes, name);
  const res = await as(alice).post(SEND, { receiver_id: bob, content: "pic", message_type: "image", attachments: [{ attachment_id: id }] });
  expect(res.status).toBe(201);
  const message = await json(res);
  return { alice, bob, id, bytes, message, path: `/api/v2/attachments/${id}` };
}

async function ticketFor(user: string, id: string) {
  const res = await as(user).post(`/api/v2/attachments/${id}/ticket`);
  return { res, body: res.status === 200 ? await json(res) : null };
}

const notFoundBody = { error: { code: "not_found", message: expect.any(String) } };

describe("GET /api/v2/attachments/{id}", () => {
  it("serves the bytes to the uploader and the receiver, with the stored type and safe headers", async () => {
    const { alice, bob, bytes, path } = await sentPhoto("Strand & Meer ü.png");
    for (const user of [alice, bob]) {
      const res = await download(user, path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/png");
      expect(res.headers.get("content-length")).toBe(String(bytes.length));
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("cache-control")).toBe("private");
      expect(res.headers.get("accept-ranges")).toBe("bytes");
      expect(res.headers.get("content-disposition")).toBe(
        `inline; filename="Strand & Meer _.png"; filename*=UTF-8''Strand%20%26%20Meer%20%C3%BC.png`,
      );
      expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
      expect(res.headers.get("etag")).toMatch(/^".+"$/);
      expect(await sha256(await res.arrayBuffer())).toBe(await sha256(bytes));
    }
  });

  it("a PDF is a download (Content-Disposition: attachment with its name)", async () => {
    const { alice, bob } = await pair(2);
    const id = await uploaded(alice, "application/pdf", pdf(), "terms.pdf");
    await as(alice).post(SEND, { receiver_id: bob, content: "doc", message_type: "file", attachments: [{ attachment_id: id }] });
    const res = await download(bob, `/api/v2/attachments/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="terms.pdf"; filename*=UTF-8''terms.pdf`);
  });

  it("before it is sent, only the uploader can fetch it; the partner-to-be gets 404", async () => {
    const { alice, bob } = await pair(1);
    const id = await uploaded(alice, "image/png", png(3, 3));
    expect((await download(alice, `/api/v2/attachments/${id}`)).status).toBe(200);
    const res = await download(bob, `/api/v2/attachments/${id}`);
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual(notFoundBody);
  });

  it("anyone outside the conversation gets 404, exactly like an id that does not exist", async () => {
    const { path } = await sentPhoto();
    const stranger = newUser("stranger");
    const [theirs, none] = [await download(stranger, path), await download(stranger, `/api/v2/attachments/att_${"c".repeat(32)}`)];
    expect([theirs.status, none.status]).toEqual([404, 404]);
    expect(await json(theirs)).toEqual(await json(none));
  });

  it("an announced upload without bytes is no one's to fetch (404), not even the uploader's", async () => {
    const user = newUser();
    const { attachment_id } = await json(await as(user).post("/api/v2/attachments", { mime_type: "image/png", size_bytes: 10 }));
    expect((await download(user, `/api/v2/attachments/${attachment_id}`)).status).toBe(404);
  });

  it("the receiver of a blocked message gets 404 at once; the sender still can; unblocking restores it", async () => {
    const { alice, bob, path, message } = await sentPhoto();
    const { ticketAdmin } = await moderator();
    const moderate = (status: string) =>
      as(ticketAdmin).post(`/api/admin/messages/${message.id}/moderate`, { moderation_status: status, reason: "test" });
    const { body: ticket } = await ticketFor(bob, message.attachments[0].attachment_id);
    expect((await moderate("blocked")).status).toBe(200);
    expect((await download(bob, path)).status).toBe(404);
    expect((await download(null, ticket.url)).status).toBe(404); // a ticket issued before the block does not outlive it
    expect((await download(alice, path)).status).toBe(200);
    expect((await ticketFor(bob, message.attachments[0].attachment_id)).res.status).toBe(404);
    expect((await moderate("approved")).status).toBe(200);
    expect((await download(bob, path)).status).toBe(200);
  });

  it("the receiver of a deleted message gets 404; the uploader (its sender) still can", async () => {
    const { alice, bob, path, message } = await sentPhoto();
    expect((await as(alice).del(`/api/v2/messages/${message.id}`)).status).toBe(200);
    expect((await download(bob, path)).status).toBe(404);
    expect((await download(alice, path)).status).toBe(200);
  });

  it("a malformed id answers 400", async () => {
    expect((await download(newUser(), "/api/v2/attachments/not-an-id")).status).toBe(400);
  });
});

describe("Range requests (a video must seek)", () => {
  async function sentVideo() {
    const { alice, bob } = await pair(2);
    const bytes = mp4(100_000);
    const id = await uploaded(alice, "video/mp4", bytes);
    await as(alice).post(SEND, { receiver_id: bob, content: "clip", message_type: "video", attachments: [{ attachment_id: id }] });
    return { bob, bytes, path: `/api/v2/attachments/${id}` };
  }

  it.each([
    ["bytes=0-99", 0, 99],
    ["bytes=50000-50009", 50_000, 50_009],
    ["bytes=99990-", 99_990, 99_999],
    ["bytes=-10", 99_990, 99_999],
    ["bytes=99000-200000", 99_000, 99_999],
    ["bytes=-200000", 0, 99_999],
  ])("%s → 206 with exactly those bytes and Content-Range", async (range, start, end) => {
    const { bob, bytes, path } = await sentVideo();
    const res = await download(bob, path, { range });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${bytes.length}`);
    expect(res.headers.get("content-length")).toBe(String(end - start + 1));
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.slice(start, end + 1));
  });

  it.each(["bytes=100000-", "bytes=200000-300000", "bytes=-0"])(
    "%s (past the end) → 416 with Content-Range: bytes */size",
    async (range) => {
      const { bob, path } = await sentVideo();
      const res = await download(bob, path, { range });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe("bytes */100000");
      expect(await json(res)).toMatchObject({ error: { code: "range_not_satisfiable" } });
    },
  );

  it.each(["bytes=0-1,5-6", "items=0-5", "bytes=5-1", "nonsense"])("%s (not one range we serve) → the whole file, 200", async (range) => {
    const { bob, bytes, path } = await sentVideo();
    const res = await download(bob, path, { range });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(bytes.length));
  });

  it("a stranger's Range request is still 404", async () => {
    const { path } = await sentVideo();
    expect((await download(newUser(), path, { range: "bytes=0-9" })).status).toBe(404);
  });
});

async function moderator() {
  const { createAdmin } = await import("./helpers");
  return { ticketAdmin: await createAdmin("moderator") };
}

describe("tickets: a download URL for <img>/<video>, without an Authorization header", () => {
  it("POST …/ticket gives a URL that fetches the bytes with no header, until it expires", async () => {
    const { bob, bytes, id } = await sentPhoto();
    const before = Date.now();
    const { res, body } = await ticketFor(bob, id);
    expect(res.status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["attachment_id", "expires_at", "url"]);
    expect(body.attachment_id).toBe(id);
    expect(body.url).toMatch(new RegExp(`^http://pairly\\.test/api/v2/attachments/${id}\\?ticket=`));
    const ttl = Date.parse(body.expires_at) - before;
    expect(ttl).toBeGreaterThan(890_000);
    expect(ttl).toBeLessThanOrEqual(901_000);
    const got = await download(null, body.url);
    expect(got.status).toBe(200);
    expect(got.headers.get("cache-control")).toBe("private");
    expect(await sha256(await got.arrayBuffer())).toBe(await sha256(bytes));
    const ranged = await download(null, body.url, { range: "bytes=0-7" });
    expect(ranged.status).toBe(206);
  });

  it("a ticket for one attachment cannot fetch another, even one the same viewer may see", async () => {
    const first = await sentPhoto();
    const otherId = await uploaded(first.alice, "image/png", png(2, 2));
    await as(first.alice).post(SEND, {
      receiver_id: first.bob,
      content: "2",
      message_type: "image",
      attachments: [{ attachment_id: otherId }],
    });
    const { body } = await ticketFor(first.bob, first.id);
    const ticket = new URL(body.url).searchParams.get("ticket") ?? "";
    const res = await download(null, `/api/v2/attachments/${otherId}?ticket=${encodeURIComponent(ticket)}`);
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
  });

  it("a ticket names its viewer: rewritten for someone else it fails; a stranger's own ticket request is 404", async () => {
    const { alice, bob, id } = await sentPhoto();
    const { body } = await ticketFor(bob, id);
    const [exp, , mac] = (new URL(body.url).searchParams.get("ticket") ?? "").split(".");
    const forged = `${exp}.${alice}.${mac}`;
    expect((await download(null, `/api/v2/attachments/${id}?ticket=${encodeURIComponent(forged)}`)).status).toBe(401);
    const stranger = newUser("stranger");
    expect((await ticketFor(stranger, id)).res.status).toBe(404);
    // A genuine ticket for a stranger (signed with the real key) is still refused by the access rules.
    const strangers = await signTicket(env.ATTACHMENT_TICKET_KEY, id, stranger, new Date(Date.now() + 60_000));
    expect((await download(null, `/api/v2/attachments/${id}?ticket=${encodeURIComponent(strangers)}`)).status).toBe(404);
  });

  it("an expired ticket fails with 401, as do forged, truncated and empty ones", async () => {
    const { bob, id, path } = await sentPhoto();
    const expired = await signTicket(env.ATTACHMENT_TICKET_KEY, id, bob, new Date(Date.now() - 1000));
    const otherKey = await signTicket("another-key-of-sufficient-length-0123456789", id, bob, new Date(Date.now() + 60_000));
    const valid = await signTicket(env.ATTACHMENT_TICKET_KEY, id, bob, new Date(Date.now() + 60_000));
    const [exp = "", viewer = "", mac = ""] = valid.split(".");
    const later = `${Number(exp) + 3600}.${viewer}.${mac}`; // the expiry moved without re-signing
    for (const ticket of [expired, otherKey, later, valid.slice(0, -2), "", "a.b.c", `${valid}.x`]) {
      const res = await download(null, `${path}?ticket=${encodeURIComponent(ticket)}`);
      expect(res.status, ticket).toBe(401);
    }
    expect((await download(null, `${path}?ticket=${encodeURIComponent(valid)}`)).status).toBe(200);
  });

  it("without a ticket and without a token: 401; a ticket on any other route authenticates nothing", async () => {
    const { bob, id, path } = await sentPhoto();
    expect((await download(null, path)).status).toBe(401);
    const { body } = await ticketFor(bob, id);
    const ticket = new URL(body.url).searchParams.get("ticket") ?? "";
    const elsewhere = await download(null, `/api/v2/messages/conversations?ticket=${encodeURIComponent(ticket)}`);
    expect(elsewhere.status).toBe(401);
    const ticketRoute = await (await import("cloudflare:workers")).exports.default.fetch(
      `http://pairly.test/api/v2/attachments/${id}/ticket?ticket=${encodeURIComponent(ticket)}`,
      { method: "POST" },
    );
    expect(ticketRoute.status).toBe(401);
  });

  it("the ticket route takes no body", async () => {
    const { bob, id } = await sentPhoto();
    const res = await as(bob).post(`/api/v2/attachments/${id}/ticket`, { viewer: "x" });
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toEqual({ viewer: ["unknown field"] });
  });
});

describe("OpenAPI", () => {
  it("documents every attachment route, the ticket scheme, and the send's two attachment forms", async () => {
    const doc = await json(await (await import("./helpers")).call("GET", "/api/openapi.json"));
    expect(Object.keys(doc.paths["/api/v2/attachments"])).toEqual(["post"]);
    expect(Object.keys(doc.paths["/api/v2/attachments/{attachment_id}"]).sort()).toEqual(["get", "put"]);
    expect(Object.keys(doc.paths["/api/v2/attachments/{attachment_id}/ticket"])).toEqual(["post"]);
    expect(Object.keys(doc.paths["/api/admin/attachments/{attachment_id}"])).toEqual(["get"]);
    const get = doc.paths["/api/v2/attachments/{attachment_id}"].get;
    expect(get.security).toEqual([{ bearer: [] }, { ticket: [] }]);
    expect(Object.keys(get.responses).sort()).toEqual(["200", "206", "400", "401", "404", "416", "500", "503"]);
    // Besides the shared D1 bookmark header (a $ref every operation has).
    expect(get.parameters.flatMap((p: { name?: string }) => (p.name ? [p.name] : [])).sort()).toEqual(["attachment_id", "ticket"]);
    const put = doc.paths["/api/v2/attachments/{attachment_id}"].put;
    expect(Object.keys(put.responses).sort()).toEqual(["200", "400", "401", "404", "409", "413", "415", "500", "503"]);
    expect(put.requestBody.content["*/*"].schema).toEqual({ type: "string", format: "binary" });
    expect(doc.components.securitySchemes.ticket).toMatchObject({ type: "apiKey", in: "query", name: "ticket" });
    expect(doc.components.schemas.SendMessageBody.properties.attachments.items.oneOf).toEqual([
      { $ref: "#/components/schemas/AttachmentRef" },
      { $ref: "#/components/schemas/Attachment" },
    ]);
    expect(doc.components.schemas.AttachmentRef).toMatchObject({
      type: "object",
      required: ["attachment_id"],
      additionalProperties: false,
    });
    expect(doc.components.schemas.StoredAttachment.required.sort()).toEqual(["attachment_id", "mime_type", "name", "size_bytes", "url"]);
  });
});
