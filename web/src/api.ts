/**
 * The one typed client. Paths, inputs and outputs come from the server's own route definitions
 * (hono/client over each router's type), so a renamed field breaks `npm run typecheck`, not a user.
 * Only this module and socket.ts talk to the network.
 */

import type { z } from "@hono/zod-openapi";
import { hc } from "hono/client";
import type { adminAccountRoutes } from "../../src/routes/admin/admins";
import type { adminAttachmentRoutes } from "../../src/routes/admin/attachments";
import type { adminAuditRoutes } from "../../src/routes/admin/audit";
import type { adminCreditRoutes } from "../../src/routes/admin/credits";
import type { adminMeRoutes } from "../../src/routes/admin/me";
import type { adminMessageRoutes } from "../../src/routes/admin/messages";
import type { adminReportRoutes } from "../../src/routes/admin/reports";
import type { adminUserRoutes } from "../../src/routes/admin/users";
import type { attachmentRoutes } from "../../src/routes/attachments";
import type { blockRoutes } from "../../src/routes/blocks";
import type { conversationRoutes } from "../../src/routes/conversations";
import type { creditRoutes } from "../../src/routes/credits";
import type { devRoutes } from "../../src/routes/dev";
import type { messageRoutes } from "../../src/routes/messages";
import type { pushRoutes } from "../../src/routes/push";
import type { realtimeRoutes } from "../../src/routes/realtime";
import type { reportRoutes } from "../../src/routes/reports";
import type { unmatchRoutes } from "../../src/routes/unmatch";
import type { AdminMessage } from "../../src/schemas/admin";
import type * as attachments from "../../src/schemas/attachments";
import type { Message } from "../../src/schemas/messages";
import type { AdminReport } from "../../src/schemas/reports";

export type { AdminMessage, AdminReport, Message };
export type StoredAttachment = z.infer<typeof attachments.StoredAttachment>;
export type UploadedAttachment = z.infer<typeof attachments.UploadedAttachment>;

/** The contract's error body, plus what the response said around it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Seconds, from `Retry-After` (429). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Raised when the request never got an answer (offline, server restarting). */
export class NetworkError extends Error {}

let currentToken: () => string | null = () => null;
/** Called on a 401, once per failed call: may fetch a fresh token (dev sign-in) and say whether to retry. */
let onUnauthorized: () => Promise<boolean> = async () => false;

export function useToken(get: () => string | null, refresh: () => Promise<boolean>) {
  currentToken = get;
  onUnauthorized = refresh;
}

/**
 * The D1 bookmark of the last answer: sent back with every call, so a read served by a replica is at
 * least as fresh as this tab's last write (read replication; the server answers a newer one each time).
 */
let bookmark: string | null = null;
const BOOKMARK_HEADER = "x-d1-bookmark";

const options = {
  headers: (): Record<string, string> => {
    const token = currentToken();
    return { ...(token && { authorization: `Bearer ${token}` }), ...(bookmark && { [BOOKMARK_HEADER]: bookmark }) };
  },
};

const origin = () => globalThis.location?.origin ?? "http://localhost";

export const api = {
  /** Local sign-in: compiled out of the production build. */
  dev: __DEV_SIGN_IN__ ? hc<typeof devRoutes>(`${origin()}/api/dev`) : null,
  messages: hc<typeof messageRoutes>(`${origin()}/api/v2/messages`, options),
  conversations: hc<typeof conversationRoutes>(`${origin()}/api/v2/messages`, options),
  realtime: hc<typeof realtimeRoutes>(`${origin()}/api/v2/messages`, options),
  credits: hc<typeof creditRoutes>(`${origin()}/api/v2/credits`, options),
  attachments: hc<typeof attachmentRoutes>(`${origin()}/api/v2/attachments`, options),
  push: hc<typeof pushRoutes>(`${origin()}/api/v2/push`, options),
  blocks: hc<typeof blockRoutes>(`${origin()}/api/v2/blocks`, options),
  unmatch: hc<typeof unmatchRoutes>(`${origin()}/api/v2/conversations`, options),
  reports: hc<typeof reportRoutes>(`${origin()}/api/v2/reports`, options),
  admin: {
    me: hc<typeof adminMeRoutes>(`${origin()}/api/admin`, options),
    messages: hc<typeof adminMessageRoutes>(`${origin()}/api/admin`, options),
    audit: hc<typeof adminAuditRoutes>(`${origin()}/api/admin`, options),
    accounts: hc<typeof adminAccountRoutes>(`${origin()}/api/admin`, options),
    credits: hc<typeof adminCreditRoutes>(`${origin()}/api/admin`, options),
    attachments: hc<typeof adminAttachmentRoutes>(`${origin()}/api/admin`, options),
    reports: hc<typeof adminReportRoutes>(`${origin()}/api/admin`, options),
    users: hc<typeof adminUserRoutes>(`${origin()}/api/admin`, options),
  },
};

type Typed<T> = { ok: boolean; status: number; headers: Headers; json(): Promise<T> };
type OkBody<R> = R extends Typed<infer T> ? (R extends { ok: true } ? T : never) : never;

