/**
 * The bench's server: the BUILT Pairly Worker (the bundle `wrangler deploy` would upload) and the
 * bench-only baseline Worker, run side by side in ONE workerd through the Miniflare API. No
 * `wrangler dev`: nothing (no proxy, no request log) stands between the load and workerd; each
 * Worker listens on its own direct socket. Bindings come from wrangler.toml through wrangler's own
 * translation (D1, Durable Objects, rate limits, R2, queues, vars), plus generated secrets.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { convertV4MiniflareOptions, Miniflare, type V4MiniflareOptions, type V4WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT } from "../../src/cli/project.ts";
import { vapidKeyPair } from "../../src/cli/vapid-keys.ts";

const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };

/** `wrangler deploy --dry-run`: the deploy bundle of the project at `root`, written to `outdir`. */
export function buildPairly(outdir: string, root = ROOT): string {
  const run = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir], {
    cwd: root,
    env: { ...process.env, ...OFFLINE },
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`wrangler deploy --dry-run failed:\n${run.stderr || run.stdout}`);
  return join(outdir, "index.js");
}

export async function buildBaseline(outdir: string): Promise<string> {
  const outfile = join(outdir, "baseline.js");
  await build({
    entryPoints: [join(ROOT, "test/bench/worker/baseline.ts")],
    outfile,
    bundle: true,
    format: "esm",
    target: "es2024",
    external: ["cloudflare:*"],
    logLevel: "error",
  });
  return outfile;
}

/** `root`: the project whose migrations the worker's database gets (default: this one). */
export type PairlyWorker = { name: string; script: string; port: number; root?: string };
export type ServerOptions = {
  pairly: PairlyWorker[];
  baseline?: { script: string; port: number };
  inspectorPort?: number;
  /** Where D1 and Durable Object storage live (on disk, like `wrangler dev`'s .wrangler/state). */
  persist: string;
};

const vapid = vapidKeyPair();
/** Every secret wrangler.toml requires, fresh for each run. */
export const secrets = {
  JWT_SECRET: randomBytes(24).toString("hex"),
  AUDIT_HMAC_KEY: randomBytes(24).toString("hex"),
  AUDIT_HMAC_PREVIOUS_KEYS: "{}",
  ATTACHMENT_TICKET_KEY: randomBytes(24).toString("hex"),
  VAPID_PUBLIC_KEY: vapid.publicKey,
  VAPID_PRIVATE_KEY: vapid.privateKey,
  VAPID_SUBJECT: "mailto:bench@pairly.invalid",
};

function pairlyOptions(w: PairlyWorker): V4WorkerOptions {
  // Secrets the way wrangler reads them from the environment (and no warning that they are missing).
  Object.assign(process.env, secrets);
  // Each build with its own wrangler.toml: builds of different commits may bind different things.
  const toml = unstable_getMiniflareWorkerOptions(join(w.root ?? ROOT, "wrangler.toml")).workerOptions as V4WorkerOptions;
  return {
    name: w.name,
    modules: true,
    scriptPath: w.script,
    modulesRoot: dirname(w.script),
    compatibilityDate: toml.compatibilityDate,
    compatibilityFlags: toml.compatibilityFlags,
    bindings: { ...toml.bindings, ...secrets, DEV_AUTH: "false" },
    durableObjects: toml.durableObjects,
    ratelimits: toml.ratelimits,
    // Attachments and push: the send path enqueues a push job for every offline receiver.
    r2Buckets: toml.r2Buckets,
    ...queuesOf(toml, w.name),
    // One database per Pairly worker, so a seeded 1 M-message database leaves the others alone.
    d1Databases: { DB: { id: `bench-${w.name}` } },
    unsafeDirectSockets: [{ host: "127.0.0.1", port: w.port }],
  };
}

/**
 * The push queues of wrangler.toml, renamed per worker: one workerd may hold several Pairly builds,
 * and a queue can have only one consumer.
 */
function queuesOf(toml: V4WorkerOptions, worker: string): Pick<V4WorkerOptions, "queueProducers" | "queueConsumers"> {
  const rename = (queue: string) => `${queue}-${worker}`;
  const producers = Object.entries((toml.queueProducers ?? {}) as Record<string, { queueName: string }>).map(([binding, p]) => [
    binding,
    { ...p, queueName: rename(p.queueName) },
  ]);
  const consumers = Object.entries((toml.queueConsumers ?? {}) as Record<string, { deadLetterQueue?: string }>).map(([queue, c]) => [
    rename(queue),
    { ...c, ...(c.deadLetterQueue ? { deadLetterQueue: rename(c.deadLetterQueue) } : {}) },
  ]);
  return { queueProducers: Object.fromEntries(producers), queueConsumers: Object.fromEntries(consumers) };
}

export type Server = { mf: Miniflare; url(name: string): string; dispose(): Promise<void> };

export async function startServer(o: ServerOptions): Promise<Server> {
  const workers: V4WorkerOptions[] = o.pairly.map(pairlyOptions);
  if (o.baseline) {
    workers.push({
      name: "baseline",
      modules: true,
      scriptPath: o.baseline.script,
      modulesRoot: dirname(o.baseline.script),
      compatibilityDate: "2026-11-01",
      compatibilityFlags: ["nodejs_compat"],
      d1Databases: { DB: { id: "bench-baseline" } },
      durableObjects: { CHAT: { className: "Chat", useSQLite: true } },
      unsafeDirectSockets: [{ host: "127.0.0.1", port: o.baseline.port }],
    });
  }
  const options: V4MiniflareOptions = {
    workers,
    resourcePersistencePath: o.persist,
    ...(o.inspectorPort ? { inspectorPort: o.inspectorPort } : {}),
  };
  const mf = new Miniflare(convertV4MiniflareOptions(options));
  await mf.ready;
  const ports = new Map<string, number>(o.pairly.map((w) => [w.name, w.port]));
  if (o.baseline) ports.set("baseline", o.baseline.port);
  for (const w of o.pairly) await applyMigrations(mf, w.name, w.root ?? ROOT);
  return {
    mf,
    url: (name) => `http://127.0.0.1:${ports.get(name)}`,
    dispose: () => mf.dispose(),
  };
}

/** drizzle-kit's migrations, statement by statement (they are split at `--> statement-breakpoint`). */
async function applyMigrations(mf: Miniflare, worker: string, root: string): Promise<void> {
  const db = await mf.getD1Database("DB", worker);
  const dir = join(root, "migrations");
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    const statements = readFileSync(join(dir, file), "utf8")
      .split("--> statement-breakpoint")
      .map((s) => s.trim())
      .filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

/** The one workerd process Miniflare started for this Node process. */
function workerdPid(): string {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && stat.includes("(workerd)")) return pid;
    } catch {
      // a process that just ended
    }
  }
  throw new Error("no workerd child process found");
}

/** workerd's resident memory (MB). */
export function workerdRssMb(): number {
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${workerdPid()}/status`, "utf8"))?.[1];
  return Number(rss) / 1024;
}

/**
 * CPU time workerd has used so far (ms, all its threads: user + system, 10 ms ticks). What a call
 * costs in CPU barely depends on how busy the shared machine is, unlike its latency.
 */
export function workerdCpuMs(): number {
  const stat = readFileSync(`/proc/${workerdPid()}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
