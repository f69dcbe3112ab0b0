import type { MessageRow } from "../db/schema";
import type { RoomEvent } from "../schemas/events";

/** Receipt/delete/moderation events kept for resume; older ones answer `resync`. */
export const EVENT_LOG_RETENTION = 1000;

export type LoggedEvent = { eseq: number; type: RoomEvent["type"]; message_id: string };

/** Who is typing here, from which device, until when. */
type Typing = { socketId: string; expiresAt: number };

/** The room's small values, each a key of the object's key-value store. */
const KEY = {
  conversation: "conversation_id",
  closed: "closed",
  prunedHw: "pruned_hw",
  typingAlarmAt: "typing_alarm_at",
} as const;
const joinsKey = (userId: string) => `joins:${userId}`;

const TYPING = "typing:";

/**
 * A conversation room's storage. Small values (which conversation, closed, the join times, who is
 * typing) live in the key-value store; the event log, the only thing a room keeps many rows of, is
 * SQL, created with its first entry. Most rooms never log an event (only receipts, deletions and
 * moderation do), and every table a room creates costs memory for as long as the object lives.
 */
export class RoomStorage {
  private readonly kv: SyncKvStorage;
  private readonly sql: SqlStorage;
  /** Whether the log's tables exist: read once per instance, true once created. */
  private logged?: boolean;

  constructor(private readonly storage: DurableObjectStorage) {
    this.kv = storage.kv;
    this.sql = storage.sql;
    // A room that knows its conversation is past the upgrade (legacy rooms kept it in `meta`).
    if (this.conversationId === undefined) this.upgradeLegacy();
  }

