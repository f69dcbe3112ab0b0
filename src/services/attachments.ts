/**
 * Attachments: announce (POST), upload once (PUT, streamed into R2 and verified on the way), send
 * (claimed inside the message's send batch), serve (only to who may see the message, as it is now),
 * and remove (unsent after 24 hours, and with a hard-deleted or erased message).
 */
import type { AttachmentAccessRow, AttachmentClaim } from "../db/attachments";
import {
  deleteAttachmentRows,
  deletingQuery,
  findAttachment,
  findWithMessage,
  insertAttachment,
  markDeletingOfMessages,
  markDeletingUnsent,
  markUploaded,
  staleUploadsQuery,
  unsentUploadsOfQuery,
  uploadsOf,
} from "../db/attachments";
import type { Db } from "../db/client";
import type { Attachment, AttachmentRow, MessageType } from "../db/schema";
import { AppError, notFound } from "../errors";
import { attachmentLimitsOf, kindOf } from "../lib/attachment-limits";
import { signTicket, verifyTicket } from "../lib/attachment-ticket";
import { newId } from "../lib/ids";
import { logError } from "../lib/log";
import { isSniffable, mediaSniffer } from "../lib/media-sniff";
import { nowIso } from "../lib/time";
import { inspectingStream } from "../lib/upload-stream";
import type { AttachmentRef, CreateAttachmentBody } from "../schemas/attachments";
import { LATEST } from "../schemas/common";
import { assertConversationVisible } from "./safety";

export type Deps = { db: Db; env: Env };

export const downloadPath = (id: string) => `/api/v2/attachments/${id}`;
export const adminDownloadPath = (id: string) => `/api/admin/attachments/${id}`;

/** The contract: an upload never sent is removed after 24 hours. */
export const UNSENT_TTL_MS = 24 * 60 * 60 * 1000;
/** A PUT that receives no bytes for this long is abandoned (a stalled client must not hold the upload open). */
export const UPLOAD_IDLE_MS = 30_000;

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "image/gif": "gif",
  "video/mp4": "mp4",
  "video/webm": "webm",
  "audio/mpeg": "mp3",
  "audio/ogg": "ogg",
  "audio/webm": "weba",
  "audio/mp4": "m4a",
  "application/pdf": "pdf",
};

const invalid = (message: string, details: Record<string, string[]>) => new AppError("validation_failed", message, details);

function checkAllowed(env: Env, mimeType: string, sizeBytes: number, field: "size_bytes" | "body"): void {
  const limits = attachmentLimitsOf(env);
  if (!(limits.types as string[]).includes(mimeType)) {
    throw invalid("This type of file cannot be attached", { mime_type: [`must be one of: ${limits.types.join(", ")}`] });
  }
  const max = limits.maxBytes[kindOf(mimeType)];
  if (sizeBytes > max) {
    throw new AppError("payload_too_large", `A ${kindOf(mimeType)} attachment may be at most ${max} bytes`, {
      [field]: [`must be at most ${max} bytes`],
      max_bytes: max,
    });
  }
}

/** POST /api/v2/attachments: a pending row; the bytes come with the PUT. Nothing is charged. */
export async function createUpload({ db, env }: Deps, uploaderId: string, body: CreateAttachmentBody): Promise<AttachmentRow> {
  checkAllowed(env, body.mime_type, body.size_bytes, "size_bytes");
  const id = newId("att");
  const now = new Date();
  const row = {
    id,
    uploaderId,
    mimeType: body.mime_type,
    sizeBytes: body.size_bytes,
    name: body.name ?? `${id}.${EXTENSIONS[body.mime_type] ?? "bin"}`,
    state: "pending" as const,
    createdAt: now.toISOString(),
    uploadExpiresAt: new Date(now.getTime() + attachmentLimitsOf(env).uploadTtlSeconds * 1000).toISOString(),
  };
  const created = await insertAttachment(db, row).returning().get();
  if (!created) throw new Error("attachment insert returned no row");
  return created;
}

export type UploadRequest = { contentType: string | null; contentLength: string | null; body: ReadableStream<Uint8Array> | null };

const mediaTypeOf = (contentType: string | null) => contentType?.split(";")[0]?.trim().toLowerCase() ?? "";

