import { ClientEvent, type ServerEvent } from "../schemas/events";

/** Headers only our Worker sets when it forwards an authenticated upgrade to an object. */
export const TRUSTED = {
  user: "x-pairly-user",
  scope: "x-pairly-scope",
  protocol: "x-pairly-protocol",
  expires: "x-pairly-expires",
} as const;

/** Close code for a socket whose token expired: reconnect with a fresh token (and `since`). */
export const CLOSE_TOKEN_EXPIRED = 4001;
/** Close code for a socket refused at once: too many open, or too many joins lately (the reason says which). */
export const CLOSE_TOO_MANY = 4029;
/** Close code for a socket whose account is suspended (new ones are closed at once with it too): reading over HTTP still works. */
export const CLOSE_SUSPENDED = 4403;
/** Close code for a conversation socket once the conversation is blocked or unmatched: do not reconnect. */
export const CLOSE_CONVERSATION_GONE = 4404;

export const MAX_FRAME_BYTES = 4096;
export const PING_FRAME = '{"type":"ping"}';
export const PONG_FRAME = '{"type":"pong"}';

/** What each socket carries through hibernation: small and structured-cloneable. */
export type SocketMeta = {
  /** Stable across hibernation, unlike the WebSocket object handed to each event. */
  socketId: string;
  userId: string;
  connectedAt: number;
  /** The token's expiry (ms): past it the socket is closed with CLOSE_TOKEN_EXPIRED. */
  expiresAt: number;
  /**
   * Highest seq this socket has (its join's sync or resume, then each live message): a `message.new`
   * at or below it is a duplicate. The room rebuilds its hw from these after a wake.
   */
  syncedSeq: number;
};

export const metaOf = (ws: WebSocket) => ws.deserializeAttachment() as SocketMeta;

/** The token expiry the Worker verified, forwarded with the upgrade. */
export const expiresAtOf = (request: Request) => Number(request.headers.get(TRUSTED.expires) ?? 0);

/**
 * The open sockets whose token is still valid. One whose token expired is closed here, at its next
 * event, so a user whose access ended stops receiving (their client reconnects with a fresh token).
 */
export function liveSockets(all: WebSocket[], now = Date.now()): WebSocket[] {
  return all.filter((ws) => {
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (metaOf(ws).expiresAt > now) return true;
    finishClose(ws, CLOSE_TOKEN_EXPIRED, "token expired");
    return false;
  });
}

/** Sends, and drops a socket that can no longer take frames instead of failing the fan-out. */
export function sendEvent(ws: WebSocket, event: ServerEvent): void {
  try {
    ws.send(JSON.stringify(event));
  } catch {
    try {
      ws.close(1011, "send failed");
    } catch {
      // already gone
    }
  }
}

export type FrameResult = { ok: true; event: ClientEvent } | { ok: false; code: string; message: string };

/** Every client frame passes here: size, JSON, then the zod union. Nothing invalid reaches a handler. */
export function parseFrame(raw: string | ArrayBuffer): FrameResult {
  if (typeof raw !== "string") return { ok: false, code: "validation_failed", message: "Binary frames are not supported; send JSON text" };
  if (new TextEncoder().encode(raw).length > MAX_FRAME_BYTES) {
    return { ok: false, code: "payload_too_large", message: `Frames are limited to ${MAX_FRAME_BYTES} bytes` };
  }
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { ok: false, code: "validation_failed", message: "Frame is not valid JSON" };
  }
  const parsed = ClientEvent.safeParse(data);
  if (parsed.success) return { ok: true, event: parsed.data };
  const type = typeof data === "object" && data !== null && "type" in data ? String((data as { type: unknown }).type) : undefined;
  const known = ["typing", "ack", "read", "ping"];
  return type && known.includes(type)
    ? {
        ok: false,
        code: "validation_failed",
        message: `Invalid "${type}" frame: ${parsed.error.issues.map((i) => `${i.path.join(".") || "frame"} ${i.message}`).join("; ")}`,
      }
    : {
        ok: false,
        code: "validation_failed",
        message: `Unknown frame type${type ? ` "${type}"` : ""}; expected one of ${known.join(", ")}`,
      };
}

/**
 * Per-socket token bucket, keyed by the socket's id (the runtime may hand us a different
 * WebSocket object per event). In memory on purpose: after hibernation a socket starts with a
 * full bucket, which costs nothing and keeps idle rooms free of state.
 */
export const FRAME_BURST = 20;
export const FRAME_REFILL_PER_SECOND = 5;

export class FrameLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly capacity = FRAME_BURST,
    private readonly perSecond = FRAME_REFILL_PER_SECOND,
  ) {}

  allow(socketId: string, now = Date.now()): boolean {
    const b = this.buckets.get(socketId) ?? { tokens: this.capacity, at: now };
    b.tokens = Math.min(this.capacity, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(socketId, b);
    return ok;
  }

  forget(socketId: string): void {
    this.buckets.delete(socketId);
  }
}

const FINAL = {
  [CLOSE_SUSPENDED]: { code: "forbidden", reason: "account suspended" },
  [CLOSE_CONVERSATION_GONE]: { code: "not_found", reason: "conversation unavailable" },
} as const;

/** The event a socket gets right before it is closed for good (also what `closeForGood` sends): see below. */
export const finalEvent = (closeCode: keyof typeof FINAL): ServerEvent => ({
  type: "error",
  code: FINAL[closeCode].code,
  message: FINAL[closeCode].reason,
  close_code: closeCode,
});

/**
 * Closes a socket for good (suspended, conversation blocked or unmatched), first telling it so in an
 * `error` event that names the close code: some proxies (wrangler dev's, for one) deliver a custom
 * close code late or as 1006, and a client must not mistake this close for a network drop and retry.
 */
export function closeForGood(ws: WebSocket, closeCode: keyof typeof FINAL): void {
  sendEvent(ws, finalEvent(closeCode));
  finishClose(ws, closeCode, FINAL[closeCode].reason);
}

/** The hibernation API leaves the close handshake to us; 1005/1006 cannot be sent on the wire. */
export function finishClose(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  } catch {
    // the peer is already gone
  }
}

/** The 101 answer, echoing our subprotocol when the browser offered it (as browsers require). */
export function upgradeResponse(client: WebSocket, request: Request): Response {
  const protocol = request.headers.get(TRUSTED.protocol);
  return new Response(null, { status: 101, webSocket: client, headers: protocol ? { "Sec-WebSocket-Protocol": protocol } : {} });
}
