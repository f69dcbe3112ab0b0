/**
 * `npm run test:crash`: durability under kill -9. Starts `wrangler dev` (as `npm start` does) on its
 * own port and throwaway database, drives many concurrent sends with client_message_ids, kills the
 * server's whole process group with SIGKILL several times mid-load, restarts it, retries every send
 * whose outcome the client never learnt (as a real client would, same client_message_id), then checks
 * what D1 kept:
 *   - every acknowledged send (201/200) is stored exactly once, as acknowledged;
 *   - nothing else is stored, and every message has exactly one ledger row;
 *   - every balance equals the sum of its ledger, and never went below zero;
 *   - seq is gapless per conversation (1..last_seq).
 * Not part of CI (it needs minutes and a free port); run it after touching the send path.
 *
 *   npm run test:crash                       5 kills, 40 senders
 *   npm run test:crash -- --kills 10 --port 8791
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { localConfig, ROOT } from "../../src/cli/project.ts";
import { signToken } from "../../src/lib/jwt.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8791" },
    "inspector-port": { type: "string", default: "8792" },
    kills: { type: "string", default: "5" },
    senders: { type: "string", default: "40" },
    concurrency: { type: "string", default: "24" },
  },
});
const PORT = Number(values.port);
const KILLS = Number(values.kills);
const SENDERS = Number(values.senders);
const CONCURRENCY = Number(values.concurrency);
const CREDITS = 10_000;
const BASE = `http://127.0.0.1:${PORT}`;
const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
const persist = mkdtempSync(join(tmpdir(), "pairly-crash-"));
const config = localConfig();
const jwt = { secret: config.JWT_SECRET, issuer: config.JWT_ISSUER ?? "", audience: config.JWT_AUDIENCE ?? "" };

function wrangler(args: string[]): string {
  const r = spawnSync("wrangler", args, { cwd: ROOT, env: { ...process.env, ...OFFLINE }, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** SQL on the run's own database (the server is stopped, or not: local D1 allows both). */
function sql<T = Record<string, unknown>>(command: string): T[] {
  const out = wrangler(["d1", "execute", "DB", "--local", "--persist-to", persist, "--json", "--command", command]);
  const parsed = JSON.parse(out) as { results: T[] }[];
  return parsed.flatMap((p) => p.results);
}

let server: ChildProcess | null = null;

