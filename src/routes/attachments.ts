import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AttachmentRow } from "../db/schema";
import type { AppEnv } from "../env";
import { kindOf } from "../lib/attachment-limits";
import { ticketOrUser } from "../middleware/attachments";
import { noBody } from "../middleware/body";
import {
  AttachmentParam,
  AttachmentRef,
  AttachmentTicket,
  CreateAttachmentBody,
  CreatedAttachment,
  DownloadQuery,
  UploadedAttachment,
} from "../schemas/attachments";
import { ErrorBody } from "../schemas/common";
import { createUpload, type Download, downloadPath, issueTicket, openDownload, storeUpload } from "../services/attachments";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "./openapi";

const tags = ["attachments"];
const deps = (c: { var: AppEnv["Variables"]; env: Env }) => ({ db: c.var.db, env: c.env });
const absolute = (c: Context, path: string) => new URL(path, c.req.url).toString();

/** Either scheme alone suffices (OpenAPI: alternatives are separate entries). */
const bearerOrTicket: Record<string, string[]>[] = [{ bearer: [] }, { ticket: [] }];
const BYTES = { schema: z.string().openapi({ format: "binary" }) };

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  security: bearer,
  summary: "Announce an attachment: its type and exact size; returns where to PUT the bytes",
  description:
    "Allowed types and per-kind limits are configurable (`ATTACHMENT_TYPES`, `ATTACHMENT_MAX_BYTES`; by default images, audio and PDF " +
    "10 MiB, video 50 MiB). A type not allowed answers 400, a size over its limit 413. Nothing is charged. `upload_url` is valid until " +
    "`expires_at` (`ATTACHMENT_UPLOAD_TTL_SECONDS`, default 1 hour); an upload never sent with a message is removed after 24 hours.",
  request: { body: jsonBody(CreateAttachmentBody) },
  responses: {
    201: jsonOf(CreatedAttachment, "Announced; PUT the bytes to upload_url"),
    ...errors(...BODY_ERRORS),
    400: jsonOf(ErrorBody, "Invalid input, or a type that is not allowed (`validation_failed`, `details.mime_type`)"),
    413: jsonOf(ErrorBody, "`size_bytes` over the type's limit (`payload_too_large`, `details.max_bytes`), or a body over 64 KiB"),
  },
});

const upload = createRoute({
  method: "put",
  path: "/{attachment_id}",
  tags,
  security: bearer,
  summary: "Upload the bytes (raw body, Content-Type = the declared type), once",
  description:
    "The body is streamed into R2, never buffered: its bytes are counted and its magic bytes checked against the declared type as " +
    "they pass (JPEG, PNG, WebP, GIF, MP4, WebM, MP3, Ogg, PDF); an image's width and height are read from its headers. A length " +
    "other than the declared `size_bytes`, bytes of another type, an image without readable dimensions, or a client that stops " +
    "sending (30 s without a byte) or breaks off answer 400 and keep nothing. Another Content-Type answers 415, a Content-Length " +
    "over the type's limit 413. Someone else's attachment answers 404; a second upload, or one after `expires_at`, 409. " +
    "The 64 KiB body limit of JSON routes does not apply here.",
  request: { params: AttachmentParam, body: { content: { "*/*": BYTES }, required: true, description: "The file's bytes" } },
  responses: {
    200: jsonOf(UploadedAttachment, "Stored and verified"),
    ...errors("validation_failed", "payload_too_large", "unsupported_media_type", "not_found", "conflict"),
    400: jsonOf(
      ErrorBody,
      "Bytes that differ from the declaration: length, type, no readable dimensions, stalled or broken off (`validation_failed`)",
    ),
    409: jsonOf(ErrorBody, "Already uploaded, or the upload URL expired (`conflict`)"),
    413: jsonOf(ErrorBody, "A Content-Length over the type's limit (`payload_too_large`, `details.max_bytes`)"),
    415: jsonOf(ErrorBody, "A Content-Type other than the declared type (`unsupported_media_type`)"),
  },
});

