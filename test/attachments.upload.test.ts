import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { dbOf } from "../src/db/client";
import { storeUpload } from "../src/services/attachments";
import { ATTACHMENTS, announce, attachmentRow, bucketKeys, keysOf, putBytes } from "./attachments";
import { balanceOf, count, json, newUser, seedCredits } from "./helpers";
import { chunked, ebml, generated, jpeg, mp3, mp4, ogg, pdf, png, sha256, webpLossy } from "./media";

const MiB = 1024 * 1024;

async function announced(user: string, type: string, size: number, name?: string) {
  const res = await announce(user, type, size, name);
  expect(res.status).toBe(201);
  return json<{ attachment_id: string; upload_url: string; expires_at: string }>(res);
}

describe("POST /api/v2/attachments", () => {
  it("announces an upload: 201 with its id, an absolute upload_url and an expiry an hour away; a pending row, no bytes", async () => {
    const user = newUser();
    const before = Date.now();
    const res = await announce(user, "image/jpeg", 1234, "beach.jpg");
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(Object.keys(body).sort()).toEqual(["attachment_id", "expires_at", "upload_url"]);
    expect(body.attachment_id).toMatch(/^att_[0-9a-f]{32}$/);
    expect(body.upload_url).toBe(`http://pairly.test${ATTACHMENTS}/${body.attachment_id}`);
    const expires = Date.parse(body.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000);
    expect(await attachmentRow(body.attachment_id)).toMatchObject({
      uploader_id: user,
      mime_type: "image/jpeg",
      size_bytes: 1234,
      name: "beach.jpg",
      state: "pending",
      r2_key: null,
      message_id: null,
    });
    expect(await keysOf(body.attachment_id)).toEqual([]);
  });

  it("names a file without a name after its id and type; normalizes the type's case", async () => {
    const user = newUser();
    const { attachment_id } = await announced(user, "Application/PDF", 10);
    expect(await attachmentRow(attachment_id)).toMatchObject({ mime_type: "application/pdf", name: `${attachment_id}.pdf` });
  });

  it.each([
    ["image/jpeg", 10 * MiB],
    ["image/png", 10 * MiB],
    ["image/webp", 1],
    ["image/gif", 1],
    ["video/mp4", 50 * MiB],
    ["video/webm", 50 * MiB],
    ["audio/mpeg", 10 * MiB],
    ["audio/ogg", 10 * MiB],
    ["audio/webm", 10 * MiB],
    ["audio/mp4", 10 * MiB],
    ["application/pdf", 10 * MiB],
  ])("allows %s up to its limit (%d bytes)", async (type, size) => {
    expect((await announce(newUser(), type, size)).status).toBe(201);
  });

  it.each([
    ["image/svg+xml", 10],
    ["text/html", 10],
    ["application/zip", 10],
    ["video/quicktime", 10],
    ["image/jpg", 10],
  ])("refuses %s with 400 and writes nothing", async (type, size) => {
    const user = newUser();
    const res = await announce(user, type, size);
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body).toEqual({
      error: { code: "validation_failed", message: expect.any(String), details: { mime_type: [expect.stringContaining("image/jpeg")] } },
    });
    expect(await count("SELECT 1 FROM attachments WHERE uploader_id = ?", user)).toBe(0);
  });

  it.each([
    ["an image", "image/png", 10 * MiB + 1, 10 * MiB],
    ["a video", "video/mp4", 50 * MiB + 1, 50 * MiB],
    ["a voice note", "audio/ogg", 10 * MiB + 1, 10 * MiB],
    ["a PDF", "application/pdf", 10 * MiB + 1, 10 * MiB],
  ])("refuses %s over its limit with 413 and writes nothing", async (_name, type, size, max) => {
    const user = newUser();
    const res = await announce(user, type, size);
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({
      error: { code: "payload_too_large", message: expect.any(String), details: { size_bytes: [expect.any(String)], max_bytes: max } },
    });
    expect(await count("SELECT 1 FROM attachments WHERE uploader_id = ?", user)).toBe(0);
  });

  it.each([
    ["a zero size", { mime_type: "image/png", size_bytes: 0 }, "size_bytes"],
    ["a fractional size", { mime_type: "image/png", size_bytes: 1.5 }, "size_bytes"],
    ["no size", { mime_type: "image/png" }, "size_bytes"],
    ["no type", { size_bytes: 10 }, "mime_type"],
    ["a control character in the name", { mime_type: "image/png", size_bytes: 10, name: "a\nb.png" }, "name"],
    ["an empty name", { mime_type: "image/png", size_bytes: 10, name: "" }, "name"],
    ["a server-owned field", { mime_type: "image/png", size_bytes: 10, state: "sent" }, "state"],
    ["an uploader", { mime_type: "image/png", size_bytes: 10, uploader_id: "someone" }, "uploader_id"],
  ])("refuses %s with 400 and writes nothing", async (_name, body, field) => {
    const user = newUser();
    const { as } = await import("./helpers");
    const res = await as(user).post(ATTACHMENTS, body);
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toHaveProperty([field]);
    expect(await count("SELECT 1 FROM attachments WHERE uploader_id = ?", user)).toBe(0);
  });

  it("charges nothing for announcing or uploading", async () => {
    const user = newUser();
    await seedCredits(user, 3);
    const bytes = png(10, 10);
    const { upload_url } = await announced(user, "image/png", bytes.length);
    expect((await putBytes(user, upload_url, bytes, "image/png")).status).toBe(200);
    expect(await balanceOf(user)).toBe(3);
    expect(await count("SELECT 1 FROM credit_transactions WHERE user_id = ?", user)).toBe(1); // the seed grant only
  });
});

