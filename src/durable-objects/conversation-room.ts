import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { lastSeqOf, messagesAfter, messagesByIds } from "../db/messages";
import type { MessageRow } from "../db/schema";
import { participantsOf } from "../lib/ids";
import { logError } from "../lib/log";
import type { RoomEvent, ServerEvent } from "../schemas/events";
import { inboxOf } from "../services/realtime";
import { markDeliveredMany, markReadMany } from "../services/receipts";
import { toMessageView } from "../services/views";
import {
  FrameLimiter,
  finishClose,
  metaOf,
  PING_FRAME,
  PONG_FRAME,
  parseFrame,
  type SocketMeta,
  sendEvent,
  TRUSTED,
  upgradeResponse,
} from "./sockets";

/** A `start` without a refresh for this long becomes `stop`. */
export const TYPING_TTL_MS = 5000;
/** Receipt/delete/moderation events kept for resume; older ones answer `resync`. */
export const EVENT_LOG_RETENTION = 1000;
/** At most this many missed messages are replayed on resume; a client further behind gets `resync`. */
export const MAX_REPLAY_MESSAGES = 500;

type LoggedEvent = { eseq: number; type: RoomEvent["type"]; message_id: string };

/**
 * One object per conversation. It owns the sockets of the two participants (hibernation API),
 * fans out what the Worker publishes after each D1 commit, keeps typing deadlines in storage
 * (an alarm expires them, hibernation or not), and keeps a short event log for gapless resume.
 * It writes D1 only through services/receipts.ts.
 */
