import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { changedSince, createdAtUpTo, messagesAfter, messagesByIds } from "../db/messages";
import { type JoinState, pairState, roomJoinState } from "../db/safety";
import type { MessageRow } from "../db/schema";
import { participantsOf } from "../lib/ids";
import { logError } from "../lib/log";
import { nowIso } from "../lib/time";
import type { RoomEvent, ServerEvent } from "../schemas/events";
import { inboxOf } from "../services/realtime";
import { markDeliveredMany, markReadMany } from "../services/receipts";
import { toEventView } from "../services/views";
import { PresenceReports } from "./presence";
import { RoomStorage } from "./room-storage";
import {
  CLOSE_CONVERSATION_GONE,
  CLOSE_SUSPENDED,
  CLOSE_TOO_MANY,
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

export { EVENT_LOG_RETENTION } from "./room-storage";

/** A `start` without a refresh for this long becomes `stop`. */
export const TYPING_TTL_MS = 5000;
/** At most this many missed messages (or changed older ones) are replayed on resume; beyond: `resync`. */
export const MAX_REPLAY_MESSAGES = 500;

/** Sockets one user may hold in one room (phone, laptop, tabs); one more is accepted and closed with 4029. */
export const MAX_SOCKETS_PER_USER = 5;
/**
 * Joins (plain or resuming) one user may make per room in a minute. Each reads D1 while the room holds
 * live events back, so a client reconnecting in a loop would stall its partner's events; past this the
 * socket is accepted and closed with 4029, before any read.
 */
export const MAX_JOINS_PER_MINUTE = 10;
const JOIN_WINDOW_MS = 60_000;

/** How far a change's `updated_at` may precede its commit (Worker clocks, the batch's round trip). */
const CLOCK_SLACK_MS = 1_000;

/** The refusal of an upgrade to a blocked or unmatched conversation: the same 404 as for a conversation that is not the caller's. */
const conversationGone = () => Response.json({ error: { code: "not_found", message: "Conversation not found" } }, { status: 404 });

/** Receipts only move forward; a status event that would move one back is stale and dropped. */
const STATUS_RANK = { sent: 0, failed: 0, delivered: 1, read: 2 } as const;

/** Rooms constructed in this isolate (see `constructions`). */
let constructed = 0;

/**
 * One object per conversation. It owns the sockets of the two participants (hibernation API),
 * fans out what the Worker publishes after each D1 commit, keeps typing deadlines in storage
 * (an alarm expires them, hibernation or not), and keeps a short event log for gapless resume.
 * It writes D1 only through services/receipts.ts.
 */
export class ConversationRoom extends DurableObject<Env> {
  private readonly limiter = new FrameLimiter();
  private readonly store: RoomStorage;
  private readonly presence: PresenceReports;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    constructed++;
    this.store = new RoomStorage(ctx.storage);
    this.presence = new PresenceReports(ctx, () => this.env.DB);
    // Pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING_FRAME, PONG_FRAME));
  }

  /** Which conversation this is: stored on first contact, cached for the life of the instance. */
  private known?: string;

  private get conversationId(): string {
    this.known ??= this.store.conversationId;
    return this.known ?? "";
  }

  private remember(conversationId: string): void {
    if (this.conversationId) return;
    this.store.conversationId = conversationId;
    this.known = conversationId;
  }

  private sockets(except?: WebSocket): WebSocket[] {
    return liveSockets(this.ctx.getWebSockets()).filter((ws) => ws !== except);
  }

  /** The open sockets with their attachments, each read once. */
  private socketsWithMeta(): { ws: WebSocket; meta: SocketMeta }[] {
    return this.sockets().map((ws) => ({ ws, meta: metaOf(ws) }));
  }

  private socketsOf(userId: string, except?: WebSocket): WebSocket[] {
    return this.sockets(except).filter((ws) => metaOf(ws).userId === userId);
  }

  private partnerOf(userId: string): string {
    const [a, b] = participantsOf(this.conversationId);
    return userId === a ? b : a;
  }

  /**
   * Closed while either participant blocks the other, or for good once they unmatched: as this room
   * was last told (safetyChanged reads it from D1). Kept in storage, so an upgrade racing the block
   * is refused here even if the Worker's own check ran before the block committed.
   */
  private closed(): boolean {
    return this.store.closed;
  }

  /**
   * RPC after a block, an unblock or an unmatch of this pair committed. The pair's state is read from
   * D1 here, not taken from the caller, so racing blocks and unblocks settle on what D1 holds last.
   * While closed, every socket is closed with 4404 and new ones are refused: nothing of either user
   * (messages, receipts, typing, presence) reaches the other here.
   */
  async safetyChanged(conversationId: string): Promise<void> {
    this.remember(conversationId);
    if (await this.readClosed()) this.closeAll();
  }

  /** Closed for a block or an unmatch: every socket closes with 4404, and nobody is typing any more. */
  private closeAll(): void {
    this.store.clearAllTyping();
    for (const ws of this.ctx.getWebSockets()) closeForGood(ws, CLOSE_CONVERSATION_GONE);
    this.reportSockets();
  }

  /** Reads how the pair stands from D1 and stores it; answers whether the room is closed now. */
  private async readClosed(): Promise<boolean> {
    const [a, b] = participantsOf(this.conversationId);
    await this.ctx.blockConcurrencyWhile(async () => {
      const state = await pairState(dbOf(this.env.DB), a, b, nowIso());
      this.store.closed = state.blocks || state.blockedBy || state.unmatched;
    });
    return this.closed();
  }

  /** RPC from a user's inbox (a suspension, for every room the user visited): their sockets here close at once with 4403. */
  async closeUser(conversationId: string, userId: string): Promise<void> {
    this.remember(conversationId);
    for (const ws of this.ctx.getWebSockets()) if (metaOf(ws).userId === userId) closeForGood(ws, CLOSE_SUSPENDED);
    this.reportSockets();
  }

  /**
   * Upgrades only. The Worker verified the token and that this user is a participant; whether they
   * may join (a block, an unmatch, a suspension) is read here, in the join's own D1 transaction.
   */
  override async fetch(request: Request): Promise<Response> {
    const userId = request.headers.get(TRUSTED.user);
    const conversationId = request.headers.get(TRUSTED.scope);
    if (!userId || !conversationId || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("internal upgrade only", { status: 400 });
    }
    this.remember(conversationId);
    // Closed as last told: confirmed from D1 (rare), so a lost unblock notification cannot keep it shut.
    if (this.closed() && (await this.readClosed())) return conversationGone();
    const sinceParam = new URL(request.url).searchParams.get("since");
    const since = sinceParam === null ? null : Number(sinceParam);
    // Live events and other upgrades wait until this is done: a socket sees (replay, then) sync, then
    // live events after it, and the socket limit counts every socket accepted before.
    // Nothing may escape blockConcurrencyWhile: a throw there resets the object and drops every socket.
    return this.ctx.blockConcurrencyWhile(() => this.admit(request, userId, since));
  }

  private async admit(request: Request, userId: string, since: number | null): Promise<Response> {
    const { 0: client, 1: server } = new WebSocketPair();
    const upgraded = () => upgradeResponse(client, request);
    // Browsers cannot read the status of a refused upgrade, so these refusals are close codes they can
    // read, on a socket that is not hibernatable: it never joins the room.
    const refuse = (close: (ws: WebSocket) => void) => {
      server.accept();
      close(server);
      return upgraded();
    };
    const tooMany = this.refusalFor(userId);
    if (tooMany) return refuse((ws) => finishClose(ws, CLOSE_TOO_MANY, tooMany));
    this.store.recordJoin(userId, Date.now(), Date.now() - JOIN_WINDOW_MS);
    const failed = (err: unknown, accepted: boolean) => {
      logError("room.join_failed", err, { conversationId: this.conversationId, resume: since !== null });
      const close = (ws: WebSocket) => finishClose(ws, 1011, "could not read the conversation; reconnect with since");
      if (!accepted) return refuse(close);
      close(server);
      return upgraded();
    };

    let state: JoinState;
    try {
      state = await this.visit(userId);
    } catch (err) {
      return failed(err, false); // fails closed: nobody joins unchecked
    }
    if (state.refusal === "suspended") return refuse((ws) => closeForGood(ws, CLOSE_SUSPENDED));
    if (state.refusal === "not_found") {
      // D1 knows of a block or an unmatch this room was not told of (yet): it closes now.
      this.store.closed = true;
      this.closeAll();
      return conversationGone();
    }

    const meta: SocketMeta = {
      socketId: crypto.randomUUID(),
      userId,
      connectedAt: Date.now(),
      expiresAt: expiresAtOf(request),
      syncedSeq: 0,
    };
    const firstDevice = this.socketsOf(userId).length === 0;
    this.hw(); // worked out from the sockets open before this one (whose seq is not known yet)
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment(meta);
    try {
      if (since === null) this.join(server, meta, state.lastSeq);
      else await this.resume(server, meta, since, state.lastSeq);
    } catch (err) {
      return failed(err, true);
    }
    const partner = this.partnerOf(userId);
    sendEvent(server, { type: "presence", user_id: partner, online: this.socketsOf(partner).length > 0 });
    if (firstDevice) this.broadcast({ type: "presence", user_id: userId, online: true }, { except: server });
    return upgraded();
  }

  /** Why this user may not open another socket here now, or null. Counted before anything reads D1. */
  private refusalFor(userId: string): string | null {
    if (this.socketsOf(userId).length >= MAX_SOCKETS_PER_USER) return `at most ${MAX_SOCKETS_PER_USER} sockets per conversation`;
    const recent = this.store.joinsSince(userId, Date.now() - JOIN_WINDOW_MS);
    return recent >= MAX_JOINS_PER_MINUTE ? `at most ${MAX_JOINS_PER_MINUTE} connections per minute; retry later` : null;
  }

  /**
   * A socket without `since`: `sync {last_seq}` with the conversation's newest seq as D1 has it now, then
   * live messages after it. A client that fetched history over HTTP compares: a higher `last_seq` than it
   * holds means messages were committed in between, and it refetches (or reconnects with `since`).
   */
  private join(ws: WebSocket, meta: SocketMeta, dbLastSeq: number): void {
    const lastSeq = Math.max(dbLastSeq, this.hw());
    // The only socket here is synced up to lastSeq: nothing older is owed to anyone (a late notification
    // of it is skipped), so hw catches up with D1 here rather than by a gap fill on the next message.
    if (this.sockets(ws).length === 0 && lastSeq > this.hw()) this.setHw(lastSeq);
    ws.serializeAttachment({ ...meta, syncedSeq: lastSeq } satisfies SocketMeta);
    sendEvent(ws, { type: "sync", last_seq: lastSeq });
  }

  /**
   * Every join reads, in one D1 transaction, whether its user may join (suspended, blocked, unmatched)
   * and the conversation's newest seq, and records that the user opened a socket here. A suspension
   * commits first and then closes the user's sockets in every room recorded for them; its RPC waits
   * while this join runs, so a socket is either accepted before that RPC lands, or sees the suspension.
   */
  private visit(userId: string): Promise<JoinState> {
    const conversationId = this.conversationId;
    // The room's first socket makes it present (the batch writes it only if the join may happen);
    // with others open, D1 already counts it so.
    const presence = this.sockets().length === 0 ? this.presence.next(conversationId, 1) : null;
    return roomJoinState(dbOf(this.env.DB), { userId, partnerId: this.partnerOf(userId), conversationId, now: nowIso(), presence });
  }

  /** After a close: once nobody is here, the room reports it, so sends stop waking it. */
  private reportSockets(except?: WebSocket): void {
    if (this.sockets(except).length === 0) this.presence.report(this.conversationId, 0);
  }

  /** RPC: rooms this isolate has constructed. Waking N hibernated rooms adds N (npm run bench reads it). */
  async constructions(): Promise<number> {
    return constructed;
  }

  /**
   * RPC from the Worker after a D1 commit, so sockets never see uncommitted state. Answers who has a
   * live socket here once the events are out (a receiver without one may get a push).
   */
  async publish(conversationId: string, events: RoomEvent[]): Promise<{ connected: string[] }> {
    this.remember(conversationId);
    for (const event of events) await this.apply(event);
    const open = this.sockets();
    // Woken for a new message with nobody here: D1 still counts a socket that left without a close
    // event (a restart drops sockets silently). Corrected, so the next sends skip this room.
    if (!open.length && events.some((e) => e.type === "message.new")) this.reportSockets();
    return { connected: [...new Set(open.map((ws) => metaOf(ws).userId))] };
  }

  private async apply(event: RoomEvent): Promise<void> {
    // An event about a message not announced yet (its notification is late) announces it first, with
    // this newer row; the late `message.new`, when it comes, then sends nothing. A deleted message is
    // never announced (a hard delete hands us the row it removed, content and all): the room moves
    // past its seq and sends only the deletion.
    const deleted = event.type === "message.deleted" || this.store.wasDeleted(event.message.id);
    if (event.message.seq > this.hw()) await this.deliverNew(event.message, { announce: !deleted });
    if (event.type !== "message.new") this.fanOut(event);
  }

  /** The highest seq whose `message.new` this room has fanned out, gapless; worked out once per instance. */
  private hwCache?: number;
  /** The hw storage holds: it is written at joins and before logged events, not per message (see `sendNew`). */
  private hwStored?: number;

  /**
   * After a wake (an eviction with sockets open), hw is where the open sockets are: each socket's
   * attachment holds the last seq it was sent (kept per message at no storage cost), and the room is
   * past the lowest of them, so a late notification still reaches a socket that lacks it. With no
   * socket open, storage's hw (nobody is owed anything).
   */
  private hw(): number {
    if (this.hwCache === undefined) {
      this.hwStored = this.ctx.storage.kv.get<number>("hw") ?? 0;
      const open = this.sockets().map((ws) => metaOf(ws).syncedSeq);
      this.hwCache = open.length ? Math.min(...open) : this.hwStored;
    }
    return this.hwCache;
  }

  private setHw(seq: number, { persist = true } = {}): void {
    this.hwCache = seq;
    if (persist) this.persistHw();
  }

  /**
   * Writes hw without holding the frames back until the write is durable (`allowUnconfirmed`; any
   * other write holds outgoing frames until it is confirmed): a new message's frames leave at once.
   * A room that wakes with an older hw (the machine died before the write landed, or hw moved while
   * no socket was open) fills the gap from D1 before its next message: a socket may get a message it
   * has again (clients drop it by seq), never miss one.
   */
  private persistHw(): void {
    const seq = this.hw();
    if (seq === this.hwStored) return;
    this.hwStored = seq;
    this.ctx.storage
      .put("hw", seq, { allowUnconfirmed: true })
      .catch((err: unknown) => logError("room.hw_write_failed", err, { conversationId: this.conversationId, seq }));
  }

  /**
   * New messages go out in seq order with no gap, whatever order their notifications arrive in, and
   * even if one never arrives: a message past the next expected seq first pulls the missing ones
   * from D1 (the truth), so a live client's last seq is always one it can resume from.
   */
  private async deliverNew(m: MessageRow, { announce = true } = {}): Promise<void> {
    if (m.seq <= this.hw()) return; // already out, pulled in by an earlier gap fill
    const own = announce ? [m] : [];
    if (m.seq === this.hw() + 1 || this.sockets().length === 0) return this.sendNew(own, m.seq);
    await this.ctx.blockConcurrencyWhile(async () => {
      // The gap that matters is the one the open sockets have: a socket joined past hw needs nothing older.
      const from = Math.max(this.hw(), Math.min(...this.sockets().map((ws) => metaOf(ws).syncedSeq)));
      if (m.seq <= from) return this.sendNew(own, m.seq);
      try {
        if (m.seq - from > MAX_REPLAY_MESSAGES) throw new Error("too many missed messages");
        const missing = await messagesAfter(dbOf(this.env.DB), this.conversationId, from, m.seq - from);
        this.sendNew(missing.filter((x) => x.seq < m.seq && !this.store.wasDeleted(x.id)).concat(own), m.seq);
      } catch (err) {
        // Nothing may escape blockConcurrencyWhile (a throw resets the object): the sockets refetch instead.
        logError("room.gap_fill_failed", err, { conversationId: this.conversationId, from, to: m.seq });
        this.setHw(m.seq);
        this.socketsPast(m.seq);
        this.broadcast({ type: "resync", reason: "could not fill a gap in live messages", last_seq: m.seq });
      }
    });
  }

  /**
   * Announces `list` (in seq order) to the sockets that do not have it yet; the room and every socket
   * are then past `upTo`. No storage write per message: each socket's attachment records how far it
   * got (what `hw()` rebuilds from after a wake), and with no socket open nobody can miss one (a socket
   * joining later syncs from D1).
   */
  private sendNew(list: MessageRow[], upTo: number): void {
    const sockets = this.socketsWithMeta();
    for (const m of list) {
      for (const { ws, meta } of sockets) if (m.seq > meta.syncedSeq) sendEvent(ws, toEventView("message.new", m, meta.userId));
    }
    this.socketsPast(upTo, sockets);
    if (upTo > this.hw()) this.setHw(upTo, { persist: false });
  }

  /** Records on each open socket that it has every message up to `seq` (or was told to resync past it). */
  private socketsPast(seq: number, sockets = this.socketsWithMeta()): void {
    for (const { ws, meta } of sockets) if (meta.syncedSeq < seq) ws.serializeAttachment({ ...meta, syncedSeq: seq } satisfies SocketMeta);
  }

  /** Receipts, deletions and moderation: logged for resume, then sent to every socket. */
  private fanOut(event: RoomEvent): void {
    const m = event.message;
    const rank = event.type === "message.status" ? STATUS_RANK[m.status] : null;
    if (rank !== null && (this.store.receiptRank(m.id) ?? -1) >= rank) return; // a late snapshot: the sockets have this or newer
    this.persistHw(); // storage never holds an hw below the marks of the events it logged
    this.store.log(event.type, m, this.hw(), rank); // apply() moved past m first, so hw >= m.seq
    for (const ws of this.sockets()) sendEvent(ws, toEventView(event.type, m, metaOf(ws).userId));
  }

  /**
   * Resume after `since`: every message with a higher seq (from D1, with its current status), then
   * the current state of every older message that changed after message `since` was created, then
   * `sync`. Those changes are read from D1 itself (`updated_at`), so a receipt, deletion or moderation
   * whose notification never reached this room still arrives; the room's event log adds what D1 no
   * longer holds (hard deletes). Past the log's window, or too far behind: `resync`.
   */
  private async resume(ws: WebSocket, meta: SocketMeta, since: number, lastSeq: number): Promise<void> {
    const db = dbOf(this.env.DB);
    const conversationId = this.conversationId;
    const prunedHw = this.store.prunedHw;
    // If this room missed publishes (hw behind D1), its hw marks are low: widen the window rather than lose a change.
    const threshold = Math.min(since, this.hw());
    const ahead = since > lastSeq;
    const missed = ahead ? [] : await messagesAfter(db, conversationId, since, MAX_REPLAY_MESSAGES + 1);
    const createdAt = since > 0 && !ahead ? await createdAtUpTo(db, conversationId, since) : undefined;
    // `updated_at` is stamped by a Worker just before its commit: widen the window by that slack.
    const caughtUpAt = createdAt && new Date(Date.parse(createdAt) - CLOCK_SLACK_MS).toISOString();
    const changedRows = caughtUpAt ? await changedSince(db, conversationId, since, caughtUpAt, MAX_REPLAY_MESSAGES + 1) : [];
    const reason = ahead
      ? "since is ahead of the conversation"
      : missed.length > MAX_REPLAY_MESSAGES || changedRows.length > MAX_REPLAY_MESSAGES
        ? "too many missed messages"
        : since > 0 && prunedHw >= threshold
          ? "event log window passed"
          : null;
    if (reason) {
      sendEvent(ws, { type: "resync", reason, last_seq: lastSeq });
      return;
    }
    for (const m of missed) sendEvent(ws, toEventView("message.new", m, meta.userId));

    // What changed on each older message: what the log saw, plus what its current row shows.
    const logged = this.store.loggedSince(threshold, since);
    const current = new Map(changedRows.map((m) => [m.id, m]));
    const unseen = [...new Set(logged.map((e) => e.message_id))].filter((id) => !current.has(id));
    for (const m of await messagesByIds(db, unseen)) current.set(m.id, m);
    const kinds = new Map<string, Set<RoomEvent["type"]>>();
    const kindsOf = (id: string) => {
      const known = kinds.get(id);
      if (known) return known;
      const fresh = new Set<RoomEvent["type"]>();
      kinds.set(id, fresh);
      return fresh;
    };
    for (const e of logged) kindsOf(e.message_id).add(e.type);
    // What changed is read from each change's own timestamp (moderation may even have gone back to pending).
    const after = (at: string | null) => at !== null && caughtUpAt !== undefined && at >= caughtUpAt;
    for (const m of changedRows) {
      if (after(m.deliveredAt) || after(m.readAt)) kindsOf(m.id).add("message.status");
      if (after(m.moderatedAt)) kindsOf(m.id).add("message.moderated");
      if (after(m.deletedAt)) kindsOf(m.id).add("message.deleted");
    }
    // Hard-deleted ones first (they no longer have a time), then in the order of their latest change.
    const order = [...kinds.keys()].sort((a, b) => (current.get(a)?.updatedAt ?? "").localeCompare(current.get(b)?.updatedAt ?? ""));
    for (const id of order) {
      const m = current.get(id);
      if (!m || m.isDeleted) {
        sendEvent(ws, { type: "message.deleted", message_id: id });
        continue;
      }
      const k = kinds.get(id) ?? new Set();
      if (k.has("message.moderated")) sendEvent(ws, toEventView("message.moderated", m, meta.userId));
      if (k.has("message.status")) sendEvent(ws, toEventView("message.status", m, meta.userId));
    }
    const synced = Math.max(since, missed.at(-1)?.seq ?? since);
    ws.serializeAttachment({ ...meta, syncedSeq: synced } satisfies SocketMeta);
    sendEvent(ws, { type: "sync", last_seq: Math.max(synced, lastSeq) });
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    if (!liveSockets([ws]).length) return; // its token expired: closed, nothing applied
    if (this.closed()) return closeForGood(ws, CLOSE_CONVERSATION_GONE);
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
    for (const message of changed) await this.apply({ type: "message.status", message });
    if (kind !== "read" || !changed.length) return;
    // The receipts are committed and out; an inbox that cannot be told now recounts on its next connect.
    await inboxOf(this.env, userId)
      .refreshUnread()
      .catch((err: unknown) => logError("room.unread_refresh_failed", err, { conversationId: this.conversationId }));
  }

  private async startTyping(userId: string, socketId: string): Promise<void> {
    const wasTyping = this.store.typingOf(userId) !== undefined;
    const expiresAt = Date.now() + TYPING_TTL_MS;
    this.store.setTyping(userId, { socketId, expiresAt });
    // A refresh only moves the deadline; the partner already shows "typing".
    if (!wasTyping) this.toPartner(userId, { type: "typing", user_id: userId, state: "start" });
    const armed = this.store.typingAlarmAt;
    if (!armed || expiresAt < armed) await this.armAlarm(expiresAt);
  }

  private stopTyping(userId: string): void {
    if (this.store.clearTyping(userId)) this.toPartner(userId, { type: "typing", user_id: userId, state: "stop" });
  }

  private async armAlarm(at: number): Promise<void> {
    this.store.typingAlarmAt = at;
    await this.ctx.storage.setAlarm(at);
  }

  /**
   * Typing deadlines live in storage, so they expire even if the object hibernated meanwhile.
   * Everything due by the time this alarm was armed for expires now (the runtime never fires early;
   * a test may fire it on demand).
   */
  override async alarm(): Promise<void> {
    const dueBy = Math.max(Date.now(), this.store.typingAlarmAt ?? 0);
    this.store.typingAlarmAt = undefined;
    const typists = this.store.typists();
    for (const t of typists.filter((t) => t.expiresAt <= dueBy)) this.stopTyping(t.userId);
    const next = Math.min(...typists.filter((t) => t.expiresAt > dueBy).map((t) => t.expiresAt));
    if (Number.isFinite(next)) await this.armAlarm(next);
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
    await this.leave(ws);
  }

  override async webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    logError("room.socket_error", error, { conversationId: this.conversationId });
    finishClose(ws, 1011, "socket error");
    this.limiter.forget(metaOf(ws).socketId);
    await this.leave(ws);
  }

  /**
   * A closed socket ends its user's typing if it was the device typing (or their last device);
   * when it was their last socket, the partner also sees them go offline.
   */
  private async leave(ws: WebSocket): Promise<void> {
    this.reportSockets(ws);
    const { userId, socketId } = metaOf(ws);
    const lastDevice = this.socketsOf(userId, ws).length === 0;
    const typingHere = this.store.typingOf(userId)?.socketId === socketId;
    if (lastDevice || typingHere) this.stopTyping(userId);
    if (!lastDevice) return;
    this.broadcast({ type: "presence", user_id: userId, online: false }, { except: ws });
  }
}
