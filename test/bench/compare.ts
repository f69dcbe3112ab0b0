/**
 * `npm run bench:compare -- name=<project dir> ...` (at most four): builds each directory's Worker
 * (a scratch copy of the project with one change, say), runs them all beside the bare baseline in
 * ONE workerd, and measures `POST /send` at 16 clients and at one client, variant after variant in
 * rounds so the machine's drift hits all alike. Prints sends/s, p50, and the cost of a send in ms
 * at saturation (1000 / sends/s): the difference between two variants is what their change costs.
 *
 *   npm run bench:compare -- now=. no-notify=/tmp/scratch-no-notify
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { closedLoop, Http, type Measured, measured, newHistogram } from "./load.ts";
import { type Ctx, grantCredits, openConversation, type Pair, sendOnce, tokenOf } from "./pairly.ts";
import { merge } from "./report.ts";
import { seedUsers } from "./seed.ts";
import { buildBaseline, buildPairly, type Server, startServer, workerdCpuMs } from "./server.ts";
import { Arrivals, inBatches } from "./sockets.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: "string", default: "3" },
    sends: { type: "string", default: "1500" },
    c1: { type: "string", default: "300" },
    fanout: { type: "boolean", default: false },
  },
});
const variants = positionals.map((p) => {
  const [name, dir] = p.split("=");
  if (!name || !dir) throw new Error(`expected name=dir, got ${p}`);
  return { name, dir: resolve(dir) };
});
if (variants.length < 1 || variants.length > 4) throw new Error("give one to four name=dir variants");
const ROUNDS = Number(values.rounds);
const SENDS = Number(values.sends);
const C1 = Number(values.c1);
const PER_USER = 20;

const tmp = mkdtempSync(join(tmpdir(), "pairly-compare-"));
try {
  const workers = variants.map((v, i) => ({ name: `v${i}`, script: buildPairly(join(tmp, `v${i}`), v.dir), port: 8795 + i, root: v.dir }));
  const server = await startServer({
    pairly: workers,
    baseline: { script: await buildBaseline(tmp), port: 8799 },
    persist: join(tmp, "state"),
  });
  const baseline = new Http(server.url("baseline"), 32);
  await baseline.call("POST", "/setup");
  const ctxs: Ctx[] = workers.map((w) => ({ server, pairly: new Http(server.url(w.name), 32), baseline, worker: w.name }));
  if (values.fanout) await fanout(server, ctxs);
  else await sends(server, ctxs, baseline);
  await Promise.all([baseline.close(), ...ctxs.map((c) => c.pairly.close())]);
  await server.dispose();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

/** The send path per variant against the bare insert: 16 clients and one client, in rounds. */
async function sends(server: Server, ctxs: Ctx[], baseline: Http): Promise<void> {
  const bareInsert = (i: number) =>
    baseline
      .call("POST", "/insert", { body: { room: `r${i % 500}`, sender: `s${i % 500}`, content: `bench ${i}` } })
      .then((r) => r.status === 201);
  const results = new Map<string, { c16: Measured[]; c1: Measured[] }>([["bare insert", { c16: [], c1: [] }]]);
  for (const v of variants) results.set(v.name, { c16: [], c1: [] });

  /** Fresh senders for one measured run: each sends at most PER_USER (+1 warm-up), under every limit. */
  const sendersFor = async (ctx: Ctx, prefix: string, sends: number) => {
    const n = Math.ceil(sends / PER_USER);
    const db = await server.mf.getD1Database("DB", ctx.worker);
    await seedUsers(db, prefix, n, 1000);
    const users = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    await Promise.all(users.map(tokenOf));
    await closedLoop({ clients: 16, count: n, task: (i) => sendOnce(ctx, users[i] as string, "warm") });
    return users;
  };

  await closedLoop({ clients: 16, count: 500, task: bareInsert });
  for (let round = 0; round < ROUNDS; round++) {
    console.error(`round ${round + 1} of ${ROUNDS}`);
    results.get("bare insert")?.c16.push(await closedLoop({ clients: 16, count: SENDS, task: bareInsert, cpu: workerdCpuMs }));
    results.get("bare insert")?.c1.push(await closedLoop({ clients: 1, count: C1, task: bareInsert }));
    for (const [i, v] of variants.entries()) {
      const ctx = ctxs[i] as Ctx;
      const many = await sendersFor(ctx, `m${round}_`, SENDS);
      results.get(v.name)?.c16.push(
        await closedLoop({
          clients: 16,
          count: SENDS,
          cpu: workerdCpuMs,
          task: (j) => sendOnce(ctx, many[j % many.length] as string, `m ${j}`),
        }),
      );
      const one = await sendersFor(ctx, `o${round}_`, C1);
      results
        .get(v.name)
        ?.c1.push(await closedLoop({ clients: 1, count: C1, task: (j) => sendOnce(ctx, one[j % one.length] as string, `o ${j}`) }));
    }
  }
  console.log(`\n### npm run bench:compare (${new Date().toISOString().slice(0, 10)}, ${ROUNDS} rounds of ${SENDS} + ${C1})\n`);
  console.log(
    "| variant | sends/s, 16 clients | ms per send at saturation | workerd CPU ms per send | p99 ms, 16 clients | p50 ms, 1 client | errors |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const [name, r] of results) {
    const c16 = merge(r.c16);
    const c1 = merge(r.c1);
    console.log(
      `| ${name} | ${c16.perSecond.toFixed(0)} | ${(1000 / c16.perSecond).toFixed(2)} | ${((c16.cpuMs ?? 0) / c16.count).toFixed(2)} | ${c16.p99} | ${c1.p50} | ${c16.errors + c1.errors} |`,
    );
  }
}

