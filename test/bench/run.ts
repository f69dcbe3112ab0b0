/**
 * `npm run bench`: starts its own `wrangler dev` on a throwaway local database, drives the real
 * HTTP and WebSocket API, and prints latency percentiles and throughput per scenario.
 * Numbers are for local workerd + SQLite on this machine, not for Cloudflare's network.
 *
 *   npm run bench                 all scenarios
 *   npm run bench -- --quick      fewer iterations (a smoke run)
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { localConfig, ROOT } from "../../src/cli/project.ts";
import { signToken } from "../../src/lib/jwt.ts";

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false }, port: { type: "string", default: "8799" } } });
const SCALE = values.quick ? 0.1 : 1;
const PORT = Number(values.port);
const BASE = `http://127.0.0.1:${PORT}`;
const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };
const persist = mkdtempSync(join(tmpdir(), "pairly-bench-"));
const config = localConfig();
const jwt = { secret: config.JWT_SECRET, issuer: config.JWT_ISSUER ?? "", audience: config.JWT_AUDIENCE ?? "" };

/** `wrangler d1 execute` against the bench's own local database. */
const sqlOnBenchDb = (command: string) => wrangler(["d1", "execute", "DB", "--local", "--persist-to", persist, "--command", command]);

function wrangler(args: string[]) {
  const r = spawnSync("wrangler", args, { cwd: ROOT, env: { ...process.env, ...OFFLINE }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${r.stderr || r.stdout}`);
  return r.stdout;
}

async function startServer(): Promise<ChildProcess> {
  wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
  const child = spawn("wrangler", ["dev", "--ip", "127.0.0.1", "--port", String(PORT), "--persist-to", persist], {
    cwd: ROOT,
    env: { ...process.env, ...OFFLINE },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${BASE}/healthz`)).ok) return child;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill();
  throw new Error(`wrangler dev did not start:\n${log}`);
}

const tokens = new Map<string, string>();
async function tokenOf(user: string) {
  const known = tokens.get(user);
  if (known) return known;
  const t = await signToken(user, jwt, 3600);
  tokens.set(user, t);
  return t;
}

async function api(user: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${await tokenOf(user)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

type Result = { name: string; n: number; errors: number; seconds: number; ms: number[] };
const results: Result[] = [];

/** Runs `task(i)` n times with `concurrency` in flight, timing each call. */
async function measure(name: string, n: number, concurrency: number, task: (i: number) => Promise<boolean>) {
  const ms: number[] = [];
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        const ok = await task(i).catch(() => false);
        ms.push(performance.now() - t0);
        if (!ok) errors++;
      }
    }),
  );
  const r = { name, n, errors, seconds: (performance.now() - started) / 1000, ms: ms.sort((a, b) => a - b) };
  results.push(r);
  console.error(`  ${name}: done (${n} calls)`);
  return r;
}

const pct = (ms: number[], p: number) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))] ?? 0;