/** Everything about the PUT that can be refused before one byte is read. */
async function checkUploadRequest(db: Db, env: Env, uploaderId: string, id: string, req: UploadRequest): Promise<AttachmentRow> {
  const row = await findAttachment(db, id);
  if (!row || row.uploaderId !== uploaderId) throw notFound("Attachment not found");
  if (row.state !== "pending") throw new AppError("conflict", "This attachment was already uploaded", { state: row.state });
  if (row.uploadExpiresAt <= nowIso()) {
    throw new AppError("conflict", "The upload URL expired; announce the attachment again", { expires_at: row.uploadExpiresAt });
  }
  if (mediaTypeOf(req.contentType) !== row.mimeType) {
    throw new AppError("unsupported_media_type", `Send the bytes with Content-Type: ${row.mimeType}, as declared`, {
      content_type: [`must be ${row.mimeType}`],
    });
  }
  if (req.contentLength !== null) {
    const length = Number(req.contentLength);
    checkAllowed(env, row.mimeType, length, "body");
    if (length !== row.sizeBytes)
      throw invalid("The body's length differs from the declared size", { body: [`must be ${row.sizeBytes} bytes`] });
  } else {
    checkAllowed(env, row.mimeType, row.sizeBytes, "body");
  }
  if (!req.body) throw invalid("The upload has no body", { body: [`must be ${row.sizeBytes} bytes`] });
  return row;
}

/**
 * PUT <upload_url>: streams the body into R2 without buffering it. On the way, a pass-through stream
 * counts the bytes and checks the magic bytes (and reads an image's dimensions); a FixedLengthStream
 * gives R2 the declared length it needs. If anything is wrong (type, length, a stalled or broken
 * client), the stream errors, R2 never commits the object (deleted again to be sure), and the row is
 * unchanged. Each attempt writes its own key, so of two racing PUTs the loser deletes only its own.
 */
export async function storeUpload({ db, env }: Deps, uploaderId: string, id: string, req: UploadRequest, idleMs = UPLOAD_IDLE_MS) {
  const row = await checkUploadRequest(db, env, uploaderId, id, req);
  if (!req.body || !isSniffable(row.mimeType)) throw invalid("This type of file cannot be attached", { mime_type: ["not verifiable"] });
  const key = `attachments/${id}/${crypto.randomUUID()}`;
  const inspector = inspectingStream(row.sizeBytes, mediaSniffer(row.mimeType), idleMs);
  const fixed = new FixedLengthStream(row.sizeBytes);

  // Whichever side failed first is the cause: a broken client aborts R2's put, a failed put cancels the pump.
  let firstFailure: "client" | "storage" | null = null;
  const fromClient = req.body.pipeTo(inspector.stream.writable);
  const toStorage = inspector.stream.readable.pipeTo(fixed.writable);
  const stored = env.ATTACHMENTS.put(key, fixed.readable, { httpMetadata: { contentType: row.mimeType } });
  fromClient.catch(() => {
    firstFailure ??= "client";
  });
  stored.catch(() => {
    firstFailure ??= "storage";
  });
  const [received, forwarded, put] = await Promise.allSettled([fromClient, toStorage, stored]);
  const pump = received.status === "rejected" ? received : forwarded;

  if (pump.status === "rejected" || put.status === "rejected") {
    await env.ATTACHMENTS.delete(key);
    const rejection = inspector.rejection;
    if (rejection) {
      const field = rejection.reason === "type_mismatch" ? "mime_type" : "body";
      throw invalid(rejection.reason === "type_mismatch" ? `The bytes are not ${row.mimeType}: ${rejection.message}` : rejection.message, {
        [field]: [rejection.message],
      });
    }
    if (firstFailure === "client" || put.status === "fulfilled") {
      throw invalid("The upload did not complete", { body: [`must be ${row.sizeBytes} bytes`] });
    }
    throw put.reason;
  }

  const dims = inspector.dimensions;
  const updated = await markUploaded(db, id, uploaderId, {
    r2Key: key,
    width: dims?.width ?? null,
    height: dims?.height ?? null,
    now: nowIso(),
  });
  if (!updated) {
    await env.ATTACHMENTS.delete(key);
    throw new AppError("conflict", "This attachment was already uploaded");
  }
  return updated;
}

/** What a send stores for an upload: the contract's `{attachment_id, url, mime_type, size_bytes, name, width?, height?}`. */
export function storedAttachmentOf(row: AttachmentRow): Attachment {
  return {
    attachment_id: row.id,
    url: downloadPath(row.id),
    mime_type: row.mimeType,
    size_bytes: row.sizeBytes,
    name: row.name,
    ...(row.width !== null && row.height !== null && { width: row.width, height: row.height }),
  };
}

type SendItem = AttachmentRef | Attachment;
const isRef = (item: SendItem): item is AttachmentRef => "attachment_id" in item && !("url" in item);

/** Why an upload cannot go with this message (its row as the sender's uploads hold it), or null. */
function problemOf(
  row: AttachmentRow | undefined,
  messageType: MessageType,
): { field: "attachment_id" | "message_type"; message: string } | null {
  if (!row || row.state === "deleting") return { field: "attachment_id", message: "not an attachment you uploaded" };
  if (row.state === "pending") return { field: "attachment_id", message: "has no bytes yet: PUT them to its upload_url first" };
  const kind = kindOf(row.mimeType);
  if (kind !== messageType) return { field: "message_type", message: `must be "${kind}" for a ${row.mimeType} attachment` };
  return null;
}

