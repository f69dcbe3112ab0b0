import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { inboxSyncQuery, unreadCount } from "../db/messages";
import { inboxScope } from "../db/presence";
import { hasActiveSubscription } from "../db/push";
import { isSuspended, roomVisitsQuery } from "../db/safety";
import type { MessageRow } from "../db/schema";
import { participantsOf } from "../lib/ids";
import { logError } from "../lib/log";
import type { RoomEvent } from "../schemas/events";
import { roomOf } from "../services/realtime";
import { applyReceipts } from "../services/receipts";
import { toEventView } from "../services/views";
import { PresenceReports } from "./presence";
import {
  CLOSE_SUSPENDED,
  closeForGood,
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

/** What the receiver's inbox answers about a new message: a live socket got it; a push may be worth queueing. */
export type NewMessageOutcome = { delivered: boolean; mayPush: boolean };

/** What an inbox knows of its user's push subscriptions. */
export type PushDevices = "some" | "none" | "unknown";

/** How many of the most recent conversations an inbox socket's `sync` lists (beyond: `has_more`, use HTTP). */
export const SYNC_CONVERSATIONS = 50;

/** Rooms a suspension closes per D1 read (and per round of RPCs). */
const SUSPENSION_ROOMS_PAGE = 200;

/**
 * One object per user: the inbox sockets (`/ws` without a partner) of all their devices. It gets
 * every new message of every conversation of its user and tells them their unread count.
 * With no socket open it does next to nothing (it reads from D1 only whether its user has a push
 * device, once), so idle inboxes cost nothing, and a socket opening in a room does not wake it.
 *
 * It also keeps, in its storage, what the safety rules need per user: whether the user is suspended
 * (refusing new inbox sockets; on a suspension it closes its own sockets and the user's sockets in
 * every room they visited, from D1's `room_visits`), and which partners the user no longer sees
 * (blocked, unmatched), whose events it drops.
 */
export class Inbox extends DurableObject<Env> {
  private readonly limiter = new FrameLimiter();
  private readonly presence = new PresenceReports(this.ctx, () => this.env.DB);
  /** Counts are read from D1 concurrently; only the newest read may reach the sockets. */
  private countGeneration = 0;
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    this.sql = ctx.storage.sql;
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      -- Partners this user no longer sees (blocked by them, or unmatched).
      CREATE TABLE IF NOT EXISTS hidden (partner_id TEXT PRIMARY KEY, reason TEXT NOT NULL);
    `);
  }

  private getMeta(key: string): string | undefined {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  /** Suspended now, as last told: a suspension without an end, or one whose end is ahead. */
  private suspended(now = Date.now()): boolean {
    const until = this.getMeta("suspended_until");
    return until !== undefined && (until === "forever" || Number(until) > now);
  }

  /**
   * Suspended now, confirmed from D1 when the stored state says so (rare), so a lost unsuspension
   * notification (or a suspension lifted early in D1) cannot keep the user's sockets shut.
   */
  private async stillSuspended(userId: string): Promise<boolean> {
    if (!this.suspended()) return false;
    if (await isSuspended(dbOf(this.env.DB), userId, new Date().toISOString())) return true;
    this.sql.exec("DELETE FROM meta WHERE key = 'suspended_until'");
    return false;
  }

  private hides(partnerId: string): boolean {
    return this.sql.exec("SELECT 1 FROM hidden WHERE partner_id = ?", partnerId).toArray().length > 0;
  }

  /** Events about a conversation with a partner this user no longer sees are dropped. */
  private visible(m: MessageRow, owner: string): boolean {
    return !this.hides(m.senderId === owner ? m.receiverId : m.senderId);
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
    if (await this.stillSuspended(userId)) {
      // As with the room's refusals: a close code a browser can read, and the socket never joins.
      server.accept();
      closeForGood(server, CLOSE_SUSPENDED);
      return upgradeResponse(client, request);
    }
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({
      socketId: crypto.randomUUID(),
      userId,
      connectedAt: Date.now(),
      expiresAt: expiresAtOf(request),
      syncedSeq: 0,
    } satisfies SocketMeta);
    // Held until sync and the first count are out, so live events (and newer counts) follow them.
    // The first socket makes the inbox present in D1 before it syncs: a send that commits before sees
    // none (and is in the sync), one after it notifies this inbox. Without it the socket would miss
    // live messages: it closes. Later sockets find it present (their joins wait for this one).
    // Nothing may escape blockConcurrencyWhile: a throw there resets the object and drops every socket.
    const first = this.sockets().length === 1;
    await this.ctx.blockConcurrencyWhile(() =>
      (first ? this.presence.write(inboxScope(userId), 1) : Promise.resolve())
        .then(() => this.sync(server, userId))
        .catch((err: unknown) => {
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

  /**
   * RPC: a message was committed in one of this user's conversations. True when a live socket got it;
   * for the receiver's inbox (`asReceiver`) without one, also whether a push may be worth queueing.
   */
  async newMessage(m: MessageRow, asReceiver = false): Promise<NewMessageOutcome> {
    const sockets = this.sockets();
    if (sockets.length === 0) {
      // Woken with no socket: D1 still counts one that left without a close event. Corrected, so
      // the next sends skip this inbox.
      this.presence.report(inboxScope(asReceiver ? m.receiverId : m.senderId), 0);
      return { delivered: false, mayPush: asReceiver && (await this.mayPush(m.receiverId)) };
    }
    const owner = metaOf(sockets[0] as WebSocket).userId;
    if (!this.visible(m, owner)) return { delivered: true, mayPush: false }; // the user shut this partner out
    for (const ws of sockets) sendEvent(ws, toEventView("message.new", m, owner));
    if (m.receiverId === owner) await this.refreshUnread();
    return { delivered: true, mayPush: false };
  }

  /**
   * Whether the user may have a device to push to. Unknown (a new inbox, or a subscription removed)
   * is read from D1 once, here, so even a receiver's first offline message queues no job when they
   * have no device; the answer is kept like any other (an older read never overwrites a newer fact).
   * A failed read errs towards a push: a spare job costs less than a missed notification.
   */
  private async mayPush(userId: string): Promise<boolean> {
    const known = this.getMeta("push_devices");
    if (known === "none" || known === "some") return known === "some";
    const asOf = Date.now();
    try {
      const has = await hasActiveSubscription(dbOf(this.env.DB), userId, new Date(asOf).toISOString());
      await this.pushDevicesKnown(has ? "some" : "none", asOf);
      return has;
    } catch (err) {
      logError("inbox.push_devices_read_failed", err, {});
      return true;
    }
  }

  /**
   * RPC: what is known of the user's push subscriptions, and when it was read. With "none", offline
   * messages queue no push job at all (the send path reads no D1 for it); "some" and "unknown" let them
   * queue. An older fact never overwrites a newer one (a subscription racing the consumer's empty read).
   */
  async pushDevicesKnown(state: PushDevices, asOf: number): Promise<void> {
    const known = Number(this.getMeta("push_devices_as_of") ?? 0);
    if (asOf < known) return;
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES ('push_devices', ?), ('push_devices_as_of', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      state,
      String(asOf),
    );
  }

  /** RPC: messages of this user's were deleted or moderated (list previews change), and/or the count moved. */
  async changed(events: RoomEvent[], recount: boolean): Promise<void> {
    const sockets = this.sockets();
    if (sockets.length === 0) return;
    const owner = metaOf(sockets[0] as WebSocket).userId;
    for (const e of events.filter((e) => this.visible(e.message, owner))) {
      for (const ws of sockets) sendEvent(ws, toEventView(e.type, e.message, owner));
    }
    if (recount) await this.refreshUnread();
  }

  /**
   * RPC after a block, an unblock or an unmatch committed: the conversation leaves (or comes back to)
   * this user's list on every device, live, and the unread count follows.
   */
  async partnerChanged(partnerId: string, change: "removed" | "restored", reason: "blocked" | "unmatched" | null): Promise<void> {
    if (change === "removed") {
      this.sql.exec(
        "INSERT INTO hidden (partner_id, reason) VALUES (?, ?) ON CONFLICT (partner_id) DO UPDATE SET reason = excluded.reason WHERE hidden.reason <> 'unmatched'",
        partnerId,
        reason ?? "blocked",
      );
    } else {
      // An unmatch is for good: an unblock never brings an unmatched conversation back.
      this.sql.exec("DELETE FROM hidden WHERE partner_id = ? AND reason = 'blocked'", partnerId);
      if (this.hides(partnerId)) return;
    }
    const sockets = this.sockets();
    if (sockets.length === 0) return;
    const event =
      change === "removed"
        ? ({ type: "conversation.removed", partner_id: partnerId, reason: reason ?? "blocked" } as const)
        : ({ type: "conversation.restored", partner_id: partnerId } as const);
    for (const ws of sockets) sendEvent(ws, event);
    await this.refreshUnread();
  }

  /**
   * RPC after a suspension (untilMs: when it ends, Infinity for "until lifted") or its end (null)
   * committed. A suspension closes every socket of the user at once: this inbox's, and theirs in
   * every room the user ever visited (a room without one does nothing).
   */
  async suspensionChanged(userId: string, untilMs: number | null): Promise<void> {
    if (untilMs === null) {
      this.sql.exec("DELETE FROM meta WHERE key = 'suspended_until'");
      return;
    }
    this.sql.exec(
      "INSERT INTO meta (key, value) VALUES ('suspended_until', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      Number.isFinite(untilMs) ? String(untilMs) : "forever",
    );
    for (const ws of this.sockets()) closeForGood(ws, CLOSE_SUSPENDED);
    this.presence.report(inboxScope(userId), 0);
    // Every room the user ever opened (D1, read after the suspension committed), a page at a time.
    const db = dbOf(this.env.DB);
    for (let after = ""; ; ) {
      const page = await roomVisitsQuery(db, userId, after, SUSPENSION_ROOMS_PAGE);
      await Promise.all(
        page
          .filter(({ conversationId }) => participantsOf(conversationId).includes(userId))
          .map(({ conversationId }) =>
            roomOf(this.env, conversationId)
              .closeUser(conversationId, userId)
              .catch((err: unknown) => logError("inbox.suspend_close_failed", err, { conversationId })),
          ),
      );
      if (page.length < SUSPENSION_ROOMS_PAGE) break;
      after = page.at(-1)?.conversationId ?? "";
    }
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
    this.left(ws);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    logError("inbox.socket_error", error);
    finishClose(ws, 1011, "socket error");
    this.left(ws);
  }

  private left(ws: WebSocket): void {
    const { socketId, userId } = metaOf(ws);
    this.limiter.forget(socketId);
    if (!this.sockets().some((s) => s !== ws)) this.presence.report(inboxScope(userId), 0);
  }
}
