/**
 * Test helpers: everything goes through the real Worker (`exports.default.fetch`), real local D1
 * and real Durable Objects. Seeding uses the same db-layer statements the service uses.
 */
import { env, exports } from "cloudflare:workers";
import { SQL } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { SignJWT } from "jose";
import { dbOf } from "../src/db/client";
import { grantStatements } from "../src/db/credits";
import { conversationIdOf, newId } from "../src/lib/ids";
import { announcementsSettled } from "../src/services/realtime";
import { catchUpSearchIndex } from "../src/services/search-index";

export const db = dbOf(env.DB);
export const BASE = "http://pairly.test";

let counter = 0;
/** A fresh user id per call: test files share storage, so tests never reuse users. */
export const newUser = (prefix = "u") =>
  `${prefix}_${Date.now().toString(36)}${(counter++).toString(36)}${crypto.randomUUID().slice(0, 6)}`;

type TokenOptions = {
  secret?: string;
  iss?: string | null;
  aud?: string | null;
  expiresIn?: number | null;
  alg?: string;
  sub?: string | null;
};

/** A token signed like production's local mode, with knobs for every way it can be wrong. */
export async function tokenFor(userId: string, o: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: o.alg ?? "HS256", typ: "JWT" }).setIssuedAt();
  if (o.sub !== null) jwt.setSubject(o.sub ?? userId);
  if (o.iss !== null) jwt.setIssuer(o.iss ?? env.JWT_ISSUER);
  if (o.aud !== null) jwt.setAudience(o.aud ?? env.JWT_AUDIENCE);
  if (o.expiresIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + (o.expiresIn ?? 3600));
  return jwt.sign(new TextEncoder().encode(o.secret ?? env.JWT_SECRET));
}

export async function call(method: string, path: string, init: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  return exports.default.fetch(`${BASE}${path}`, { method, headers, body });
}

/** `as(user).post(path, body)`: a signed-in client. */
export function as(userId: string) {
  const token = tokenFor(userId);
  const go = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    call(method, path, { token: await token, body, headers });
  return {
    get: (path: string) => go("GET", path),
    post: (path: string, body?: unknown, headers?: Record<string, string>) => go("POST", path, body, headers),
    put: (path: string, body?: unknown) => go("PUT", path, body),
    del: (path: string) => go("DELETE", path),
  };
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies in tests are asserted structurally
export async function json<T = any>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

/** Credits through the real grant statements (balance + ledger row), without an admin in the loop. */
export async function seedCredits(userId: string, amount: number): Promise<void> {
  await db.batch(
    grantStatements(db, {
      userId,
      amount,
      reason: "test seed",
      adminId: "test",
      transactionId: newId("txn"),
      now: new Date().toISOString(),
    }),
  );
}

export async function balanceOf(userId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT balance FROM credit_balances WHERE user_id = ?").bind(userId).first<{ balance: number }>();
  return row?.balance ?? 0;
}

/** The conversation of two users as stored: its seq high-water mark and last activity (null before the first message). */
export async function conversationOf(a: string, b: string) {
  return env.DB.prepare("SELECT last_seq, last_activity_at FROM conversations WHERE id = ?")
    .bind(conversationIdOf(a, b))
    .first<{ last_seq: number; last_activity_at: string }>();
}

export async function count(sql: string, ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM (${sql})`)
    .bind(...params)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export async function send(from: string, to: string, content = "hello", extra: Record<string, unknown> = {}) {
  const res = await as(from).post("/api/v2/messages/send", { receiver_id: to, content, ...extra });
  if (res.status !== 201) throw new Error(`send failed: ${res.status} ${await res.text()}`);
  // Its fan-out runs in the background: a socket opened after this must not see it live.
  await announcementsSettled();
  return json(res);
}

/** Two users; the first has `credits`. */
/** Runs the search indexer to the end, as the minute's Cron Trigger would: sent messages become searchable rows. */
export async function indexNow(): Promise<void> {
  while ((await catchUpSearchIndex(db, 100)).pending);
}

export async function pair(credits = 10) {
  const alice = newUser("alice");
  const bob = newUser("bob");
  if (credits) await seedCredits(alice, credits);
  return { alice, bob };
}

export async function createAdmin(role: string, opts: { active?: boolean; id?: string } = {}) {
  const id = opts.id ?? newUser(role);
  const now = new Date().toISOString();
  await env.DB.prepare("INSERT INTO admins (id, email, role, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
    .bind(id, `${id}@pairly.test`, role, opts.active === false ? 0 : 1, now, now)
    .run();
  return id;
}

/** EXPLAIN QUERY PLAN of a Drizzle query (a builder, or an `sql` fragment), as the list of plan details. */
export async function planOf(query: { toSQL(): { sql: string; params: unknown[] } } | SQL): Promise<string[]> {
  const q = query instanceof SQL ? new SQLiteSyncDialect().sqlToQuery(query) : query.toSQL();
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
    .bind(...q.params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail);
}

/** The audit rows one request left, found by the X-Request-Id its response carries (oldest first). */
export async function auditRowsOf(res: Response): Promise<Record<string, unknown>[]> {
  const { results } = await env.DB.prepare("SELECT * FROM audit_log WHERE request_id = ? ORDER BY pk")
    .bind(res.headers.get("x-request-id"))
    .all<Record<string, unknown>>();
  return results;
}
