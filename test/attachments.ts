/** Helpers for attachment tests: announce, upload and read back through the real Worker and the local R2 bucket. */
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { as, json, tokenFor } from "./helpers";

export const ATTACHMENTS = "/api/v2/attachments";

export function announce(user: string, mimeType: string, sizeBytes: number, name?: string) {
  return as(user).post(ATTACHMENTS, { mime_type: mimeType, size_bytes: sizeBytes, ...(name && { name }) });
}

/** PUT raw bytes (a Uint8Array sends Content-Length; a stream is sent chunked). */
export async function putBytes(
  user: string,
  uploadUrl: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  contentType: string,
  headers: Record<string, string> = {},
) {
  return exports.default.fetch(uploadUrl, {
    method: "PUT",
    headers: { authorization: `Bearer ${await tokenFor(user)}`, "content-type": contentType, ...headers },
    body,
  });
}

/** Announces and uploads; returns the attachment id. */
export async function uploaded(user: string, mimeType: string, bytes: Uint8Array, name?: string): Promise<string> {
  const created = await announce(user, mimeType, bytes.length, name);
  expect(created.status).toBe(201);
  const { attachment_id, upload_url } = await json(created);
  const put = await putBytes(user, upload_url, bytes, mimeType);
  expect(put.status, await put.clone().text()).toBe(200);
  return attachment_id;
}

export async function bucketKeys(prefix = "attachments/"): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.ATTACHMENTS.list({ prefix, cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

export const keysOf = (attachmentId: string) => bucketKeys(`attachments/${attachmentId}/`);

export async function attachmentRow(id: string) {
  return env.DB.prepare("SELECT * FROM attachments WHERE id = ?").bind(id).first<Record<string, unknown>>();
}

export function download(user: string | null, path: string, headers: Record<string, string> = {}) {
  const url = path.startsWith("http") ? path : `http://pairly.test${path}`;
  return (async () =>
    exports.default.fetch(url, { headers: { ...(user && { authorization: `Bearer ${await tokenFor(user)}` }), ...headers } }))();
}