export class ConversationRoom extends DurableObject<Env> {
  private readonly limiter = new FrameLimiter();
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
    this.sql.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      -- hw: the highest message seq this room had published when the event was logged.
      CREATE TABLE IF NOT EXISTS events (eseq INTEGER PRIMARY KEY AUTOINCREMENT, hw INTEGER NOT NULL, type TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS events_hw ON events (hw);
      -- socket_id: the device typing, so closing it ends the typing even if other devices stay.
      CREATE TABLE IF NOT EXISTS typing (user_id TEXT PRIMARY KEY, socket_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
    `);
  }

  private getMeta(key: string): string | undefined {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  private setMeta(key: string, value: string | number): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, String(value));
  }

  /** Which conversation this is: stored on first contact, cached for the life of the instance. */
  private known?: string;

  private get conversationId(): string {
    this.known ??= this.getMeta("conversation_id");
    return this.known ?? "";
  }

  private remember(conversationId: string): void {
    if (this.conversationId) return;
    this.setMeta("conversation_id", conversationId);
    this.known = conversationId;
  }

  private sockets(except?: WebSocket): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  private socketsOf(userId: string, except?: WebSocket): WebSocket[] {
    return this.sockets(except).filter((ws) => metaOf(ws).userId === userId);
  }

  private partnerOf(userId: string): string {
    const [a, b] = participantsOf(this.conversationId);
    return userId === a ? b : a;
  }

  /** Upgrades only. The Worker already verified the token and that this user is a participant. */
  override async fetch(request: Request): Promise<Response> {
    const userId = request.headers.get(TRUSTED.user);
    const conversationId = request.headers.get(TRUSTED.scope);
    if (!userId || !conversationId || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("internal upgrade only", { status: 400 });
    }
    this.remember(conversationId);
    const sinceParam = new URL(request.url).searchParams.get("since");
    const { 0: client, 1: server } = new WebSocketPair();
    const meta: SocketMeta = { socketId: crypto.randomUUID(), userId, connectedAt: Date.now(), syncedSeq: 0 };
    const firstDevice = this.socketsOf(userId).length === 0;
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(meta);

    if (sinceParam !== null) {
      // Live events wait until the replay is out, so the socket sees replay, then sync, then live.
      await this.ctx.blockConcurrencyWhile(() => this.resume(server, meta, Number(sinceParam)));
    }
    const partner = this.partnerOf(userId);
    sendEvent(server, { type: "presence", user_id: partner, online: this.socketsOf(partner).length > 0 });
    if (firstDevice) this.broadcast({ type: "presence", user_id: userId, online: true }, { except: server });
    return upgradeResponse(client, request);
  }

  /** RPC from the Worker after a D1 commit, so sockets never see uncommitted state. */
  async publish(conversationId: string, events: RoomEvent[]): Promise<void> {
    this.remember(conversationId);
    for (const event of events) this.fanOut(event);
  }

  private fanOut(event: RoomEvent): void {
    const m = event.message;
    // Any event proves its message exists, which keeps hw right even if a message.new was lost.
    const hw = Number(this.getMeta("hw") ?? 0);
    if (m.seq > hw) this.setMeta("hw", m.seq);
    if (event.type !== "message.new") this.log(event.type, m, Math.max(hw, m.seq));
    for (const ws of this.sockets()) {
      const meta = metaOf(ws);
      if (event.type === "message.new" && m.seq <= meta.syncedSeq) continue; // already replayed to it
      sendEvent(ws, this.render(event.type, m, meta.userId));
    }
  }

  private render(type: RoomEvent["type"], m: MessageRow, viewerId: string): ServerEvent {
    switch (type) {
      case "message.new":
        return { type, message: toMessageView(m, viewerId) };
      case "message.status":
        return { type, message_id: m.id, status: m.status, delivered_at: m.deliveredAt, read_at: m.readAt };
      case "message.deleted":
        return { type, message_id: m.id };
      case "message.moderated":
        return { type, message_id: m.id, moderation_status: m.moderationStatus, message: toMessageView(m, viewerId) };
    }
  }

  private log(type: RoomEvent["type"], m: MessageRow, hw: number): void {
    const [logged] = this.sql
      .exec<{ eseq: number }>("INSERT INTO events (hw, type, message_id, seq) VALUES (?, ?, ?, ?) RETURNING eseq", hw, type, m.id, m.seq)
      .toArray();
    // eseq is AUTOINCREMENT without gaps, so the window's edge is arithmetic: usually one row leaves.
    const pruned = this.sql
      .exec<{ hw: number }>("DELETE FROM events WHERE eseq <= ? RETURNING hw", (logged?.eseq ?? 0) - EVENT_LOG_RETENTION)
      .toArray();
    if (pruned.length) this.setMeta("pruned_hw", Math.max(...pruned.map((p) => p.hw), Number(this.getMeta("pruned_hw") ?? -1)));
  }

  /**
   * Resume after `since`: every message with a higher seq (from D1, with its current status), then
   * the current state of older messages whose receipts, deletion or moderation changed after
   * message `since` existed (from the event log), then `sync`. Beyond the log's window: `resync`.
   */
  private async resume(ws: WebSocket, meta: SocketMeta, since: number): Promise<void> {
    const db = dbOf(this.env.DB);
    const lastSeq = await lastSeqOf(db, this.conversationId);
    const prunedHw = Number(this.getMeta("pruned_hw") ?? -1);
    // If this room missed publishes (hw behind D1), its hw marks are low: widen the window rather than lose a change.
    const threshold = Math.min(since, Number(this.getMeta("hw") ?? 0));
    const missed = since <= lastSeq ? await messagesAfter(db, this.conversationId, since, MAX_REPLAY_MESSAGES + 1) : [];
    const reason =
      since > lastSeq
        ? "since is ahead of the conversation"
        : missed.length > MAX_REPLAY_MESSAGES
          ? "too many missed messages"
          : since > 0 && prunedHw >= threshold
            ? "event log window passed"
            : null;
    if (reason) {
      sendEvent(ws, { type: "resync", reason, last_seq: lastSeq });
      return;
    }
    for (const m of missed) sendEvent(ws, { type: "message.new", message: toMessageView(m, meta.userId) });

    const changed = this.sql
      .exec<LoggedEvent>("SELECT eseq, type, message_id FROM events WHERE hw >= ? AND seq <= ? ORDER BY eseq", threshold, since)
      .toArray();
    const current = new Map((await messagesByIds(db, [...new Set(changed.map((e) => e.message_id))])).map((m) => [m.id, m]));
    const lastEventOf = new Map<string, Set<RoomEvent["type"]>>();
    for (const e of changed) lastEventOf.set(e.message_id, (lastEventOf.get(e.message_id) ?? new Set()).add(e.type));
    // One up-to-date event per kind of change, per message, in the order of its latest change.
    const order = [...new Map(changed.map((e) => [e.message_id, e.eseq]))].sort((a, b) => a[1] - b[1]);
    for (const [id] of order) {
      const m = current.get(id);
      const kinds = lastEventOf.get(id) ?? new Set();
      if (!m || m.isDeleted) {
        sendEvent(ws, { type: "message.deleted", message_id: id });
        continue;
      }
      if (kinds.has("message.moderated")) sendEvent(ws, this.render("message.moderated", m, meta.userId));
      if (kinds.has("message.status")) sendEvent(ws, this.render("message.status", m, meta.userId));
    }
    const synced = Math.max(since, missed.at(-1)?.seq ?? since);
    ws.serializeAttachment({ ...meta, syncedSeq: synced } satisfies SocketMeta);
    sendEvent(ws, { type: "sync", last_seq: Math.max(synced, lastSeq) });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    if (!this.limiter.allow(metaOf(ws).socketId)) {
      sendEvent(ws, { type: "error", code: "rate_limited", message: "Too many frames; slow down" });
      return;
    }
    const frame = parseFrame(raw);
    if (!frame.ok) {
      sendEvent(ws, { type: "error", code: frame.code, message: frame.message });
      return;
    }
    const { userId, socketId } = metaOf(ws);
    const event = frame.event;
    try {
      switch (event.type) {
        case "ping":
          sendEvent(ws, { type: "pong" });
          return;
        case "typing":
          return event.state === "start" ? await this.startTyping(userId, socketId) : this.stopTyping(userId);
        case "ack":
        case "read":
          return await this.receipts(userId, event.type, event.message_ids);
      }
    } catch (err) {
      logError("room.frame_failed", err, { conversationId: this.conversationId, type: event.type });
      sendEvent(ws, { type: "error", code: "internal", message: "Could not apply that frame; try again" });
    }
  }

  /** Socket receipts follow the HTTP rules (receiver only, forward only), within this conversation. */
  private async receipts(userId: string, kind: "ack" | "read", ids: string[]): Promise<void> {
    const db = dbOf(this.env.DB);
    const changed =
      kind === "ack"
        ? await markDeliveredMany(db, ids, userId, this.conversationId)
        : await markReadMany(db, ids, userId, this.conversationId);
    for (const message of changed) this.fanOut({ type: "message.status", message });
    if (kind === "read" && changed.length) await inboxOf(this.env, userId).refreshUnread();
  }

  private async startTyping(userId: string, socketId: string): Promise<void> {
    const wasTyping = this.sql.exec("SELECT 1 FROM typing WHERE user_id = ?", userId).toArray().length > 0;
    const expiresAt = Date.now() + TYPING_TTL_MS;
    this.sql.exec(
      "INSERT INTO typing (user_id, socket_id, expires_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET socket_id = excluded.socket_id, expires_at = excluded.expires_at",
      userId,
      socketId,
      expiresAt,
    );
    // A refresh only moves the deadline; the partner already shows "typing".
    if (!wasTyping) this.toPartner(userId, { type: "typing", user_id: userId, state: "start" });
    const armed = Number(this.getMeta("typing_alarm_at") ?? 0);
    if (!armed || expiresAt < armed) await this.armAlarm(expiresAt);
  }

  private stopTyping(userId: string): void {
    const removed = this.sql.exec("DELETE FROM typing WHERE user_id = ? RETURNING user_id", userId).toArray().length > 0;
    if (removed) this.toPartner(userId, { type: "typing", user_id: userId, state: "stop" });
  }

  private async armAlarm(at: number): Promise<void> {
    this.setMeta("typing_alarm_at", at);
    await this.ctx.storage.setAlarm(at);
  }

  /**
   * Typing deadlines live in storage, so they expire even if the object hibernated meanwhile.
   * Everything due by the time this alarm was armed for expires now (the runtime never fires early;
   * a test may fire it on demand).
   */
  override async alarm(): Promise<void> {
    const dueBy = Math.max(Date.now(), Number(this.getMeta("typing_alarm_at") ?? 0));
    this.sql.exec("DELETE FROM meta WHERE key = 'typing_alarm_at'");
    const expired = this.sql.exec<{ user_id: string }>("DELETE FROM typing WHERE expires_at <= ? RETURNING user_id", dueBy).toArray();
    for (const { user_id } of expired) this.toPartner(user_id, { type: "typing", user_id, state: "stop" });
    const next = this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM typing").toArray()[0]?.at;
    if (next) await this.armAlarm(next);
  }

  private toPartner(userId: string, event: ServerEvent): void {
    for (const ws of this.socketsOf(this.partnerOf(userId))) sendEvent(ws, event);
  }

  private broadcast(event: ServerEvent, opts: { except?: WebSocket } = {}): void {
    for (const ws of this.sockets(opts.except)) sendEvent(ws, event);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    finishClose(ws, code, reason);
    this.limiter.forget(metaOf(ws).socketId);
    this.leave(ws);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    logError("room.socket_error", error, { conversationId: this.conversationId });
    finishClose(ws, 1011, "socket error");
    this.limiter.forget(metaOf(ws).socketId);
    this.leave(ws);
  }

  /**
   * A closed socket ends its user's typing if it was the device typing (or their last device);
   * when it was their last socket, the partner also sees them go offline.
   */
  private leave(ws: WebSocket): void {
    const { userId, socketId } = metaOf(ws);
    const lastDevice = this.socketsOf(userId, ws).length === 0;
    const typingHere = this.sql.exec("SELECT 1 FROM typing WHERE user_id = ? AND socket_id = ?", userId, socketId).toArray().length > 0;
    if (lastDevice || typingHere) this.stopTyping(userId);
    if (lastDevice) this.broadcast({ type: "presence", user_id: userId, online: false }, { except: ws });
  }
}