  /**
   * Rooms created before the key-value store kept their small values in SQL tables (`meta`, `typing`,
   * `joins`): moved over once, on the first construction after the deploy.
   */
  private upgradeLegacy(): void {
    const legacy = this.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'typing', 'joins')")
      .toArray()
      .map((t) => t.name);
    if (!legacy.length) return;
    this.storage.transactionSync(() => {
      if (legacy.includes("meta")) {
        for (const { key, value } of this.sql.exec<{ key: string; value: string }>("SELECT key, value FROM meta")) {
          if (key === KEY.conversation) this.kv.put(key, value);
          else if (key === KEY.closed) this.kv.put(key, value === "1");
          else if (key === "hw") {
            if (this.kv.get("hw") === undefined) this.kv.put("hw", Number(value));
          } else if (key === KEY.prunedHw || key === KEY.typingAlarmAt) this.kv.put(key, Number(value));
        }
      }
      if (legacy.includes("typing")) {
        for (const t of this.sql.exec<{ user_id: string; socket_id: string; expires_at: number }>("SELECT * FROM typing")) {
          this.kv.put(TYPING + t.user_id, { socketId: t.socket_id, expiresAt: t.expires_at } satisfies Typing);
        }
      }
      // Join times are a minute's rate limit: nothing is lost by starting it afresh.
      for (const table of legacy) this.sql.exec(`DROP TABLE ${table}`);
    });
  }

  get conversationId(): string | undefined {
    return this.kv.get<string>(KEY.conversation);
  }

  set conversationId(id: string) {
    this.kv.put(KEY.conversation, id);
  }

  get closed(): boolean {
    return this.kv.get<boolean>(KEY.closed) === true;
  }

  set closed(closed: boolean) {
    this.kv.put(KEY.closed, closed);
  }

  // ---- joins: a sliding minute of join times per user --------------------------------------------

  /** How many times `userId` joined after `since` (older times are dropped). */
  joinsSince(userId: string, since: number): number {
    const recent = (this.kv.get<number[]>(joinsKey(userId)) ?? []).filter((at) => at > since);
    return recent.length;
  }

  recordJoin(userId: string, at: number, keepAfter: number): void {
    const recent = (this.kv.get<number[]>(joinsKey(userId)) ?? []).filter((t) => t > keepAfter);
    this.kv.put(joinsKey(userId), [...recent, at]);
  }

  // ---- typing --------------------------------------------------------------------------------------

  typingOf(userId: string): Typing | undefined {
    return this.kv.get<Typing>(TYPING + userId);
  }

  setTyping(userId: string, typing: Typing): void {
    this.kv.put(TYPING + userId, typing);
  }

  /** Ends `userId`'s typing; answers whether they were typing. */
  clearTyping(userId: string): boolean {
    return this.kv.delete(TYPING + userId);
  }

  clearAllTyping(): void {
    for (const [key] of this.kv.list({ prefix: TYPING })) this.kv.delete(key);
  }

  /** Everyone typing, with their deadlines. */
  typists(): { userId: string; expiresAt: number }[] {
    return [...this.kv.list<Typing>({ prefix: TYPING })].map(([key, t]) => ({ userId: key.slice(TYPING.length), expiresAt: t.expiresAt }));
  }

  get typingAlarmAt(): number | undefined {
    return this.kv.get<number>(KEY.typingAlarmAt);
  }

  set typingAlarmAt(at: number | undefined) {
    if (at === undefined) this.kv.delete(KEY.typingAlarmAt);
    else this.kv.put(KEY.typingAlarmAt, at);
  }

  // ---- the event log -------------------------------------------------------------------------------

  private hasLog(): boolean {
    this.logged ??= this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").toArray().length > 0;
    return this.logged;
  }

  private createLog(): void {
    if (this.hasLog()) return;
    this.sql.exec(`
      -- hw: the highest message seq this room had published when the event was logged.
      CREATE TABLE IF NOT EXISTS events (eseq INTEGER PRIMARY KEY AUTOINCREMENT, hw INTEGER NOT NULL, type TEXT NOT NULL, message_id TEXT NOT NULL, seq INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS events_hw ON events (hw);
      -- "Was this message deleted?" before announcing one (a late notification must not bring it back).
      CREATE INDEX IF NOT EXISTS events_message ON events (message_id, type);
      -- The furthest receipt fanned out per message (pruned with the log), so a late snapshot never moves one back.
      CREATE TABLE IF NOT EXISTS receipts (message_id TEXT PRIMARY KEY, rank INTEGER NOT NULL, eseq INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS receipts_eseq ON receipts (eseq);
    `);
    this.logged = true;
  }

  /** The highest hw among pruned log entries: a resume from at or below it may have missed one (-1: none pruned). */
  get prunedHw(): number {
    return this.kv.get<number>(KEY.prunedHw) ?? -1;
  }

  /** A deletion this room already fanned out (a late `message.new` must not bring the message back). */
  wasDeleted(messageId: string): boolean {
    if (!this.hasLog()) return false;
    return this.sql.exec("SELECT 1 FROM events WHERE message_id = ? AND type = 'message.deleted' LIMIT 1", messageId).toArray().length > 0;
  }

  /** The furthest receipt rank fanned out for a message, while its log entry is kept. */
  receiptRank(messageId: string): number | undefined {
    if (!this.hasLog()) return undefined;
    return this.sql.exec<{ rank: number }>("SELECT rank FROM receipts WHERE message_id = ?", messageId).toArray()[0]?.rank;
  }

  /** Logs an event at `hw` and answers its eseq; the entry past the window leaves (usually one). */
  log(type: RoomEvent["type"], m: MessageRow, hw: number, rank: number | null): number {
    this.createLog();
    const [logged] = this.sql
      .exec<{ eseq: number }>("INSERT INTO events (hw, type, message_id, seq) VALUES (?, ?, ?, ?) RETURNING eseq", hw, type, m.id, m.seq)
      .toArray();
    const eseq = logged?.eseq ?? 0;
    if (rank !== null) {
      this.sql.exec(
        "INSERT INTO receipts (message_id, rank, eseq) VALUES (?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET rank = excluded.rank, eseq = excluded.eseq",
        m.id,
        rank,
        eseq,
      );
    }
    // eseq is AUTOINCREMENT without gaps, so the window's edge is arithmetic.
    const edge = eseq - EVENT_LOG_RETENTION;
    const pruned = this.sql.exec<{ hw: number }>("DELETE FROM events WHERE eseq <= ? RETURNING hw", edge).toArray();
    if (pruned.length) {
      this.kv.put(KEY.prunedHw, Math.max(this.prunedHw, ...pruned.map((p) => p.hw)));
      this.sql.exec("DELETE FROM receipts WHERE eseq <= ?", edge);
    }
    return eseq;
  }

  /** Logged changes of messages up to seq `upTo`, logged at hw `fromHw` or later, in log order. */
  loggedSince(fromHw: number, upTo: number): LoggedEvent[] {
    if (!this.hasLog()) return [];
    return this.sql
      .exec<LoggedEvent>("SELECT eseq, type, message_id FROM events WHERE hw >= ? AND seq <= ? ORDER BY eseq", fromHw, upTo)
      .toArray();
  }
}
