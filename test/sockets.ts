/**
 * Real WebSockets through the Worker route (so auth-before-upgrade is exercised every time).
 * `settle()` sends a ping and waits for its pong: a socket delivers in order, so everything sent
 * to it before the pong has arrived by then, and "nothing else came" can be asserted without
 * sleeping.
 */
import { env, exports } from "cloudflare:workers";
import { TRUSTED } from "../src/durable-objects/sockets";
import { conversationIdOf } from "../src/lib/ids";
import { announcementsSettled } from "../src/services/realtime";
import { BASE, tokenFor } from "./helpers";

// biome-ignore lint/suspicious/noExplicitAny: events are asserted structurally
export type Event = { type: string; [key: string]: any };

export class TestSocket {
  private readonly events: Event[] = [];
  private readonly waiters: (() => void)[] = [];
  closed: { code: number; reason: string } | null = null;
  /** The `sync` a plain conversation socket started with (set by openSocket). */
  joined: Event | null = null;

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      this.events.push(JSON.parse(String(e.data)));
      this.wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
    ws.addEventListener("error", () => this.wake());
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  private async waitFor<T>(pick: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = pick();
      if (hit !== undefined) return hit;
      if (this.closed) throw new Error(`socket closed (${this.closed.code}) while waiting for ${what}; got ${JSON.stringify(this.events)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; unread: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The next unread event of this type (earlier events of other types stay unread). */
  nextOf(type: string, timeoutMs?: number): Promise<Event> {
    return this.waitFor(
      () => {
        const i = this.events.findIndex((e) => e.type === type);
        return i === -1 ? undefined : this.events.splice(i, 1)[0];
      },
      `"${type}"`,
      timeoutMs,
    );
  }

  /** What arrived and is still unread, without waiting (a closed socket cannot settle). */
  get unread(): Event[] {
    return [...this.events];
  }

  /** The first unread event, whatever its type. */
  first(timeoutMs?: number): Promise<Event> {
    return this.waitFor(() => this.events.shift(), "any event", timeoutMs);
  }

  /** Resolves once the server closed the socket (or it failed); the close code and reason. */
  async closedBy(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`socket still open; unread: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /**
   * Round trip a ping through the object; afterwards the object has handled every frame sent
   * before it, and every event it sent before the pong has been received. (The exact text
   * {"type":"ping"} is answered by the runtime's auto-response without reaching the object, so
   * this one is spelled differently on purpose.)
   */
  async settle(): Promise<void> {
    // Sends answer before their fan-out: let every announcement under way reach its objects first.
    await announcementsSettled();
    this.send('{"type": "ping"}');
    await this.nextOf("pong");
  }

  /** Everything unread, in arrival order (after settling); the buffer is emptied. */
  async drain(): Promise<Event[]> {
    await this.settle();
    return this.events.splice(0);
  }

  close(code = 1000) {
    this.ws.close(code, "test done");
  }
}

export type SocketOptions = { partner?: string; since?: number; via?: "header" | "protocol" };

export function wsUrl(o: SocketOptions = {}) {
  const q = new URLSearchParams();
  if (o.partner) q.set("partner_id", o.partner);
  if (o.since !== undefined) q.set("since", String(o.since));
  return `${BASE}/api/v2/messages/ws${q.size ? `?${q}` : ""}`;
}

export async function upgrade(userId: string, o: SocketOptions = {}): Promise<Response> {
  const token = await tokenFor(userId);
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (o.via === "protocol") headers["sec-websocket-protocol"] = `pairly.v1, bearer.${token}`;
  else headers.authorization = `Bearer ${token}`;
  return exports.default.fetch(wsUrl(o), { headers });
}

/** Opens and accepts a socket; every event it gets stays unread. */
export async function connect(userId: string, o: SocketOptions = {}): Promise<TestSocket> {
  const res = await upgrade(userId, o);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  return new TestSocket(res.webSocket);
}

/**
 * Opens a socket as a client would use it. A conversation socket without `since` starts with
 * `sync {last_seq}`, an inbox socket with `sync {conversations, unread_count, has_more}`; that first
 * event is taken here (asserted to come first) and kept as `joined`, so tests read what follows.
 * Resuming sockets keep their replay and sync unread.
 */
export async function openSocket(userId: string, o: SocketOptions = {}): Promise<TestSocket> {
  const socket = await connect(userId, o);
  if (o.since === undefined) {
    socket.joined = await socket.first();
    if (socket.joined.type !== "sync") throw new Error(`expected sync first, got ${JSON.stringify(socket.joined)}`);
  }
  return socket;
}

export const roomStub = (a: string, b: string) => env.CONVERSATION_ROOM.getByName(conversationIdOf(a, b));

/** `user`'s upgrade to the room of `user` and `partner` as the Worker forwards it (its own checks passed). */
export const forwardedUpgrade = (user: string, partner: string) =>
  roomStub(user, partner).fetch("https://do.internal/connect", {
    headers: {
      Upgrade: "websocket",
      [TRUSTED.user]: user,
      [TRUSTED.scope]: conversationIdOf(user, partner),
      [TRUSTED.expires]: String(Date.now() + 60_000),
    },
  });
