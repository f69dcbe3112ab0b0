/**
 * One reconnecting WebSocket. After any drop (network, server restart, a token that expired: close
 * code 4001) it reconnects with exponential backoff and full jitter, asking `url()` again each time,
 * so a conversation socket always resumes with `since=<highest seq held>` and nothing is lost.
 */
import { signal } from "@preact/signals";
import { WS_PROTOCOL } from "./api";

export type SocketState = "connecting" | "open" | "reconnecting" | "closed";

export type SocketOptions = {
  url: () => string;
  /** A valid token, or null when the user must sign in again (the socket then stops). */
  token: (opts: { renew: boolean }) => Promise<string | null>;
  onEvent: (event: { type: string } & Record<string, unknown>) => void;
  /** After each successful (re)connect. */
  onOpen?: () => void;
  /** The server closed it for good (4403 account suspended, 4404 conversation blocked or unmatched): no reconnect. */
  onEnded?: (code: number) => void;
  /**
   * Asked when an upgrade fails before the socket ever opened: true when the server is reachable
   * (another socket of ours is open), so the server refused this one (a 404: the conversation is
   * blocked or unmatched; browsers cannot read the status). The socket then ends (as 4404) instead of
   * retrying forever.
   */
  refused?: () => boolean;
};

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES = new Set([4403, 4404]);

/** The exact frame the server's auto-response answers without waking the room. */
const PING_FRAME = '{"type":"ping"}';
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 8_000;
const PING_EVERY_MS = 20_000;
/** A socket that answers nothing for this long after a ping is dead, whatever the browser thinks. */
const PONG_WITHIN_MS = 8_000;

export class ReconnectingSocket {
  readonly state = signal<SocketState>("connecting");
  private ws: WebSocket | null = null;
  private attempt = 0;
  private stopped = false;
  private renewToken = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly onOnline = () => this.reconnectNow();

  constructor(private readonly opts: SocketOptions) {}

  start() {
    addEventListener("online", this.onOnline);
    void this.connect();
  }

  /** Sends a frame if the socket is open; says whether it went out. */
  send(frame: { type: string } & Record<string, unknown>): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.stopped = true;
    removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    this.clearHeartbeat();
    this.ws?.close(1000, "bye");
    this.state.value = "closed";
  }

  private async connect() {
    if (this.stopped) return;
    const token = await this.opts.token({ renew: this.renewToken });
    this.renewToken = false;
    if (this.stopped) return;
    if (!token) {
      this.close();
      return;
    }
    const ws = new WebSocket(this.opts.url(), [WS_PROTOCOL, `bearer.${token}`]);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.startHeartbeat();
    };
    ws.onmessage = (e) => {
      clearTimeout(this.deadTimer);
      // Up once the server has said something (conversations send presence, inboxes the unread
      // count): a proxy that accepts and drops the upgrade never counts as connected.
      if (this.state.value !== "open") {
        this.attempt = 0;
        this.state.value = "open";
        this.opts.onOpen?.();
      }
      let event: unknown;
      try {
        event = JSON.parse(String(e.data));
      } catch {
        return;
      }
      if (event && typeof event === "object" && typeof (event as { type?: unknown }).type === "string") {
        const e = event as { type: string; close_code?: unknown } & Record<string, unknown>;
        // The server says it is closing this socket for good (some proxies deliver the close code late, or as 1006).
        if (e.type === "error" && typeof e.close_code === "number" && FINAL_CLOSE_CODES.has(e.close_code)) {
          this.close();
          this.opts.onEnded?.(e.close_code);
          return;
        }
        this.opts.onEvent(e);
      }
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearHeartbeat();
      if (this.stopped) return;
      const refused = !opened && this.opts.refused?.() ? 4404 : null;
      if (FINAL_CLOSE_CODES.has(e.code) || refused) {
        this.close();
        this.opts.onEnded?.(refused ?? e.code);
        return;
      }
      // 4001: the token that opened the socket expired. Reconnect at once with a fresh one.
      if (e.code === 4001) {
        this.renewToken = true;
        this.state.value = "reconnecting";
        void this.connect();
        return;
      }
      this.scheduleReconnect();
    };
  }

  /** A socket that went silent: stop waiting for its close handshake and start over. */
  private abandon(ws: WebSocket) {
    if (this.ws !== ws) return;
    this.ws = null;
    ws.onclose = ws.onmessage = ws.onopen = null;
    ws.close();
    this.clearHeartbeat();
    this.scheduleReconnect();
  }

  private scheduleReconnect() {
    this.state.value = "reconnecting";
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    this.attempt++;
    // After a few failures the token itself may be what the server refuses (an upgrade's 401 looks
    // like any other failure to a browser), so ask for a fresh one.
    if (this.attempt % 4 === 0) this.renewToken = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), cap / 2 + Math.random() * (cap / 2));
  }

  private reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    void this.connect();
  }

  private startHeartbeat() {
    this.clearHeartbeat();
    this.pingTimer = setInterval(() => {
      if (this.ws?.readyState !== WebSocket.OPEN) return;
      this.ws.send(PING_FRAME);
      clearTimeout(this.deadTimer);
      const ws = this.ws;
      this.deadTimer = setTimeout(() => ws && this.abandon(ws), PONG_WITHIN_MS);
    }, PING_EVERY_MS);
  }

  private clearHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
  }
}
