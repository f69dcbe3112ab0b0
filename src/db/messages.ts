import { and, desc, eq, getTableColumns, gt, gte, lt, lte, ne, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { type AttachmentClaim, claimAttachmentStatements, isAttachmentClaimFailure } from "./attachments";
import type { Db } from "./client";
import { constraintOf } from "./constraints";
import { bindPrepared, bindQuery, d1Of, filled, type Prepared, prepareOnce, rowAt, rowOf } from "./prepared";
import { inboxScope, socketsOf } from "./presence";
import { activeSubscriptionExists } from "./push";
import { blocking, hiddenPartnersOf, type SendGuard, sendGuardStatement, sendRefusalOf } from "./safety";
import {
  conversationMembers,
  conversations,
  creditBalances,
  creditTransactions,
  type MessageRow,
  messages,
  type NewMessageRow,
  type SendRefusal,
} from "./schema";

/**
 * What "unread" means, written exactly as the partial index `messages_unread_idx` is: SQLite only
 * uses a partial index when the query repeats its WHERE term for term (literals, not parameters).
 */
export const UNREAD = sql.raw(`status <> 'read' AND is_deleted = 0 AND moderation_status <> 'blocked'`);

/**
 * Receipt filters beside `idIn`. The unary `+` keeps SQLite from choosing the receiver or conversation
 * index (whose ranges hold all of a user's messages) over one `messages_id_unique` lookup per id.
 */
const ofReceiver = (receiverId: string) => sql`+${messages.receiverId} = ${receiverId}`;
const inConversation = (conversationId?: string) => (conversationId ? sql`+${messages.conversationId} = ${conversationId}` : undefined);

/** Deleted and blocked messages take no receipts: their receiver cannot see them. */
const RECEIPTABLE = sql.raw(`is_deleted = 0 AND moderation_status <> 'blocked'`);

export type NewMessage = Omit<NewMessageRow, "pk" | "seq" | "creditsTransactionId">;
/**
 * Which realtime objects a new message must wake, as the send's own transaction read it
 * (db/presence.ts): sockets in its room and in each inbox, and whether the receiver has a push device.
 */
export type SendReach = { roomSockets: number; senderInboxSockets: number; receiverInboxSockets: number; receiverMayPush: boolean };

export type SendOutcome =
  | { kind: "sent"; message: MessageRow; reach: SendReach }
  | { kind: "insufficient" }
  | { kind: "duplicate" }
  | { kind: "attachment_taken" }
  | { kind: "refused"; reason: SendRefusal };

/**
 * Stores a message and takes its charge in ONE D1 batch (D1 runs a batch as a transaction):
 * the conversation's seq counter, the message, the debit, the ledger row and both members' activity.
 * There is no read-then-write in the Worker; the database refuses what must not happen:
 * - UNIQUE (sender_id, client_message_id) rejects a retry before any debit, even at zero balance;
 * - the safety guard (right after the message, so a retry is still told apart first; before the
 *   charge) refuses a send a block, an unmatch, a suspension or the first-contact rule forbids, by
 *   primary-key lookups of what is committed when the batch runs: no race lets one through;
 * - CHECK (balance >= 0) rejects an overdraw, and the whole batch (seq, message, ledger) rolls back;
 *   a sender without a balance row has nothing to debit, and the ledger row's NOT NULL balance_after
 *   (read back from that row) refuses it the same way, so no statement creates an empty balance first;
 * - a free message (cost 0) takes no debit and writes no ledger row;
 * - the attachment claim (after the message, so a retry is still told apart first) fails the batch
 *   when an upload it names was sent by another message meanwhile.
 */
const P = (name: string) => sql.placeholder(name);

/** Read in the message's RETURNING: what the send must notify costs no statement of its own. */
const REACH = {
  roomSockets: socketsOf(P("conversationId")).as("room_sockets"),
  senderInboxSockets: socketsOf(P("senderInbox")).as("sender_inbox_sockets"),
  receiverInboxSockets: socketsOf(P("receiverInbox")).as("receiver_inbox_sockets"),
  receiverMayPush: sql`${activeSubscriptionExists(P("receiverId"), P("now"))}`.as("receiver_may_push"),
};

const REACH_ALONE = prepareOnce((db) => db.select(REACH).from(sql`(SELECT 1)`));
/** The send's reach as a query of its own: the same SQL its RETURNING holds (what the EXPLAIN tests read). */
export const sendReachQuery = (v: {
  conversationId: string;
  senderInbox: string;
  receiverInbox: string;
  receiverId: string;
  now: string;
}) => filled(REACH_ALONE(), v);

/** The send batch's statements, each built once per isolate (db/prepared.ts); values are placeholders. */
const SEND = {
  nextSeq: prepareOnce((db) =>
    db
      .insert(conversations)
      .values({
        id: P("conversationId"),
        userLow: P("low"),
        userHigh: P("high"),
        lastSeq: 1,
        createdAt: P("now"),
        lastActivityAt: P("now"),
      })
      .onConflictDoUpdate({
        target: conversations.id,
        set: {
          lastSeq: sql`${conversations.lastSeq} + 1`,
          lastActivityAt: sql`max(${conversations.lastActivityAt}, excluded.last_activity_at)`,
        },
      }),
  ),
  message: prepareOnce((db) =>
    db
      .insert(messages)
      .values({
        id: P("messageId"),
        conversationId: P("conversationId"),
        seq: sql`(SELECT ${conversations.lastSeq} FROM ${conversations} WHERE ${conversations.id} = ${P("conversationId")})`,
        senderId: P("senderId"),
        receiverId: P("receiverId"),
        content: P("content"),
        messageType: P("messageType"),
        attachments: P("attachments"),
        metadata: P("metadata"),
        creditsCost: P("cost"),
        creditsTransactionId: P("creditsTransactionId"),
        clientMessageId: P("clientMessageId"),
        createdAt: P("now"),
        updatedAt: P("now"),
      })
      .returning({ ...getTableColumns(messages), ...REACH }),
  ),
  debit: prepareOnce((db) =>
    db
      .update(creditBalances)
      .set({ balance: sql`${creditBalances.balance} - ${P("cost")}`, updatedAt: sql`${P("now")}` })
      .where(eq(creditBalances.userId, P("senderId"))),
  ),
  ledger: prepareOnce((db) =>
    db.insert(creditTransactions).values({
      id: P("transactionId"),
      userId: P("senderId"),
      amount: P("debit"),
      balanceAfter: sql`(SELECT ${creditBalances.balance} FROM ${creditBalances} WHERE ${creditBalances.userId} = ${P("senderId")})`,
      kind: "message",
      messageId: P("messageId"),
      createdAt: P("now"),
    }),
  ),
  members: prepareOnce((db) =>
    db
      .insert(conversationMembers)
      .values([
        { userId: P("senderId"), partnerId: P("receiverId"), conversationId: P("conversationId"), lastActivityAt: P("now"), sentCount: 1 },
        { userId: P("receiverId"), partnerId: P("senderId"), conversationId: P("conversationId"), lastActivityAt: P("now"), sentCount: 0 },
      ])
      .onConflictDoUpdate({
        target: [conversationMembers.userId, conversationMembers.partnerId],
        set: {
          lastActivityAt: sql`max(${conversationMembers.lastActivityAt}, excluded.last_activity_at)`,
          sentCount: sql`${conversationMembers.sentCount} + excluded.sent_count`,
        },
      }),
  ),
};

export async function insertMessageWithCharge(
  db: Db,
  m: NewMessage,
  charge: { cost: number; transactionId: string },
  guard: SendGuard,
  attachmentClaim: AttachmentClaim | null = null,
): Promise<SendOutcome> {
  const [low, high] = m.senderId < m.receiverId ? [m.senderId, m.receiverId] : [m.receiverId, m.senderId];
  const charged = charge.cost > 0;
  const d1 = d1Of(db);
  const v = {
    messageId: m.id,
    conversationId: m.conversationId,
    low,
    high,
    senderId: m.senderId,
    receiverId: m.receiverId,
    content: m.content,
    messageType: m.messageType ?? "text",
    attachments: m.attachments,
    metadata: m.metadata,
    cost: charge.cost,
    debit: -charge.cost,
    transactionId: charge.transactionId,
    creditsTransactionId: charged ? charge.transactionId : null,
    clientMessageId: m.clientMessageId ?? null,
    now: m.createdAt,
    senderInbox: inboxScope(m.senderId),
    receiverInbox: inboxScope(m.receiverId),
  };
  try {
    const [, inserted] = await d1.batch([
      bindPrepared(d1, SEND.nextSeq(), v),
      bindPrepared(d1, SEND.message(), v),
      sendGuardStatement(d1, guard),
      ...(attachmentClaim ? claimAttachmentStatements(db, attachmentClaim, m.id).map((q) => bindQuery(d1, q)) : []),
      ...(charged ? [bindPrepared(d1, SEND.debit(), v), bindPrepared(d1, SEND.ledger(), v)] : []),
      bindPrepared(d1, SEND.members(), v),
    ]);
    const row = inserted?.results[0] as Record<string, unknown> | undefined;
    if (!row) throw new Error("message insert returned no row");
    const reach: SendReach = {
      roomSockets: Number(row.room_sockets),
      senderInboxSockets: Number(row.sender_inbox_sockets),
      receiverInboxSockets: Number(row.receiver_inbox_sockets),
      receiverMayPush: Boolean(row.receiver_may_push),
    };
    return { kind: "sent", message: rowOf(messages, row), reach };
  } catch (err) {
    const hit = constraintOf(err);
    if (hit?.kind === "check" && hit.name === "balance_non_negative") return { kind: "insufficient" };
    // No balance row at all: the debit changed nothing, so the ledger row's balance_after is NULL.
    if (hit?.kind === "not_null" && hit.column === "credit_transactions.balance_after") return { kind: "insufficient" };
    if (hit?.kind === "unique" && hit.columns.includes("client_message_id")) return { kind: "duplicate" };
    if (isAttachmentClaimFailure(hit)) return { kind: "attachment_taken" };
    const refusal = sendRefusalOf(hit);
    if (refusal) return { kind: "refused", reason: refusal };
    throw err;
  }
}

export async function findById(db: Db, id: string): Promise<MessageRow | undefined> {
  return db.select().from(messages).where(eq(messages.id, id)).get();
}

/** The exactly-once lookup; the builders below are exported so tests can EXPLAIN their plans. */
export const clientIdQuery = (db: Db, senderId: string, clientMessageId: string) =>
  db
    .select()
    .from(messages)
    .where(and(eq(messages.senderId, senderId), eq(messages.clientMessageId, clientMessageId)));

export const findByClientId = (db: Db, senderId: string, clientMessageId: string): Promise<MessageRow | undefined> =>
  clientIdQuery(db, senderId, clientMessageId).get();

/**
 * Message rows of a prepared query (`select()` of the table: its columns in order), mapped by `rowAt`. Drizzle's
 * own mapping (an entity check per field of every row) took 2.2 of the 6.3 ms of CPU a 50-message
 * page cost (`npm run bench:profile -- --read`).
 */
async function messageRows(db: Db, q: Prepared): Promise<MessageRow[]> {
  // `.raw()`: values by position, so the D1 binding builds no object per row either.
  const rows = await bindQuery(d1Of(db), { toSQL: () => q }).raw();
  return rows.map((r) => rowAt(messages, r, 0) as MessageRow);
}

const ofConversation = eq(messages.conversationId, P("conversationId"));
const READS = {
  newest: prepareOnce((db) =>
    db.select().from(messages).where(ofConversation).orderBy(desc(messages.seq)).limit(P("limit")).offset(P("skip")),
  ),
  before: prepareOnce((db) =>
    db
      .select()
      .from(messages)
      .where(and(ofConversation, lt(messages.seq, P("beforeSeq"))))
      .orderBy(desc(messages.seq))
      .limit(P("limit"))
      .offset(P("skip")),
  ),
  after: prepareOnce((db) =>
    db
      .select()
      .from(messages)
      .where(and(ofConversation, gt(messages.seq, P("seq"))))
      .orderBy(messages.seq)
      .limit(P("limit")),
  ),
};

/** Newest first, by seq; `beforeSeq` is the keyset cursor and `skip` an offset after it (the SQL, for EXPLAIN). */
export const historyQuery = (conversationId: string, page: { beforeSeq?: number; skip: number; limit: number }) =>
  filled(page.beforeSeq === undefined ? READS.newest() : READS.before(), { conversationId, ...page });

export const historyPage = (db: Db, conversationId: string, page: { beforeSeq?: number; skip: number; limit: number }) =>
  messageRows(db, historyQuery(conversationId, page));

/** Resume: every message after `seq`, oldest first. */
export const messagesAfter = (db: Db, conversationId: string, seq: number, limit: number): Promise<MessageRow[]> =>
  messageRows(db, filled(READS.after(), { conversationId, seq, limit }));

export const createdAtUpToQuery = (db: Db, conversationId: string, seq: number) =>
  db
    .select({ createdAt: messages.createdAt })
    .from(messages)
    .where(and(eq(messages.conversationId, conversationId), lte(messages.seq, seq)))
    .orderBy(desc(messages.seq))
    .limit(1);

/** When the newest message at or below `seq` was created: the moment a client that has `seq` caught up to. */
export async function createdAtUpTo(db: Db, conversationId: string, seq: number): Promise<string | undefined> {
  return (await createdAtUpToQuery(db, conversationId, seq).get())?.createdAt;
}

/** Resume: messages up to `seq` whose receipts, deletion or moderation changed at or after `since`. */
export const changedSince = (db: Db, conversationId: string, seq: number, since: string, limit: number) =>
  db
    .select()
    .from(messages)
    .where(and(eq(messages.conversationId, conversationId), gte(messages.updatedAt, since), lte(messages.seq, seq)))
    .orderBy(messages.updatedAt)
    .limit(limit);

/**
 * `id IN (...)` for any number of ids as ONE bound parameter (a JSON array): D1 allows at most 100
 * bound values per statement, which a 100-id receipt plus its other conditions would exceed.
 * SQLite still looks each id up in `messages_id_unique`.
 */
export const idIn = (ids: string[]) => sql`${messages.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;

export async function messagesByIds(db: Db, ids: string[]): Promise<MessageRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(messages).where(idIn(ids));
}

const lastMessage = alias(messages, "last_message");

export type ConversationRow = {
  partnerId: string;
  conversationId: string;
  lastActivityAt: string;
  unreadCount: number;
  lastMessage: MessageRow | null;
};

/** The caller's conversations, most recent activity first, keyset on (last_activity_at, partner_id). */
export const conversationQuery = (
  db: Db,
  userId: string,
  page: { before?: { at: string; partnerId: string }; skip: number; limit: number },
) => {
  const cm = conversationMembers;
  return db
    .select({
      partnerId: cm.partnerId,
      conversationId: cm.conversationId,
      lastActivityAt: cm.lastActivityAt,
      unreadCount: sql<number>`(SELECT COUNT(*) FROM ${messages} WHERE receiver_id = ${cm.userId} AND sender_id = ${cm.partnerId} AND ${UNREAD})`,
      lastMessage,
    })
    .from(cm)
    .leftJoin(
      lastMessage,
      eq(lastMessage.pk, sql`(SELECT pk FROM ${messages} WHERE conversation_id = ${cm.conversationId} ORDER BY seq DESC LIMIT 1)`),
    )
    .where(
      and(
        eq(cm.userId, userId),
        page.before ? sql`(${cm.lastActivityAt}, ${cm.partnerId}) < (${page.before.at}, ${page.before.partnerId})` : undefined,
        // A conversation leaves the blocker's list while the block stands (unmatched ones have no member rows).
        sql`NOT ${blocking(cm.userId, cm.partnerId)}`,
      ),
    )
    .orderBy(desc(cm.lastActivityAt), desc(cm.partnerId))
    .limit(page.limit)
    .offset(page.skip);
};

/** The page, its rows mapped by position (four fields, then the last message's columns): see `messageRows`. */
export async function conversationPage(db: Db, userId: string, page: Parameters<typeof conversationQuery>[2]): Promise<ConversationRow[]> {
  const rows = await bindQuery(d1Of(db), conversationQuery(db, userId, page)).raw();
  return rows.map((r) => ({
    partnerId: String(r[0]),
    conversationId: String(r[1]),
    lastActivityAt: String(r[2]),
    unreadCount: Number(r[3]),
    lastMessage: rowAt(messages, r, 4),
  }));
}

/**
 * What an inbox socket needs on connect to find what it missed: the user's most recent conversations,
 * each with its newest seq and the user's unread count from that partner (one range of the member
 * index, a primary-key lookup and an unread-index count per row), newest activity first.
 */
export const inboxSyncQuery = (db: Db, userId: string, limit: number) => {
  const cm = conversationMembers;
  return db
    .select({
      partnerId: cm.partnerId,
      lastSeq: conversations.lastSeq,
      unreadCount: sql<number>`(SELECT COUNT(*) FROM ${messages} WHERE receiver_id = ${cm.userId} AND sender_id = ${cm.partnerId} AND ${UNREAD})`,
    })
    .from(cm)
    .innerJoin(conversations, eq(conversations.id, cm.conversationId))
    .where(and(eq(cm.userId, userId), sql`NOT ${blocking(cm.userId, cm.partnerId)}`))
    .orderBy(desc(cm.lastActivityAt), desc(cm.partnerId))
    .limit(limit);
};

/**
 * `INDEXED BY`: without table statistics SQLite cannot tell that the partial index (unread rows
 * only) beats the full (receiver_id, created_at) index, and would count every received message.
 * Messages from partners the receiver blocks or unmatched do not count (the index holds sender_id,
 * so this never touches a row).
 */
export const unreadQuery = (receiverId: string, senderId?: string) =>
  sql`SELECT COUNT(*) AS n FROM messages INDEXED BY messages_unread_idx WHERE receiver_id = ${receiverId}${
    senderId ? sql` AND sender_id = ${senderId}` : sql``
  } AND ${UNREAD} AND sender_id NOT IN (${hiddenPartnersOf(receiverId)})`;

export async function unreadCount(db: Db, receiverId: string, senderId?: string): Promise<number> {
  const row = await db.get<{ n: number }>(unreadQuery(receiverId, senderId));
  return Number(row?.n ?? 0);
}

/**
 * Receipts only move forward because the SQL says so: `sent → delivered`, never back from `read`.
 * Marks the caller's messages read (only within `conversationId` when given: a socket's receipts
 * stay in its room); the rows returned are exactly those that changed.
 */
export const markRead = (db: Db, ids: string[], receiverId: string, now: string, conversationId?: string) =>
  db
    .update(messages)
    .set({
      status: "read",
      readAt: now,
      deliveredAt: sql`coalesce(${messages.deliveredAt}, ${now})`,
      updatedAt: now,
    })
    .where(and(idIn(ids), ofReceiver(receiverId), inConversation(conversationId), ne(messages.status, "read"), RECEIPTABLE))
    .returning();

/** Marks delivered every listed message of the caller that is still `sent`; returns those that changed. */
export const markManyDelivered = (db: Db, ids: string[], receiverId: string, now: string, conversationId?: string) =>
  db
    .update(messages)
    .set({ status: "delivered", deliveredAt: now, updatedAt: now })
    .where(and(idIn(ids), ofReceiver(receiverId), inConversation(conversationId), eq(messages.status, "sent"), RECEIPTABLE))
    .returning();

export async function softDelete(db: Db, id: string, senderId: string, now: string): Promise<MessageRow | undefined> {
  return db
    .update(messages)
    .set({ isDeleted: true, deletedAt: now, updatedAt: now })
    .where(and(eq(messages.id, id), eq(messages.senderId, senderId), eq(messages.isDeleted, false)))
    .returning()
    .get();
}

export type UserStatsRow = { sent: number; received: number; unread: number; creditsSpent: number; conversations: number };

export async function statsFor(db: Db, userId: string): Promise<UserStatsRow> {
  const row = await db
    .select({
      sent: sql<number>`(SELECT COUNT(*) FROM ${messages} WHERE sender_id = ${userId})`,
      received: sql<number>`(SELECT COUNT(*) FROM ${messages} WHERE receiver_id = ${userId})`,
      unread: sql<number>`(${unreadQuery(userId)})`,
      creditsSpent: sql<number>`(SELECT coalesce(-SUM(amount), 0) FROM ${creditTransactions} WHERE user_id = ${userId} AND kind = 'message')`,
      conversations: sql<number>`(SELECT COUNT(*) FROM ${conversationMembers} cm WHERE cm.user_id = ${userId} AND NOT ${blocking(sql`cm.user_id`, sql`cm.partner_id`)})`,
    })
    .from(sql`(SELECT 1)`)
    .get();
  return {
    sent: Number(row?.sent ?? 0),
    received: Number(row?.received ?? 0),
    unread: Number(row?.unread ?? 0),
    creditsSpent: Number(row?.creditsSpent ?? 0),
    conversations: Number(row?.conversations ?? 0),
  };
}