/** `wrangler dev` as its own process group, so SIGKILL takes workerd down with it, mid-write. */
async function start(): Promise<void> {
  const child = spawn(
    "wrangler",
    ["dev", "--ip", "127.0.0.1", "--port", String(PORT), "--inspector-port", String(values["inspector-port"]), "--persist-to", persist],
    { cwd: ROOT, env: { ...process.env, ...OFFLINE }, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  server = child;
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(`${BASE}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  kill9();
  throw new Error(`wrangler dev did not start:\n${log.slice(-4000)}`);
}

function kill9(): void {
  const pid = server?.pid;
  if (!pid) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
  server = null;
}

type Send = { sender: string; receiver: string; cmid: string; content: string };
type Ack = { status: number; id: string; seq: number; conversationId: string };

const tokens = new Map<string, string>();
async function tokenOf(user: string): Promise<string> {
  let t = tokens.get(user);
  if (!t) {
    t = await signToken(user, jwt, 6 * 3600);
    tokens.set(user, t);
  }
  return t;
}

/** One attempt: the acknowledgement, or null when the outcome is unknown (the server died, 5xx, 429). */
async function attempt(s: Send): Promise<Ack | null> {
  try {
    const res = await fetch(`${BASE}/api/v2/messages/send`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenOf(s.sender)}`, "content-type": "application/json" },
      body: JSON.stringify({ receiver_id: s.receiver, content: s.content, client_message_id: s.cmid }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await res.json()) as { id: string; seq: number; sender_id: string; receiver_id: string };
    if (res.status !== 201 && res.status !== 200) return null;
    const [low, high] = [s.sender, s.receiver].sort();
    return { status: res.status, id: body.id, seq: body.seq, conversationId: `${low}:${high}` };
  } catch {
    return null;
  }
}

const senders = Array.from({ length: SENDERS }, (_, i) => `crash_s${i}`);
const partners = Array.from({ length: 4 }, (_, i) => `crash_p${i}`);
let counter = 0;
const nextSend = (): Send => {
  const n = counter++;
  const sender = senders[n % senders.length] as string;
  return {
    sender,
    receiver: partners[Math.floor(n / senders.length) % partners.length] as string,
    cmid: `c${n}`,
    content: `crash message ${n}`,
  };
};

const acked = new Map<string, Ack & Send>(); // sender/cmid → acknowledgement
const unknown = new Map<string, Send>(); // sent, outcome never learnt: retried later with the same cmid
const key = (s: Send) => `${s.sender}/${s.cmid}`;
const stats = { attempts: 0, unknown: 0, replays: 0 };

async function settle(s: Send): Promise<void> {
  stats.attempts++;
  unknown.delete(key(s)); // in flight now; back in the set if this attempt learns nothing either
  const ack = await attempt(s);
  if (!ack) {
    stats.unknown++;
    unknown.set(key(s), s);
    return;
  }
  const earlier = acked.get(key(s));
  if (earlier && earlier.id !== ack.id) throw new Error(`${key(s)} acknowledged as two messages: ${earlier.id} and ${ack.id}`);
  if (ack.status === 200) stats.replays++;
  acked.set(key(s), { ...s, ...ack });
}

/** Keeps CONCURRENCY sends in flight until `stop` resolves (the server being killed under them). */
async function load(stop: Promise<void>): Promise<void> {
  let stopped = false;
  void stop.then(() => {
    stopped = true;
  });
  const worker = async () => {
    while (!stopped) {
      const retry = unknown.values().next().value as Send | undefined;
      await settle(retry ?? nextSend());
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

function seed(): void {
  wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
  const now = new Date().toISOString();
  const rows = senders.map((s) => `('${s}', ${CREDITS}, '${now}')`).join(", ");
  const ledger = senders.map((s, i) => `('txn_seed_${i}', '${s}', ${CREDITS}, ${CREDITS}, 'grant', 'crash seed', '${now}')`).join(", ");
  sql(`INSERT INTO credit_balances (user_id, balance, updated_at) VALUES ${rows}`);
  sql(`INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, created_at) VALUES ${ledger}`);
}

const checks: { name: string; ok: boolean; detail: string }[] = [];
const check = (name: string, ok: boolean, detail = "") => {
  checks.push({ name, ok, detail });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail ? ` — ${detail}` : ""}`);
};

function verify(): void {
  const stored = sql<{ id: string; sender_id: string; client_message_id: string; seq: number; conversation_id: string }>(
    "SELECT id, sender_id, client_message_id, seq, conversation_id FROM messages WHERE sender_id LIKE 'crash_s%'",
  );
  const byKey = new Map<string, typeof stored>();
  for (const m of stored)
    byKey.set(`${m.sender_id}/${m.client_message_id}`, [...(byKey.get(`${m.sender_id}/${m.client_message_id}`) ?? []), m]);
  const missing = [...acked.values()].filter((a) => byKey.get(key(a))?.[0]?.id !== a.id);
  const twice = [...byKey.entries()].filter(([, list]) => list.length > 1);
  const unacked = [...byKey.keys()].filter((k) => !acked.has(k));
  check(
    "every acknowledged send is stored, as acknowledged",
    missing.length === 0,
    `${acked.size} acknowledged, ${missing.length} missing`,
  );
  check("no send is stored twice", twice.length === 0, `${twice.length} duplicated`);
  check("nothing is stored that was never acknowledged (after the retries)", unacked.length === 0, `${unacked.length} unacknowledged rows`);
  const seqMismatch = [...acked.values()].filter((a) => byKey.get(key(a))?.[0]?.seq !== a.seq);
  check("each acknowledged seq is the stored seq", seqMismatch.length === 0, `${seqMismatch.length} differ`);

  const ledgerOff = sql<{ user_id: string; balance: number; total: number }>(
    `SELECT b.user_id, b.balance, coalesce((SELECT SUM(amount) FROM credit_transactions t WHERE t.user_id = b.user_id), 0) AS total
       FROM credit_balances b WHERE b.user_id LIKE 'crash_%' AND b.balance != coalesce((SELECT SUM(amount) FROM credit_transactions t WHERE t.user_id = b.user_id), 0)`,
  );
  check(
    "every balance equals the sum of its ledger",
    ledgerOff.length === 0,
    ledgerOff
      .slice(0, 3)
      .map((r) => JSON.stringify(r))
      .join(" "),
  );
  const negative = sql("SELECT user_id FROM credit_balances WHERE balance < 0");
  check("no balance below zero", negative.length === 0);
  const [charges] = sql<{ orphans: number; uncharged: number; double: number }>(
    `SELECT (SELECT COUNT(*) FROM credit_transactions t WHERE t.kind = 'message' AND t.user_id LIKE 'crash_%' AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = t.message_id)) AS orphans,
            (SELECT COUNT(*) FROM messages m WHERE m.sender_id LIKE 'crash_s%' AND NOT EXISTS (SELECT 1 FROM credit_transactions t WHERE t.message_id = m.id)) AS uncharged,
            (SELECT COUNT(*) FROM (SELECT message_id FROM credit_transactions WHERE kind = 'message' AND user_id LIKE 'crash_%' GROUP BY message_id HAVING COUNT(*) > 1)) AS double`,
  );
  check(
    "every message has exactly one charge, and every charge its message",
    charges?.orphans === 0 && charges?.uncharged === 0 && charges?.double === 0,
    JSON.stringify(charges),
  );
  const gaps = sql<{ id: string; last_seq: number; n: number; top: number }>(
    `SELECT c.id, c.last_seq, COUNT(m.pk) AS n, coalesce(MAX(m.seq), 0) AS top FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id
      WHERE c.id LIKE 'crash_%' GROUP BY c.id HAVING n != c.last_seq OR top != c.last_seq OR COUNT(DISTINCT m.seq) != n`,
  );
  check(
    "seq is gapless per conversation (1..last_seq, no repeats)",
    gaps.length === 0,
    gaps
      .slice(0, 3)
      .map((g) => JSON.stringify(g))
      .join(" "),
  );
}

async function main(): Promise<void> {
  console.log(`crash: database ${persist}, port ${PORT}, ${KILLS} kills, ${SENDERS} senders, ${CONCURRENCY} in flight`);
  seed();
  for (let round = 1; round <= KILLS; round++) {
    await start();
    // Kill at a random moment 2.5-6 s into the load, with sends in flight.
    const after = 2500 + Math.floor(Math.random() * 3500);
    const killed = new Promise<void>((resolve) =>
      setTimeout(() => {
        kill9();
        resolve();
      }, after),
    );
    await load(killed);
    console.log(`round ${round}: killed after ${after} ms; ${acked.size} acknowledged so far, ${unknown.size} unknown`);
  }
  // Back up for good: a client retries what it never heard back about, until every send is settled.
  await start();
  for (let pass = 0; unknown.size && pass < 20; pass++) {
    for (const s of [...unknown.values()]) await settle(s);
    if (unknown.size) await new Promise((r) => setTimeout(r, 2000)); // rate-limited ones wait out their window
  }
  check("every send was settled after the restart", unknown.size === 0, `${unknown.size} still unknown`);
  kill9();
  verify();
  console.log(
    `crash: ${stats.attempts} attempts, ${acked.size} acknowledged sends (${stats.replays} answered as replays), ${stats.unknown} unknown outcomes retried`,
  );
  const failed = checks.filter((c) => !c.ok).length;
  console.log(`${checks.length - failed} passed, ${failed} failed`);
  if (failed) process.exitCode = 1;
}

try {
  await main();
} finally {
  kill9();
  rmSync(persist, { recursive: true, force: true });
}
