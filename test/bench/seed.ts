/**
 * Seeding straight into a Worker's local D1 through Miniflare (SQL, no HTTP), written the way a
 * send writes (src/db/messages.ts insertMessageWithCharge): each message has its seq, its
 * conversation's `last_seq` and both `conversation_members` rows, and its charge (a ledger row of
 * kind `message` pointing at it, `balance_after` exact) after a grant that funded it; balances end
 * at what the ledger says. The insert trigger queues each message for the search index, as on a real
 * send, and the seed then indexes them as the minute's Cron Trigger would have long before a search.
 */
import type { Miniflare } from "miniflare";

type D1 = Awaited<ReturnType<Miniflare["getD1Database"]>>;

export const SEED_CREDITS_LEFT = 100;
const GRANT_AT = "2025-12-31T00:00:00.000Z";

/** Users who can send: a balance and the grant that made it (ids `${prefix}${i}`, i < n). */
export async function seedUsers(db: D1, prefix: string, n: number, credits: number): Promise<void> {
  const users = `WITH RECURSIVE u(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM u WHERE i + 1 < ${n})`;
  await db.batch([
    db.prepare(
      `${users} INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, admin_id, created_at)
       SELECT 'txn_grant_${prefix}' || i, '${prefix}' || i, ${credits}, ${credits}, 'grant', 'bench seed', 'bench_admin', '${GRANT_AT}' FROM u`,
    ),
    db.prepare(
      `${users} INSERT INTO credit_balances (user_id, balance, updated_at) SELECT '${prefix}' || i, ${credits}, '${GRANT_AT}' FROM u`,
    ),
  ]);
}

/**
 * `count` conversations [from, from + count) of `perConversation` messages each. Conversation n is
 * between `a(n)` and `b(n)` (SQL expressions of n); odd seqs are a's, even seqs b's. Every message
 * is read except each conversation's last. One message in 1 000 says "needle" (for admin search).
 * A user's messages must all fall in one call (their grant covers exactly what they send).
 */
export async function seedConversations(
  db: D1,
  o: { tag: string; from: number; count: number; perConversation: number; a: string; b: string },
): Promise<void> {
  const m = o.perConversation;
  const at = `strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (n * ${m} + k) || ' seconds')`;
  const range = `WITH RECURSIVE c(n) AS (SELECT ${o.from} UNION ALL SELECT n + 1 FROM c WHERE n + 1 < ${o.from + o.count}),
    s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < ${m}),
    p AS (SELECT n, ${o.a} AS a, ${o.b} AS b FROM c),
    conv AS (SELECT n, a, b, CASE WHEN a < b THEN a || ':' || b ELSE b || ':' || a END AS id FROM p)`;
  const firstPk = Number((await db.prepare("SELECT coalesce(max(pk), 0) AS pk FROM messages").first<{ pk: number }>())?.pk ?? 0);
  const mine = `pk > ${firstPk}`;
  await db.batch([
    db.prepare(
      `${range} INSERT INTO conversations (id, user_low, user_high, last_seq, created_at, last_activity_at)
       SELECT id, min(a, b), max(a, b), ${m}, strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (n * ${m} + 1) || ' seconds'),
              strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (n * ${m} + ${m}) || ' seconds') FROM conv`,
    ),
    db.prepare(
      `${range} INSERT INTO conversation_members (user_id, partner_id, conversation_id, last_activity_at)
       SELECT a, b, id, strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (n * ${m} + ${m}) || ' seconds') FROM conv
       UNION ALL SELECT b, a, id, strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || (n * ${m} + ${m}) || ' seconds') FROM conv`,
    ),
    db.prepare(
      `${range} INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, message_type, status, moderation_status,
         delivered_at, read_at, attachments, metadata, credits_cost, credits_transaction_id, is_deleted, created_at, updated_at)
       SELECT 'msg_${o.tag}_' || n || '_' || k, id, k, CASE k % 2 WHEN 1 THEN a ELSE b END, CASE k % 2 WHEN 1 THEN b ELSE a END,
         CASE WHEN (n * ${m} + k) % 1000 = 0 THEN 'a needle in the haystack ' ELSE 'ordinary chatter number ' END || (n * ${m} + k),
         'text', CASE WHEN k = ${m} THEN 'sent' ELSE 'read' END, 'approved',
         CASE WHEN k = ${m} THEN NULL ELSE ${at} END, CASE WHEN k = ${m} THEN NULL ELSE ${at} END,
         '[]', '{}', 1, 'txn_${o.tag}_' || n || '_' || k, 0, ${at}, ${at}
       FROM conv, s`,
    ),
    // The grant that funded each sender: what they sent plus what they have left.
    db.prepare(
      `INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, admin_id, created_at)
       SELECT 'txn_grant_${o.tag}_' || sender_id, sender_id, count(*) + ${SEED_CREDITS_LEFT}, count(*) + ${SEED_CREDITS_LEFT}, 'grant', 'bench seed', 'bench_admin', '${GRANT_AT}'
       FROM messages WHERE ${mine} GROUP BY sender_id`,
    ),
    db.prepare(
      `INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, message_id, created_at)
       SELECT credits_transaction_id, sender_id, -1,
              count(*) OVER (PARTITION BY sender_id) + ${SEED_CREDITS_LEFT} - row_number() OVER (PARTITION BY sender_id ORDER BY pk), 'message', id, created_at
       FROM messages WHERE ${mine} ORDER BY pk`,
    ),
    db.prepare(
      `INSERT INTO credit_balances (user_id, balance, updated_at)
       SELECT sender_id, ${SEED_CREDITS_LEFT}, max(created_at) FROM messages WHERE ${mine} GROUP BY sender_id`,
    ),
    // What src/db/search-index.ts indexPending does, in one statement for the whole seed.
    db.prepare(
      `INSERT INTO messages_fts (rowid, content)
       SELECT pk, content FROM messages WHERE pk IN (SELECT pk FROM messages_fts_pending) ORDER BY pk`,
    ),
    db.prepare("DELETE FROM messages_fts_pending"),
  ]);
}

/** An active super admin (admin permissions come from D1). */
export async function seedAdmin(db: D1, id: string): Promise<void> {
  await db
    .prepare(
      `INSERT INTO admins (id, email, role, active, created_at, updated_at)
       VALUES (?, ?, 'super_admin', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    )
    .bind(id, `${id}@pairly.test`)
    .run();
}