/**
 * `--fanout`: send → partner's `message.new` per variant, both sides connected. One client
 * (C1 sends over 10 conversations): the partner's latency and the sender's 201 apart; then 16
 * clients over 20 conversations: sends/s with the partner's latency.
 */
async function fanout(server: Server, ctxs: Ctx[]): Promise<void> {
  const rows: string[] = [];
  const acc = ctxs.map(() => ({ partner1: newHistogram(), http1: newHistogram(), c16: [] as Measured[] }));
  for (let round = 0; round < ROUNDS; round++) {
    console.error(`fan-out round ${round + 1} of ${ROUNDS}`);
    for (const [v, ctx] of ctxs.entries()) {
      const arrivals = new Arrivals();
      const pairs: Pair[] = Array.from({ length: 30 }, (_, i) => ({ a: `f${round}_${i}a`, b: `f${round}_${i}b` }));
      await grantCredits(
        await server.mf.getD1Database("DB", ctx.worker),
        pairs.flatMap((p) => [p.a, p.b]),
        1000,
      );
      await inBatches(pairs, 10, async ({ a, b }) => {
        await openConversation(ctx, arrivals, a, b);
        await openConversation(ctx, arrivals, b, a);
        const arrived = arrivals.arrival(`warm ${a}`);
        await sendOnce(ctx, a, `warm ${a}`, b);
        await arrived;
      });
      const a = acc[v] as (typeof acc)[number];
      let tag = 0;
      for (let i = 0; i < C1; i++) {
        const p = pairs[i % 10] as Pair;
        const [from, to] = Math.floor(i / 10) % 2 ? [p.b, p.a] : [p.a, p.b];
        const t = `c1 ${tag++}`;
        const arrived = arrivals.arrival(t);
        const t0 = performance.now();
        await sendOnce(ctx, from, t, to);
        a.http1.recordValue((performance.now() - t0) * 1000);
        a.partner1.recordValue(((await arrived) - t0) * 1000);
      }
      a.c16.push(
        await closedLoop({
          clients: 16,
          count: 20 * 30,
          cpu: workerdCpuMs,
          task: async (i) => {
            const p = pairs[10 + (i % 20)] as Pair;
            const [from, to] = Math.floor(i / 20) % 2 ? [p.b, p.a] : [p.a, p.b];
            const t = `c16 ${tag++}`;
            const arrived = arrivals.arrival(t);
            await sendOnce(ctx, from, t, to);
            await arrived;
            return true;
          },
        }),
      );
      await arrivals.closeAll();
    }
  }
  console.log(`\n### npm run bench:compare -- --fanout (${new Date().toISOString().slice(0, 10)}, ${ROUNDS} rounds)\n`);
  console.log(
    "| variant | 1 client: partner p50 ms | partner p99 ms | sender's 201 p50 ms | 16 clients: sends/s | partner p50 ms | partner p99 ms | workerd CPU ms per send |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const [v, a] of acc.entries()) {
    const c16 = merge(a.c16);
    const p1 = measured(a.partner1, 0, 1);
    const h1 = measured(a.http1, 0, 1);
    rows.push(
      `| ${variants[v]?.name} | ${p1.p50} | ${p1.p99} | ${h1.p50} | ${c16.perSecond.toFixed(0)} | ${c16.p50} | ${c16.p99} | ${((c16.cpuMs ?? 0) / c16.count).toFixed(2)} |`,
    );
  }
  console.log(rows.join("\n"));
}