async function main() {
  console.error(`Starting wrangler dev on ${BASE} with a fresh local database (${persist})…`);
  const server = await startServer();
  try {
    const admin = "bench_admin";
    sqlOnBenchDb(
      `INSERT INTO admins (id, email, role, active, created_at, updated_at) VALUES ('${admin}', 'bench@pairly.test', 'super_admin', 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`,
    );
    const senders = Array.from({ length: Math.max(10, Math.round(200 * SCALE)) }, (_, i) => `bench_s${i}`);
    const partnerOf = (s: string) => s.replace("bench_s", "bench_r");
    for (const s of senders) await api(admin, "POST", "/api/admin/credits/grant", { user_id: s, amount: 1000, reason: "bench" });

    // Sends spread over many users: each stays under its own 30-per-10 s burst limit.
    const sendsPerUser = 9; // plus one sequential send each below: 10, under the burst of 30
    await measure("POST /send (201)", senders.length * sendsPerUser, 16, async (i) => {
      const s = senders[i % senders.length] as string;
      return (await api(s, "POST", "/api/v2/messages/send", { receiver_id: partnerOf(s), content: `bench message ${i}` })).status === 201;
    });
    await measure("POST /send (201), one client at a time", Math.round(200 * SCALE), 1, async (i) => {
      const s = senders[i % senders.length] as string;
      return (await api(s, "POST", "/api/v2/messages/send", { receiver_id: partnerOf(s), content: `sequential ${i}` })).status === 201;
    });
    await measure("POST /send, retry with same client_message_id (200)", Math.round(500 * SCALE), 16, async (i) => {
      const s = senders[i % senders.length] as string;
      return (
        (await api(s, "POST", "/api/v2/messages/send", { receiver_id: partnerOf(s), content: "x", client_message_id: "same" })).status < 300
      );
    });
    await measure("GET /conversation/{partner} (50 newest)", Math.round(2000 * SCALE), 16, async (i) => {
      const s = senders[i % senders.length] as string;
      return (await api(partnerOf(s), "GET", `/api/v2/messages/conversation/${s}?limit=50`)).status === 200;
    });
    await measure("GET /conversations", Math.round(1000 * SCALE), 16, async (i) => {
      const s = senders[i % senders.length] as string;
      return (await api(s, "GET", "/api/v2/messages/conversations")).status === 200;
    });
    await measure("GET /unread-count", Math.round(2000 * SCALE), 16, async (i) => {
      const s = senders[i % senders.length] as string;
      return (await api(partnerOf(s), "GET", "/api/v2/messages/unread-count")).status === 200;
    });

    // Realtime: time from the start of an HTTP send to the partner's socket receiving message.new.
    // Several pairs, each sending well under its own limits (30 per 10 s, 60 a minute).
    const wsSamples = Math.round(200 * SCALE);
    const pairs = Array.from({ length: Math.ceil(wsSamples / 20) }, (_, i) => ({ a: `bench_ws_a${i}`, b: `bench_ws_b${i}` }));
    const waiting = new Map<string, () => void>();
    const sockets: WebSocket[] = [];
    for (const { a, b } of pairs) {
      await api(admin, "POST", "/api/admin/credits/grant", { user_id: a, amount: 1000, reason: "bench" });
      const socket = new WebSocket(`ws://127.0.0.1:${PORT}/api/v2/messages/ws?partner_id=${a}`, [
        "pairly.v1",
        `bearer.${await tokenOf(b)}`,
      ]);
      await new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = reject;
      });
      socket.onmessage = (e) => {
        const event = JSON.parse(String(e.data));
        if (event.type === "message.new") waiting.get(event.message.content)?.();
      };
      sockets.push(socket);
    }
    await measure("send → partner socket gets message.new", wsSamples, 1, async (i) => {
      const { a, b } = pairs[i % pairs.length] as { a: string; b: string };
      const content = `ws ${i}`;
      const arrived = new Promise<void>((resolve) => waiting.set(content, resolve));
      const sent = await api(a, "POST", "/api/v2/messages/send", { receiver_id: b, content });
      await arrived;
      return sent.status === 201;
    });
    for (const s of sockets) s.close();

    // Admin search and export over a large table seeded by SQL.
    const rows = Math.round(100_000 * SCALE);
    sqlOnBenchDb(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
       INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, message_type, status, moderation_status, attachments, metadata, credits_cost, is_deleted, created_at, updated_at)
       SELECT 'msg_seed_' || i, 'seed_a' || (i % 1000) || ':seed_b' || (i % 1000), i / 1000 + 1, 'seed_a' || (i % 1000), 'seed_b' || (i % 1000),
              CASE WHEN i % 1000 = 0 THEN 'a needle in the haystack ' || i ELSE 'ordinary chatter number ' || i END,
              'text', 'sent', 'pending', '[]', '{}', 1, 0, strftime('%Y-%m-%dT%H:%M:%fZ', '2024-01-01', '+' || (i * 30) || ' seconds'), '2024-01-01T00:00:00.000Z'
       FROM n`,
    );
    await measure(`admin search q=needle over ${rows} rows`, Math.round(200 * SCALE) || 10, 4, async () => {
      return (await api(admin, "GET", "/api/admin/messages/search?q=needle&limit=50")).status === 200;
    });
    await measure(`admin search sender_id filter, page 2 of 20`, Math.round(200 * SCALE) || 10, 4, async (i) => {
      return (await api(admin, "GET", `/api/admin/messages/search?sender_id=seed_a${i % 1000}&page=2&limit=20`)).status === 200;
    });
    let exported = 0;
    let bytes = 0;
    await measure(`admin export, csv, all ${rows} seeded rows`, 1, 1, async () => {
      const res = await fetch(`${BASE}/api/admin/messages/export?format=csv&from=2024-01-01&to=2024-12-31`, {
        headers: { authorization: `Bearer ${await tokenOf(admin)}` },
      });
      const reader = res.body?.getReader();
      if (!reader) return false;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        for (const b of value) if (b === 10) exported++;
      }
      return res.status === 200 && exported === rows + 1;
    });

    console.log(
      `\n### npm run bench${values.quick ? " -- --quick" : ""} (${new Date().toISOString().slice(0, 10)}, local wrangler dev, ${process.version})\n`,
    );
    console.log("| scenario | calls | errors | p50 ms | p95 ms | p99 ms | calls/s |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const r of results) {
      const f = (x: number) => x.toFixed(1);
      console.log(
        `| ${r.name} | ${r.n} | ${r.errors} | ${f(pct(r.ms, 50))} | ${f(pct(r.ms, 95))} | ${f(pct(r.ms, 99))} | ${(r.n / r.seconds).toFixed(0)} |`,
      );
    }
    console.log(`\nExport: ${exported - 1} rows, ${(bytes / 1e6).toFixed(1)} MB streamed.`);
    if (results.some((r) => r.errors > 0)) process.exitCode = 1;
  } finally {
    server.kill("SIGTERM");
    rmSync(persist, { recursive: true, force: true });
  }
}

await main();