describe("PUT <upload_url>", () => {
  it.each([
    ["image/jpeg", jpeg(1920, 1080, { exifBytes: 70_000 }), { width: 1920, height: 1080 }],
    ["image/png", png(64, 48), { width: 64, height: 48 }],
    ["image/webp", webpLossy(320, 240), { width: 320, height: 240 }],
    ["video/mp4", mp4(50_000), {}],
    ["video/webm", ebml("webm", 30_000), {}],
    ["audio/webm", ebml("webm", 3000), {}],
    ["audio/mp4", mp4(3000, "M4A "), {}],
    ["audio/mpeg", mp3(), {}],
    ["audio/ogg", ogg(), {}],
    ["application/pdf", pdf(), {}],
  ] as [string, Uint8Array, Record<string, number>][])(
    "stores %s in R2 as sent, verified, with dimensions for images",
    async (type, bytes, dims) => {
      const user = newUser();
      const { attachment_id, upload_url } = await announced(user, type, bytes.length);
      const res = await putBytes(user, upload_url, bytes, type);
      expect(res.status).toBe(200);
      expect(await json(res)).toEqual({ attachment_id, mime_type: type, size_bytes: bytes.length, ...dims });
      const row = await attachmentRow(attachment_id);
      expect(row).toMatchObject({ state: "uploaded", width: dims.width ?? null, height: dims.height ?? null });
      const keys = await keysOf(attachment_id);
      expect(keys).toEqual([row?.r2_key]);
      const object = await env.ATTACHMENTS.get(keys[0] ?? "");
      expect(object?.size).toBe(bytes.length);
      expect(object?.httpMetadata?.contentType).toBe(type);
      expect(await sha256(await (object as R2ObjectBody).arrayBuffer())).toBe(await sha256(bytes));
    },
  );

  it("streams a chunked body (no Content-Length) of 20 MiB into R2, byte for byte", async () => {
    const user = newUser();
    const size = 20 * MiB;
    const head = mp4(64);
    const { attachment_id, upload_url } = await announced(user, "video/mp4", size);
    const res = await putBytes(user, upload_url, generated(head, size), "video/mp4");
    expect(res.status).toBe(200);
    const [key] = await keysOf(attachment_id);
    const object = (await env.ATTACHMENTS.get(key ?? "")) as R2ObjectBody;
    expect(object.size).toBe(size);
    const expected = await new Response(generated(head, size)).arrayBuffer();
    expect(await sha256(await object.arrayBuffer())).toBe(await sha256(expected));
  });

  it("accepts a Content-Type with parameters and a different case", async () => {
    const user = newUser();
    const bytes = pdf();
    const { upload_url } = await announced(user, "application/pdf", bytes.length);
    expect((await putBytes(user, upload_url, bytes, "Application/PDF; charset=binary")).status).toBe(200);
  });

  /** A refused PUT leaves the row exactly as it was and nothing in the bucket, and a correct PUT still works after it. */
  async function expectNothingKept(user: string, id: string, uploadUrl: string, type: string, good: Uint8Array) {
    expect(await attachmentRow(id)).toMatchObject({ state: "pending", r2_key: null, width: null, height: null, uploaded_at: null });
    expect(await keysOf(id)).toEqual([]);
    expect((await putBytes(user, uploadUrl, good, type)).status).toBe(200);
  }

  it.each([
    ["a PNG declared as JPEG", "image/jpeg", jpeg(10, 10), png(10, 10, jpeg(10, 10).length), "mime_type"],
    [
      "HTML declared as PNG",
      "image/png",
      png(10, 10),
      new TextEncoder().encode(`<html><script>alert(1)</script>${" ".repeat(200)}`).slice(0, 256),
      "mime_type",
    ],
    ["an MP4 declared as WebM", "video/webm", ebml("webm", 4096), mp4(4096), "mime_type"],
    [
      "a JPEG without a frame header",
      "image/jpeg",
      jpeg(10, 10),
      new Uint8Array([0xff, 0xd8, 0xff, 0xda, ...new Array(300).fill(0)]),
      "mime_type",
    ],
  ] as [string, string, Uint8Array, Uint8Array, string][])(
    "refuses %s with 400 and keeps nothing",
    async (_name, type, good, bad, field) => {
      const user = newUser();
      const { attachment_id, upload_url } = await announced(user, type, good.length);
      const sized = bad.length === good.length ? bad : Uint8Array.from({ length: good.length }, (_, i) => bad[i] ?? 0);
      for (const body of [sized, chunked(sized, 5)]) {
        const res = await putBytes(user, upload_url, body, type);
        expect(res.status).toBe(400);
        expect(await json(res)).toEqual({
          error: { code: "validation_failed", message: expect.any(String), details: { [field]: [expect.any(String)] } },
        });
        expect(await attachmentRow(attachment_id)).toMatchObject({ state: "pending", r2_key: null });
        expect(await keysOf(attachment_id)).toEqual([]);
      }
      await expectNothingKept(user, attachment_id, upload_url, type, good);
    },
  );

  it("refuses a body of another length (Content-Length, or counted when chunked) with 400 and keeps nothing", async () => {
    const user = newUser();
    const good = png(10, 10, 1000);
    const { attachment_id, upload_url } = await announced(user, "image/png", good.length);
    for (const body of [good.slice(0, 999), png(10, 10, 1001), chunked(good.slice(0, 999), 100), chunked(png(10, 10, 1001), 100)]) {
      const res = await putBytes(user, upload_url, body, "image/png");
      expect(res.status).toBe(400);
      expect(await json(res)).toMatchObject({ error: { code: "validation_failed", details: { body: [expect.any(String)] } } });
    }
    await expectNothingKept(user, attachment_id, upload_url, "image/png", good);
  });

  it("refuses a Content-Length over the type's limit with 413, before reading the body", async () => {
    const user = newUser();
    const { attachment_id, upload_url } = await announced(user, "image/png", 1000);
    const res = await exports.default.fetch(upload_url, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${await (await import("./helpers")).tokenFor(user)}`,
        "content-type": "image/png",
        "content-length": String(10 * MiB + 1),
      },
      body: generated(png(1, 1), 10 * MiB + 1),
    });
    expect(res.status).toBe(413);
    expect(await json(res)).toMatchObject({ error: { code: "payload_too_large", details: { max_bytes: 10 * MiB } } });
    expect(await keysOf(attachment_id)).toEqual([]);
  });

  it("a client that breaks off mid-upload leaves nothing behind", async () => {
    const user = newUser();
    const good = mp4(200_000);
    const { attachment_id, upload_url } = await announced(user, "video/mp4", good.length);
    let sent = 0;
    const breaking = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 100_000) return controller.error(new Error("connection reset"));
        controller.enqueue(good.slice(sent, sent + 20_000));
        sent += 20_000;
      },
    });
    const res = await putBytes(user, upload_url, breaking, "video/mp4").catch((err: Error) => err);
    if (res instanceof Response) expect(res.status).toBe(400);
    await expectNothingKept(user, attachment_id, upload_url, "video/mp4", good);
  });

  it("a stalled upload (no bytes for the idle limit) is abandoned and leaves nothing behind", async () => {
    const user = newUser();
    const good = mp4(10_000);
    const { attachment_id, upload_url } = await announced(user, "video/mp4", good.length);
    let pulls = 0;
    // Sends its first chunk, then never another and never ends: what a client whose network died looks like.
    const stalled = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(good.slice(0, 4096));
        else return new Promise<void>(() => {});
      },
    });
    const upload = { contentType: "video/mp4", contentLength: null, body: stalled };
    const err = await storeUpload({ db: dbOf(env.DB), env }, user, attachment_id, upload, 50).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "validation_failed", details: { body: [expect.stringMatching(/No bytes arrived/)] } });
    await expectNothingKept(user, attachment_id, upload_url, "video/mp4", good);
  });

  it("a second PUT answers 409 and leaves the first upload's bytes as they were", async () => {
    const user = newUser();
    const good = png(20, 20);
    const { attachment_id, upload_url } = await announced(user, "image/png", good.length);
    expect((await putBytes(user, upload_url, good, "image/png")).status).toBe(200);
    const before = { row: await attachmentRow(attachment_id), keys: await keysOf(attachment_id) };
    const again = await putBytes(user, upload_url, png(30, 30), "image/png");
    expect(again.status).toBe(409);
    expect(await json(again)).toMatchObject({ error: { code: "conflict", details: { state: "uploaded" } } });
    expect({ row: await attachmentRow(attachment_id), keys: await keysOf(attachment_id) }).toEqual(before);
  });

  it("two PUTs racing: exactly one 200, one 409, and one object in the bucket", async () => {
    const user = newUser();
    const good = jpeg(100, 50, { size: 300_000 });
    const { attachment_id, upload_url } = await announced(user, "image/jpeg", good.length);
    const results = await Promise.all([0, 1, 2].map(() => putBytes(user, upload_url, chunked(good, 32_768), "image/jpeg")));
    expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const row = await attachmentRow(attachment_id);
    expect(await keysOf(attachment_id)).toEqual([row?.r2_key]);
  });

  it("someone else's upload_url answers 404 and changes nothing", async () => {
    const [owner, other] = [newUser(), newUser()];
    const good = png(5, 5);
    const { attachment_id, upload_url } = await announced(owner, "image/png", good.length);
    const res = await putBytes(other, upload_url, good, "image/png");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    await expectNothingKept(owner, attachment_id, upload_url, "image/png", good);
  });

  it("an unknown or malformed id answers 404 / 400", async () => {
    const user = newUser();
    expect((await putBytes(user, `http://pairly.test${ATTACHMENTS}/att_${"0".repeat(32)}`, png(1, 1), "image/png")).status).toBe(404);
    expect((await putBytes(user, `http://pairly.test${ATTACHMENTS}/nope`, png(1, 1), "image/png")).status).toBe(400);
  });

  it("another Content-Type than declared answers 415 and keeps nothing", async () => {
    const user = newUser();
    const good = png(5, 5);
    const { attachment_id, upload_url } = await announced(user, "image/png", good.length);
    for (const type of ["image/jpeg", "application/octet-stream", ""]) {
      const res = await putBytes(user, upload_url, good, type);
      expect(res.status).toBe(415);
      expect(await json(res)).toMatchObject({
        error: { code: "unsupported_media_type", details: { content_type: ["must be image/png"] } },
      });
    }
    await expectNothingKept(user, attachment_id, upload_url, "image/png", good);
  });

  it("after expires_at the upload_url answers 409 and keeps nothing", async () => {
    const user = newUser();
    const good = png(5, 5);
    const { attachment_id, upload_url } = await announced(user, "image/png", good.length);
    await env.DB.prepare("UPDATE attachments SET upload_expires_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 1000).toISOString(), attachment_id)
      .run();
    const res = await putBytes(user, upload_url, good, "image/png");
    expect(res.status).toBe(409);
    expect(await json(res)).toMatchObject({ error: { code: "conflict", details: { expires_at: expect.any(String) } } });
    expect(await attachmentRow(attachment_id)).toMatchObject({ state: "pending", r2_key: null });
    expect(await keysOf(attachment_id)).toEqual([]);
  });

  it("is not held to the 64 KiB JSON body limit, which still applies to every other route", async () => {
    const user = newUser();
    const good = pdf(200_000);
    const { upload_url } = await announced(user, "application/pdf", good.length);
    expect((await putBytes(user, upload_url, good, "application/pdf")).status).toBe(200);
    const big = await (await import("./helpers"))
      .as(user)
      .post(ATTACHMENTS, { mime_type: "image/png", size_bytes: 1, name: "x".repeat(70_000) });
    expect(big.status).toBe(413);
  });

  it("a bad upload never touches other users' objects", async () => {
    const before = (await bucketKeys()).length;
    const user = newUser();
    const { upload_url } = await announced(user, "image/png", 256);
    expect((await putBytes(user, upload_url, jpeg(1, 1, { size: 256 }), "image/png")).status).toBe(400);
    expect((await bucketKeys()).length).toBe(before);
  });
});
