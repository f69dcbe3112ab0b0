/**
 * `npm run bench:profile`: where the CPU time of `POST /send` goes. Runs the built Worker through
 * Miniflare with workerd's inspector on, and records a V8 CPU profile (Chrome DevTools protocol)
 * of the isolates that take part in a send: the Worker with its Durable Objects, Miniflare's D1
 * (its SQLite calls run inside that isolate) and its rate limiter, as chosen. At saturation (16 clients)
 * and once at one client. Prints, per isolate, the busy time per send, and for the Worker the time
 * per source module (the bundle's module comments) and the heaviest functions.
 *
 * With `--read`, the one-client read routes instead: a history page (50 of 1 000 messages) and the
 * conversation list (50 of 1 000 conversations).
 *
 *   npm run bench:profile [-- --sends 2000 --root <project dir> --top 25 --isolates 'pairly|d1:db$' --save <dir> --read]
 *
 * Sample with care: V8 charges a sample to an isolate whenever the (single) workerd thread is
 * inside it, so "(program)" and native frames include runtime work done on its behalf; profiling
 * several isolates at once slows everything. JS self time per module is the dependable part.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { ROOT } from "../../src/cli/project.ts";
import { closedLoop, Http } from "./load.ts";
import { type Ctx, sendOnce, tokenOf } from "./pairly.ts";
import { seedConversations, seedUsers } from "./seed.ts";
import { buildPairly, startServer } from "./server.ts";

const { values } = parseArgs({
  options: {
    sends: { type: "string", default: "2000" },
    root: { type: "string", default: ROOT },
    top: { type: "string", default: "25" },
    save: { type: "string" },
    isolates: { type: "string", default: "^core:user:pairly$" },
    read: { type: "boolean", default: false },
  },
});
const SENDS = Number(values.sends);
const INSPECTOR = 8799;

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

class Inspector {
  private next = 1;
  private readonly pending = new Map<number, (r: unknown) => void>();
  private readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; result?: unknown };
      if (msg.id) this.pending.get(msg.id)?.(msg.result);
    });
  }
  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    return new Inspector(ws);
  }
  send<T>(method: string, params: object = {}): Promise<T> {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((r) => this.pending.set(id, r as (x: unknown) => void));
  }
  close() {
    this.ws.close();
  }
}

/** Line (0-based) → module, from esbuild's `// path` comments in the unminified bundle. */
function moduleMap(bundle: string): (line: number) => string {
  const starts: [number, string][] = [];
  bundle.split("\n").forEach((l, i) => {
    const m = /^\/\/ ((?:node_modules|src|\.\.)\/\S+)$/.exec(l);
    if (m?.[1]) starts.push([i, m[1]]);
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = "(bundle prelude)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = starts[mid] as [number, string];
      if (s[0] <= line) {
        found = s[1];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/** A package (or our own file) for a module path: node_modules/hono/dist/x.js → hono. */
const groupOf = (module: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(module);
  return m?.[1] ?? module;
};

function analyse(p: Profile, sends: number, mapLine?: (line: number) => string, top = 25) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (const [i, id] of p.samples.entries()) self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = p.endTime - p.startTime;
  let idle = 0;
  const perFunction = new Map<string, number>();
  const perGroup = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const f = n.callFrame;
    if (f.functionName === "(idle)") {
      idle += us;
      continue;
    }
    // Our bundle's frames by source module; other scripts (the runtime's d1-api, Miniflare's
    // rate-limit module...) by their own name.
    const module = f.url === "index.js" && mapLine ? mapLine(f.lineNumber) : f.url || f.functionName;
    const key = `${f.functionName || "(anonymous)"} ${module}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    perFunction.set(key, (perFunction.get(key) ?? 0) + us);
    const group = f.url ? groupOf(module) : f.functionName;
    perGroup.set(group, (perGroup.get(group) ?? 0) + us);
  }
  const busy = total - idle;
  const perSend = (us: number) => (us / 1000 / sends).toFixed(3);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    busyMsPerSend: busy / 1000 / sends,
    busyShare: busy / total,
    text: [
      `  busy ${(100 * (busy / total)).toFixed(0)} % of ${(total / 1e6).toFixed(1)} s = ${perSend(busy)} ms per send`,
      "  by package / file (self time, ms per send):",
      ...sorted(perGroup)
        .slice(0, top)
        .map(([g, us]) => `    ${perSend(us).padStart(7)}  ${g}`),
      "  heaviest functions (self time, ms per send):",
      ...sorted(perFunction)
        .slice(0, top)
        .map(([f, us]) => `    ${perSend(us).padStart(7)}  ${f}`),
    ].join("\n"),
  };
}

const tmp = mkdtempSync(join(tmpdir(), "pairly-profile-"));
try {
  const script = buildPairly(join(tmp, "pairly"), resolve(values.root));
  const bundleLines = moduleMap(readFileSync(script, "utf8"));
  const server = await startServer({
    pairly: [{ name: "pairly", script, port: 8795 }],
    persist: join(tmp, "state"),
    inspectorPort: INSPECTOR,
  });
  const http = new Http(server.url("pairly"), 32);
  const ctx: Ctx = { server, pairly: http, baseline: http };
  const db = await server.mf.getD1Database("DB", "pairly");

  const targets = (await (await fetch(`http://127.0.0.1:${INSPECTOR}/json/list`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
  const wanted = targets.filter((t) => new RegExp(values.isolates).test(t.id));
  console.error(`isolates profiled: ${wanted.map((t) => t.id).join(", ")} (of ${targets.map((t) => t.id).join(", ")})`);
  const inspectors = await Promise.all(wanted.map(async (t) => ({ id: t.id, i: await Inspector.connect(t.webSocketDebuggerUrl) })));
  for (const { i } of inspectors) {
    await i.send("Profiler.enable");
    await i.send("Profiler.setSamplingInterval", { interval: 200 });
  }

  /** Profiles `count` calls of `task` at `clients` and prints each isolate's share per call. */
  const profiled = async (title: string, clients: number, count: number, task: (k: number) => Promise<boolean>, file: string) => {
    for (const { i } of inspectors) await i.send("Profiler.start");
    const m = await closedLoop({ clients, count, task });
    const profiles = await Promise.all(
      inspectors.map(async ({ id, i }) => ({ id, p: (await i.send<{ profile: Profile }>("Profiler.stop")).profile })),
    );
    console.log(`\n## ${title}: ${m.count} calls, ${m.perSecond.toFixed(0)}/s, p50 ${m.p50} ms`);
    for (const { id, p } of profiles) {
      const a = analyse(p, m.count, id === "core:user:pairly" ? bundleLines : undefined, Number(values.top));
      console.log(`\n### ${id}\n${a.text.replaceAll("per send", "per call")}`);
      if (values.save) writeFileSync(join(values.save, `${id.replaceAll(":", "_")}-${file}.cpuprofile`), JSON.stringify(p));
    }
  };
  if (values.read) {
    await seedUsers(db, "r", 1, 1000);
    await seedConversations(db, { tag: "read", from: 0, count: 1, perConversation: 1000, a: "'ra' || n", b: "'rb' || n" });
    await seedConversations(db, { tag: "list", from: 0, count: 1000, perConversation: 3, a: "'rl'", b: "'rp' || n" });
    const [reader, lister] = await Promise.all([tokenOf("ra0"), tokenOf("rl")]);
    const get = (path: string, token: string) => () => http.call("GET", path, { token }).then((r) => r.status === 200);
    const history = get("/api/v2/messages/conversation/rb0?limit=50", reader);
    const list = get("/api/v2/messages/conversations?limit=50", lister);
    await closedLoop({ clients: 1, count: 100, task: history });
    await closedLoop({ clients: 1, count: 100, task: list });
    await profiled("GET history page (50 of 1 000), 1 client", 1, SENDS / 4, history, "history");
    await profiled("GET /conversations (50 of 1 000), 1 client", 1, SENDS / 4, list, "conversations");
  }
  for (const [label, clients, sends] of values.read
    ? []
    : ([
        ["16 clients (saturation)", 16, SENDS],
        ["1 client", 1, Math.round(SENDS / 4)],
      ] as const)) {
    const prefix = `p${clients}_`;
    const n = Math.ceil(sends / 20);
    await seedUsers(db, prefix, n, 1000);
    const users = Array.from({ length: n }, (_, k) => `${prefix}${k}`);
    await Promise.all(users.map(tokenOf));
    await closedLoop({ clients: 16, count: n, task: (k) => sendOnce(ctx, users[k] as string, "warm") });
    for (const { i } of inspectors) await i.send("Profiler.start");
    const m = await closedLoop({ clients, count: sends, task: (k) => sendOnce(ctx, users[k % n] as string, `profiled ${k}`) });
    const profiles = await Promise.all(
      inspectors.map(async ({ id, i }) => ({ id, p: (await i.send<{ profile: Profile }>("Profiler.stop")).profile })),
    );
    console.log(
      `\n## POST /send, ${label}: ${m.count} sends, ${m.perSecond.toFixed(0)}/s, p50 ${m.p50} ms, ${(1000 / m.perSecond).toFixed(2)} ms per send (wall)`,
    );
    let sum = 0;
    for (const { id, p } of profiles) {
      const a = analyse(p, m.count, id === "core:user:pairly" ? bundleLines : undefined, Number(values.top));
      sum += a.busyMsPerSend;
      console.log(`\n### ${id}\n${a.text}`);
      if (values.save) writeFileSync(join(values.save, `${id.replaceAll(":", "_")}-c${clients}.cpuprofile`), JSON.stringify(p));
    }
    console.log(`\nAll profiled isolates together: ${sum.toFixed(3)} ms of CPU per send`);
  }
  for (const { i } of inspectors) i.close();
  await http.close();
  await server.dispose();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
