import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { inboxSyncQuery, unreadCount } from "../db/messages";
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

/** How many of the most recent conversations an inbox socket's `sync` lists (beyond: `has_more`, use HTTP). */
export const SYNC_CONVERSATIONS = 50;

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
    // Held until sync and the first count are out, so live events (and newer counts) follow them.
    // Nothing may escape blockConcurrencyWhile: a throw there resets the object and drops every socket.
    await this.ctx.blockConcurrencyWhile(() =>
      this.sync(server, userId).catch((err: unknown) => {
        logError("inbox.sync_failed", err);
        finishClose(server, 1011, "could not read the inbox; reconnect");
      }),
    );
    return upgradeResponse(client, request);
  }

  /**
   * The new socket's first event: the most recent conversations with their newest seq and unread count.
   * Inbox `message.new` events carry the message's `seq`, so a client that holds `last_seq` per partner
   * orders them and sees a gap (a lost or late event) as a seq more than one ahead; it then refetches
   * that conversation. Every socket then gets the count (a device joining recounts for all of them).
   */
  private async sync(ws: WebSocket, userId: string): Promise<void> {
    const db = dbOf(this.env.DB);
    const generation = ++this.countGeneration;
    const [rows, count] = await Promise.all([inboxSyncQuery(db, userId, SYNC_CONVERSATIONS + 1), unreadCount(db, userId)]);
    sendEvent(ws, {
      type: "sync",
      conversations: rows
        .slice(0, SYNC_CONVERSATIONS)
        .map((r) => ({ partner_id: r.partnerId, last_seq: r.lastSeq, unread_count: Number(r.unreadCount) })),
      unread_count: count,
      has_more: rows.length > SYNC_CONVERSATIONS,
    });
    if (generation !== this.countGeneration) return; // a newer count is under way
    for (const s of this.sockets()) sendEvent(s, { type: "unread", unread_count: count });
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