/**
 * Runs one call and returns its success body, or throws ApiError / NetworkError. A 401 gets one
 * retry after `onUnauthorized` (a fresh token).
 */
export async function call<R extends Typed<unknown>>(send: () => Promise<R>): Promise<OkBody<R>> {
  for (let attempt = 0; ; attempt++) {
    let res: R;
    try {
      res = await send();
    } catch (err) {
      throw new NetworkError(err instanceof Error ? err.message : String(err));
    }
    // Bookmarks compare as strings (later is greater): keep the freshest this tab has seen.
    const answered = res.headers.get(BOOKMARK_HEADER);
    if (answered && (!bookmark || answered > bookmark)) bookmark = answered;
    if (res.ok) return (await res.json()) as OkBody<R>;
    if (res.status === 401 && attempt === 0 && (await onUnauthorized())) continue;
    throw await errorOf(res);
  }
}

export async function errorOf(res: { status: number; headers: Headers; json(): Promise<unknown> }): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as {
    error?: { code?: string; message?: string; details?: Record<string, unknown> };
  } | null;
  const retry = Number(res.headers.get("retry-after"));
  return new ApiError(
    res.status,
    body?.error?.code ?? "internal",
    body?.error?.message ?? `The server answered ${res.status}`,
    body?.error?.details,
    Number.isFinite(retry) && retry > 0 ? retry : undefined,
  );
}

/** An error in words a person can act on. */
export function describeError(err: unknown): string {
  if (err instanceof NetworkError) return "Could not reach Pairly. Check your connection and try again.";
  if (!(err instanceof ApiError)) return "Something went wrong. Try again.";
  switch (err.code) {
    case "unauthorized":
      return "Your session has ended. Sign in again.";
    case "forbidden":
      return "You are not allowed to do that.";
    case "not_found":
      return "That no longer exists, or is not yours to see.";
    case "rate_limited":
      return `Too many messages at once. Try again in ${err.retryAfter ?? 10} seconds.`;
    case "validation_failed": {
      const fields = Object.entries(err.details ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : String(v)}`);
      return fields.length ? `Please check: ${fields.join("; ")}.` : err.message;
    }
    default:
      return err.message;
  }
}

/** The WebSocket URL of a conversation (with `since`) or of the inbox; the token travels as a subprotocol. */
export function socketUrl(query: { partner_id?: string; since?: number }): string {
  const url = api.realtime.ws.$url({
    query: { partner_id: query.partner_id, since: query.since === undefined ? undefined : String(query.since) },
  });
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

export const WS_PROTOCOL = "pairly.v1";

/** A same-origin link to a streamed export, fetched with the token and saved under the server's file name. */
export async function download(query: Record<string, string>): Promise<void> {
  const url = api.admin.messages.messages.export.$url({ query });
  const res = await fetch(url, { headers: options.headers() }).catch((err) => {
    throw new NetworkError(String(err));
  });
  if (!res.ok) throw await errorOf(res);
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? "pairly-messages.csv";
  const href = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}

export const exportHref = (query: Record<string, string>) => api.admin.messages.messages.export.$url({ query }).toString();

/**
 * PUT the bytes of an announced upload to its `upload_url` (Content-Type = the declared type), reporting progress (0..1). XMLHttpRequest,
 * not fetch: only it reports upload progress in every browser. A 401 gets one retry with a fresh token.
 */
export async function uploadBytes(
  uploadUrl: string,
  file: Blob,
  contentType: string,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<UploadedAttachment> {
  for (let attempt = 0; ; attempt++) {
    const res = await new Promise<{ status: number; headers: Headers; text: string }>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", uploadUrl);
      for (const [k, v] of Object.entries(options.headers())) xhr.setRequestHeader(k, v);
      xhr.setRequestHeader("content-type", contentType);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        const headers = new Headers();
        const retry = xhr.getResponseHeader("retry-after");
        if (retry) headers.set("retry-after", retry);
        resolve({ status: xhr.status, headers, text: xhr.responseText });
      };
      xhr.onerror = () => reject(new NetworkError("The upload was interrupted"));
      xhr.onabort = () => reject(new NetworkError("The upload was cancelled"));
      signal?.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.send(file);
    });
    const json = () => Promise.resolve().then(() => JSON.parse(res.text) as unknown);
    if (res.status === 200) return (await json()) as UploadedAttachment;
    if (res.status === 401 && attempt === 0 && (await onUnauthorized())) continue;
    throw await errorOf({ status: res.status, headers: res.headers, json });
  }
}

/**
 * An admin attachment as a blob URL: the admin route takes only the Authorization header, which an
 * `<img>` cannot send. The caller revokes the URL when it is no longer shown.
 */
export async function adminAttachmentBlobUrl(attachmentId: string): Promise<string> {
  const res = await api.admin.attachments.attachments[":attachment_id"]
    .$get({ param: { attachment_id: attachmentId } })
    .catch((err: unknown) => {
      throw new NetworkError(String(err));
    });
  if (!res.ok) throw await errorOf(res);
  return URL.createObjectURL(await res.blob());
}