const download = createRoute({
  method: "get",
  path: "/{attachment_id}",
  tags,
  security: bearerOrTicket,
  summary: "Download the bytes (Range supported); bearer token or ?ticket=",
  description:
    "Only for the uploader and, once sent, the message's two participants; the receiver of a deleted or blocked message, and everyone " +
    "else, get 404. The message's current state is checked on every request, so a block hides the file at once. `Range: bytes=a-b` " +
    "(one range; `a-` and `-n` too) answers 206 with Content-Range, a range past the end 416; several ranges are ignored (200). " +
    "Content-Type is the stored type, with `X-Content-Type-Options: nosniff`, `Cache-Control: private` and Content-Disposition " +
    "`inline` for images, video and audio, `attachment` for files (both with the name). Where no Authorization header can be sent " +
    "(`<img>`, `<video>`), pass `?ticket=` from POST /api/v2/attachments/{attachment_id}/ticket.",
  middleware: [ticketOrUser()] as const,
  request: { params: AttachmentParam, query: DownloadQuery },
  responses: {
    200: { description: "The whole file", content: { "*/*": BYTES } },
    206: { description: "The requested range (Content-Range)", content: { "*/*": BYTES } },
    ...errors("validation_failed", "not_found", "range_not_satisfiable"),
  },
});

const ticket = createRoute({
  method: "post",
  path: "/{attachment_id}/ticket",
  tags,
  security: bearer,
  summary: "A short-lived download URL for <img>/<video> (no Authorization header needed)",
  description:
    "The URL carries a ticket: an HMAC (key `ATTACHMENT_TICKET_KEY`) of the attachment id, the caller and an expiry " +
    "(`ATTACHMENT_TICKET_TTL_SECONDS`, default 15 minutes). It fetches only this attachment, as this caller, and the access rules " +
    "are checked again on every request, so a ticket outlives no block or delete. 404 for an attachment the caller may not fetch.",
  middleware: [noBody()] as const,
  request: { params: AttachmentParam },
  responses: { 200: jsonOf(AttachmentTicket, "The URL and its expiry"), ...errors("validation_failed", "payload_too_large", "not_found") },
});

/** RFC 6266: an ASCII fallback and the exact name in RFC 5987 encoding. */
function dispositionOf(a: AttachmentRow): string {
  const disposition = kindOf(a.mimeType) === "file" ? "attachment" : "inline";
  const fallback = a.name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const exact = encodeURIComponent(a.name).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

/** The bytes of a download with the headers a browser needs to show (or save) them safely; shared with the admin route. */
export function downloadResponse(c: Context, d: Download): Response {
  const size = d.attachment.sizeBytes;
  const headers: Record<string, string> = {
    "Content-Type": d.attachment.mimeType,
    "Content-Length": String(d.range ? d.range.length : size),
    "Content-Disposition": dispositionOf(d.attachment),
    "Accept-Ranges": "bytes",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private",
    // Opened directly, the file is a document of its own: it may run nothing and load nothing.
    "Content-Security-Policy": "default-src 'none'; sandbox",
    ETag: d.etag,
  };
  if (d.range) headers["Content-Range"] = `bytes ${d.range.offset}-${d.range.offset + d.range.length - 1}/${size}`;
  return c.body(d.body, d.range ? 206 : 200, headers);
}

const uploadedView = (row: AttachmentRow) => ({
  attachment_id: row.id,
  mime_type: row.mimeType,
  size_bytes: row.sizeBytes,
  ...(row.width !== null && row.height !== null && { width: row.width, height: row.height }),
});

export const attachmentRoutes = createRouter()
  .openapi(create, async (c) => {
    const row = await createUpload(deps(c), c.var.userId, c.req.valid("json"));
    return c.json({ attachment_id: row.id, upload_url: absolute(c, downloadPath(row.id)), expires_at: row.uploadExpiresAt }, 201);
  })
  .openapi(upload, async (c) => {
    const upload = {
      contentType: c.req.header("content-type") ?? null,
      contentLength: c.req.header("content-length") ?? null,
      body: c.req.raw.body,
    };
    return c.json(uploadedView(await storeUpload(deps(c), c.var.userId, c.req.valid("param").attachment_id, upload)), 200);
  })
  .openapi(download, async (c) =>
    downloadResponse(c, await openDownload(deps(c), c.var.userId, c.req.valid("param").attachment_id, c.req.header("range"))),
  )
  .openapi(ticket, async (c) => {
    const id = c.req.valid("param").attachment_id;
    const { path, expiresAt } = await issueTicket(deps(c), c.var.userId, id);
    return c.json({ attachment_id: id, url: absolute(c, path), expires_at: expiresAt }, 200);
  });

// A send's `attachments` items refer to it by name (see uploadOrLink), so it is registered here.
attachmentRoutes.openAPIRegistry.register("AttachmentRef", AttachmentRef);
attachmentRoutes.openAPIRegistry.registerComponent("securitySchemes", "ticket", {
  type: "apiKey",
  in: "query",
  name: "ticket",
  description: "GET /api/v2/attachments/{attachment_id} only: a ticket from its /ticket route, for <img>/<video> sources",
});