/**
 * A send's attachments as the message will store them, and the claim its batch must make. Refs must
 * name uploads of the sender's whose bytes are in, each once, of the message's kind. Whether an
 * upload is still unsent is decided by the claim inside the batch (never by this read): a replay of
 * the same send finds it taken by its own original and is answered as the replay.
 */
export async function resolveAttachments(
  db: Db,
  senderId: string,
  messageType: MessageType,
  items: SendItem[],
  now: string,
): Promise<{ attachments: Attachment[]; claim: AttachmentClaim | null }> {
  const ids = items.filter(isRef).map((r) => r.attachment_id);
  if (ids.length === 0) return { attachments: items as Attachment[], claim: null };
  const rows = new Map((await uploadsOf(db, senderId, ids)).map((r) => [r.id, r]));
  const details: Record<string, string[]> = {};
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (!isRef(item)) return;
    const field = `attachments.${i}.attachment_id`;
    if (seen.has(item.attachment_id)) details[field] = ["is listed twice"];
    seen.add(item.attachment_id);
    const problem = problemOf(rows.get(item.attachment_id), messageType);
    if (problem) details[problem.field === "message_type" ? "message_type" : field] = [problem.message];
  });
  if (Object.keys(details).length) throw invalid("The attachments cannot be sent", details);
  const stored = items.map((item) => {
    const row = isRef(item) ? rows.get(item.attachment_id) : undefined;
    return row ? storedAttachmentOf(row) : (item as Attachment);
  });
  return { attachments: stored, claim: { ids, uploaderId: senderId, sentAt: now } };
}

export const attachmentTaken = () =>
  new AppError("conflict", "An attachment of this message was already sent with another message, or removed", {
    attachments: ["each upload can be sent once"],
  });

/**
 * Who may fetch the bytes, decided from the message as it is now: the uploader; once sent, its two
 * participants, except its receiver when it is deleted or blocked. A hard-deleted message's
 * attachments are no one's.
 */
function canView({ attachment, message }: AttachmentAccessRow, viewerId: string): boolean {
  if (attachment.state === "uploaded") return attachment.uploaderId === viewerId;
  if (attachment.state !== "sent" || !message) return false;
  if (viewerId === message.senderId) return true;
  return viewerId === message.receiverId && !message.isDeleted && message.moderationStatus !== "blocked";
}

export type ByteRange = { offset: number; length: number };

/**
 * One `bytes=` range (RFC 9110 §14.1.2): `a-b`, `a-`, `-n`. Several ranges, or a header we cannot
 * read, are ignored (the whole file, 200), as the RFC allows; a range past the end is unsatisfiable.
 */
export function rangeOf(header: string | undefined, size: number): ByteRange | null | "unsatisfiable" {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return "unsatisfiable";
  if (end < start) return null;
  return { offset: start, length: end - start + 1 };
}

export type Download = { attachment: AttachmentRow; body: ReadableStream; range: ByteRange | null; etag: string };

async function openBytes(env: Env, attachment: AttachmentRow, rangeHeader: string | undefined): Promise<Download> {
  const range = rangeOf(rangeHeader, attachment.sizeBytes);
  if (range === "unsatisfiable") {
    throw new AppError(
      "range_not_satisfiable",
      `The file has ${attachment.sizeBytes} bytes`,
      { size_bytes: attachment.sizeBytes },
      {
        "Content-Range": `bytes */${attachment.sizeBytes}`,
      },
    );
  }
  const object = attachment.r2Key ? await env.ATTACHMENTS.get(attachment.r2Key, range ? { range } : {}) : null;
  if (!object) {
    logError("attachment.bytes_missing", new Error("R2 object missing"), { attachmentId: attachment.id });
    throw notFound("Attachment not found");
  }
  return { attachment, body: object.body, range, etag: object.httpEtag };
}

/** GET /api/v2/attachments/{id}: 404 for anyone who may not see it now (no existence oracle). */
/**
 * The row, if the viewer may fetch it now: `canView`, and the conversation is one the viewer still
 * sees (not one they block, not unmatched), as its history is.
 */
async function viewable(db: Db, viewerId: string, id: string): Promise<AttachmentAccessRow> {
  const row = await findWithMessage(db, id);
  if (!row || !canView(row, viewerId)) throw notFound("Attachment not found");
  if (row.message) {
    const partner = row.message.senderId === viewerId ? row.message.receiverId : row.message.senderId;
    await assertConversationVisible(db, viewerId, partner).catch(() => {
      throw notFound("Attachment not found");
    });
  }
  return row;
}

