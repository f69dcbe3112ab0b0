import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { unreadCount } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { logError } from "../lib/log";
import type { RoomEvent } from "../schemas/events";
import { applyReceipts } from "../services/receipts";
import { toEventView } from "../services/views";
import {
  expiresAtOf,
  FrameLimiter,
  finishClose,
  liveSockets,
  metaOf,
  PING_FRAME,
  PONG_FRAME,
  parseFrame,
  type SocketMeta,
  sendEvent,
  TRUSTED,
  upgradeResponse,
} from "./sockets";

/**
 * One object per user: the inbox sockets (`/ws` without a partner) of all their devices. It gets
 * every new message of every conversation of its user and tells them their unread count.
 * With no socket open it does nothing at all (no D1 read), so idle inboxes cost nothing.
 */
export class Inbox extends DurableObject<Env> {
  private readonly limiter = new FrameLimiter();
  /** Counts are read from D1 concurrently; only the newest read may reach the sockets. */
  private countGeneration = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  private sockets(): WebSocket[] {
    return liveSockets(this.ctx.getWebSockets());
  }

  override async fetch(request: Request): Promise<Response> {
    const userId = request.headers.get(TRUSTED.user);
    if (
      !userId ||
      request.headers.get(TRUSTED.scope) !== `inbox:${userId}` ||
      request.headers.get("upgrade")?.toLowerCase() !== "websocket"
    ) {
      return new Response("internal upgrade only", { status: 400 });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({
      socketId: crypto.randomUUID(),
      userId,
      connectedAt: Date.now(),
      expiresAt: expiresAtOf(request),
      syncedSeq: 0,
    } satisfies SocketMeta);
    // Held until the first count is out, so a newer count (from a message arriving now) follows it.
    // Nothing may escape blockConcurrencyWhile: a throw there resets the object and drops every socket.
    await this.ctx.blockConcurrencyWhile(() =>
      this.refreshUnread().catch((err: unknown) => {
        logError("inbox.count_failed", err);
        finishClose(server, 1011, "could not read the unread count; reconnect");
      }),
    );
    return upgradeResponse(client, request);
  }

  /** RPC: a message was committed in one of this user's conversations. True when a live socket got it. */
  async newMessage(m: MessageRow): Promise<boolean> {
    const sockets = this.sockets();
    if (sockets.length === 0) return false;
    const owner = metaOf(sockets[0] as WebSocket).userId;
    for (const ws of sockets) sendEvent(ws, toEventView("message.new", m, owner));
    if (m.receiverId === owner) await this.refreshUnread();
    return true;
  }

  /** RPC: messages of this user's were deleted or moderated (list previews change), and/or the count moved. */
  async changed(events: RoomEvent[], recount: boolean): Promise<void> {
    const sockets = this.sockets();
    if (sockets.length === 0) return;
    const owner = metaOf(sockets[0] as WebSocket).userId;
    for (const e of events) for (const ws of sockets) sendEvent(ws, toEventView(e.type, e.message, owner));
    if (recount) await this.refreshUnread();
  }

  /** RPC: something may have changed this user's unread count (a read, a delete, a moderation). */
  async refreshUnread(): Promise<void> {
    const sockets = this.sockets();
    if (sockets.length === 0) return;
    const generation = ++this.countGeneration;
    const count = await unreadCount(dbOf(this.env.DB), metaOf(sockets[0] as WebSocket).userId);
    if (generation !== this.countGeneration) return; // a later read is under way; it has the newer count
    for (const ws of this.sockets()) sendEvent(ws, { type: "unread", unread_count: count });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    if (!liveSockets([ws]).length) return; // its token expired: closed, nothing applied
    if (!this.limiter.allow(metaOf(ws).socketId))
      return sendEvent(ws, { type: "error", code: "rate_limited", message: "Too many frames; slow down" });
    const frame = parseFrame(raw);
    if (!frame.ok) return sendEvent(ws, { type: "error", code: frame.code, message: frame.message });
    const { userId } = metaOf(ws);
    const event = frame.event;
    try {
      switch (event.type) {
        case "ping":
          return sendEvent(ws, { type: "pong" });
        case "typing":
          return sendEvent(ws, {
            type: "error",
            code: "validation_failed",
            message: "Typing belongs to a conversation socket (?partner_id=)",
          });
        case "ack":
        case "read": {
          // Same rules as HTTP; the change fans out to each message's conversation room.
          const changed = await applyReceipts(dbOf(this.env.DB), this.env, event.type, event.message_ids, userId, {
            refreshReaderInbox: false,
          });
          if (event.type === "read" && changed.length) await this.refreshUnread();
          return;
        }
      }
    } catch (err) {
      logError("inbox.frame_failed", err, { type: event.type });
      sendEvent(ws, { type: "error", code: "internal", message: "Could not apply that frame; try again" });
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    finishClose(ws, code, reason);
    this.limiter.forget(metaOf(ws).socketId);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    logError("inbox.socket_error", error);
    finishClose(ws, 1011, "socket error");
    this.limiter.forget(metaOf(ws).socketId);
  }
}
