/** Helpers of the safety tests: blocks, unmatches and suspensions through the real routes, and the ledger invariant. */
import { env } from "cloudflare:workers";
import { as, json } from "./helpers";

export const SEND = "/api/v2/messages/send";

export async function block(blocker: string, blocked: string) {
  const res = await as(blocker).post("/api/v2/blocks", { user_id: blocked });
  if (res.status !== 201 && res.status !== 200) throw new Error(`block failed: ${res.status} ${await res.text()}`);
  return json(res);
}

export async function unblock(blocker: string, blocked: string) {
  const res = await as(blocker).del(`/api/v2/blocks/${blocked}`);
  if (res.status !== 200) throw new Error(`unblock failed: ${res.status} ${await res.text()}`);
  return json(res);
}

export async function unmatch(user: string, partner: string) {
  const res = await as(user).post(`/api/v2/conversations/${partner}/unmatch`);
  if (res.status !== 200) throw new Error(`unmatch failed: ${res.status} ${await res.text()}`);
  return json(res);
}

/** A send's status and body, whatever it answered. */
export async function trySend(from: string, to: string, content = "hello", extra: Record<string, unknown> = {}) {
  const res = await as(from).post(SEND, { receiver_id: to, content, ...extra });
  return { status: res.status, body: await json(res) };
}

export async function suspendAs(admin: string, user: string, body: Record<string, unknown> = { reason: "abuse" }) {
  const res = await as(admin).post(`/api/admin/users/${user}/suspend`, body);
  if (res.status !== 200) throw new Error(`suspend failed: ${res.status} ${await res.text()}`);
  return json(res);
}

/** Users whose balance differs from the sum of their ledger (none, always). */
export async function balancesOffLedger(): Promise<unknown[]> {
  const { results } = await env.DB.prepare(
    `SELECT b.user_id, b.balance, coalesce((SELECT SUM(amount) FROM credit_transactions t WHERE t.user_id = b.user_id), 0) AS ledger
     FROM credit_balances b WHERE b.balance <> coalesce((SELECT SUM(amount) FROM credit_transactions t WHERE t.user_id = b.user_id), 0)`,
  ).all();
  return results;
}

export async function ledgerOf(user: string) {
  const { results } = await env.DB.prepare(
    "SELECT kind, amount, balance_after, message_id FROM credit_transactions WHERE user_id = ? ORDER BY pk",
  )
    .bind(user)
    .all<{ kind: string; amount: number; balance_after: number; message_id: string | null }>();
  return results;
}

/** D1 that counts the statements run through it (a batch counts each of its statements): query budgets, measured. */
export function countingD1(d1: D1Database): { d1: D1Database; queries: () => number } {
  let n = 0;
  const proxy = new Proxy(d1, {
    get(target, prop) {
      if (prop === "prepare")
        return (query: string) => {
          n++;
          return target.prepare(query);
        };
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { d1: proxy, queries: () => n };
}

/** `rows` messages from `sender` to `receiver`, written by SQL in one statement (the FTS trigger indexes each). */
export async function seedMessages(sender: string, receiver: string, rows: number, text = "seeded message") {
  const conversationId = sender < receiver ? `${sender}:${receiver}` : `${receiver}:${sender}`;
  const base =
    (await env.DB.prepare("SELECT last_seq FROM conversations WHERE id = ?").bind(conversationId).first<{ last_seq: number }>())
      ?.last_seq ?? 0;
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
     INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, message_type, status, moderation_status,
                           attachments, metadata, credits_cost, is_deleted, created_at, updated_at)
     SELECT 'msg_seed_' || ?2 || '_' || (CAST(?6 AS INTEGER) + i), ?3, CAST(?6 AS INTEGER) + i, ?2, ?4, ?5 || ' #' || i, 'text', 'sent', 'pending', '[]', '{}', 0, 0,
            strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || i || ' seconds'), '2026-01-01T00:00:00.000Z'
     FROM n`,
  )
    .bind(rows, sender, conversationId, receiver, text, base)
    .run();
  await env.DB.prepare(
    `INSERT INTO conversations (id, user_low, user_high, last_seq, created_at, last_activity_at) VALUES (?1, ?2, ?3, ?4, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')
     ON CONFLICT (id) DO UPDATE SET last_seq = last_seq + ?4`,
  )
    .bind(conversationId, sender < receiver ? sender : receiver, sender < receiver ? receiver : sender, rows)
    .run();
}