export async function openDownload({ db, env }: Deps, viewerId: string, id: string, rangeHeader?: string): Promise<Download> {
  const row = await viewable(db, viewerId, id);
  return openBytes(env, row.attachment, rangeHeader);
}

/** Moderators: the attachment of any message that still exists (deleted or blocked included); never an unsent upload. */
export async function openAdminDownload({ db, env }: Deps, id: string, rangeHeader?: string): Promise<Download> {
  const row = await findWithMessage(db, id);
  if (row?.attachment.state !== "sent" || !row.message) throw notFound("Attachment not found");
  return openBytes(env, row.attachment, rangeHeader);
}

/** A short-lived download URL for an `<img>`/`<video>` (which cannot send Authorization). */
export async function issueTicket({ db, env }: Deps, viewerId: string, id: string): Promise<{ path: string; expiresAt: string }> {
  await viewable(db, viewerId, id);
  const expiresAt = new Date(Date.now() + attachmentLimitsOf(env).ticketTtlSeconds * 1000);
  const ticket = await signTicket(env.ATTACHMENT_TICKET_KEY, id, viewerId, expiresAt);
  return { path: `${downloadPath(id)}?ticket=${encodeURIComponent(ticket)}`, expiresAt: expiresAt.toISOString() };
}

/** The viewer a ticket names, if it is genuine, for this attachment, and unexpired. */
export const viewerOfTicket = (env: Env, id: string, ticket: string) => verifyTicket(env.ATTACHMENT_TICKET_KEY, id, ticket);

/** Moderators' views point at the admin download route (audited) instead of the participants' one. */
export const forModerators = (a: Attachment): Attachment => (a.attachment_id ? { ...a, url: adminDownloadPath(a.attachment_id) } : a);

/** Every object under an attachment's prefix: its verified bytes and anything a failed attempt left. */
async function removeObjects(env: Env, ids: string[]): Promise<void> {
  for (const id of ids) {
    let cursor: string | undefined;
    do {
      const page = await env.ATTACHMENTS.list({ prefix: `attachments/${id}/`, cursor });
      if (page.objects.length) await env.ATTACHMENTS.delete(page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
  }
}

/** Rows already in `deleting`: bytes first, rows after, so a failure part-way is retried by the purge. */
async function finishDeleting(db: Db, env: Env, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await removeObjects(env, ids);
  await deleteAttachmentRows(db, ids);
}

const chunksOf = <T>(items: T[], size: number) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

/**
 * The bytes (and rows) of these messages' attachments, for a hard delete or an erasure. Rows leave
 * service first (`deleting`: never served again), then the bytes go, then the rows; what a failure
 * leaves is finished by the scheduled purge.
 */
export async function deleteAttachmentBytes(db: Db, env: Env, messageRows: { id: string }[]): Promise<void> {
  for (const chunk of chunksOf(
    messageRows.map((m) => m.id),
    100,
  )) {
    const marked = await markDeletingOfMessages(db, chunk);
    await finishDeleting(
      db,
      env,
      marked.map((r) => r.id),
    );
  }
}

const PURGE_BATCH = 50;
const PURGE_MAX_BATCHES = 40;

/** The scheduled job: uploads never sent within 24 hours, and deletions left unfinished. */
/**
 * An erasure's last step: the user's uploads never sent (at most 100; the scheduled purge removes
 * any left after 24 hours anyway). Guarded like the purge: an upload sent meanwhile stays.
 */
export async function deleteUnsentUploadsOf(db: Db, env: Env, uploaderId: string): Promise<number> {
  const ids = (await unsentUploadsOfQuery(db, uploaderId, 100)).map((r) => r.id);
  const marked = await markDeletingUnsent(db, ids, LATEST);
  await finishDeleting(
    db,
    env,
    marked.map((r) => r.id),
  );
  return marked.length;
}

export async function purgeUnsentAttachments(db: Db, env: Env, now: Date): Promise<{ removed: number }> {
  const cutoff = new Date(now.getTime() - UNSENT_TTL_MS).toISOString();
  let removed = 0;
  for (let batch = 0; batch < PURGE_MAX_BATCHES; batch++) {
    const leftovers = (await deletingQuery(db, PURGE_BATCH)).map((r) => r.id);
    const ids = leftovers.length
      ? leftovers
      : (
          await markDeletingUnsent(
            db,
            (await staleUploadsQuery(db, cutoff, PURGE_BATCH)).map((r) => r.id),
            cutoff,
          )
        ).map((r) => r.id);
    if (ids.length === 0) break;
    await finishDeleting(db, env, ids);
    removed += ids.length;
  }
  return { removed };
}
