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
import { closedLoop, Http, type Measured } from "./load.ts";
import { type Ctx, sendOnce, tokenOf } from "./pairly.ts";
import { merge } from "./report.ts";
import { seedUsers } from "./seed.ts";
import { buildBaseline, buildPairly, startServer, workerdCpuMs } from "./server.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "3" }, sends: { type: "string", default: "1500" }, c1: { type: "string", default: "300" } },
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
  const workers = variants.map((v, i) => ({ name: `v${i}`, script: buildPairly(join(tmp, `v${i}`), v.dir), port: 8795 + i }));
  const server = await startServer({
    pairly: workers,
    baseline: { script: await buildBaseline(tmp), port: 8799 },
    persist: join(tmp, "state"),
  });
  const baseline = new Http(server.url("baseline"), 32);
  await baseline.call("POST", "/setup");
  const ctxs: Ctx[] = workers.map((w) => ({ server, pairly: new Http(server.url(w.name), 32), baseline }));
  const bareInsert = (i: number) =>
    baseline
      .call("POST", "/insert", { body: { room: `r${i % 500}`, sender: `s${i % 500}`, content: `bench ${i}` } })
      .then((r) => r.status === 201);
  const results = new Map<string, { c16: Measured[]; c1: Measured[] }>([["bare insert", { c16: [], c1: [] }]]);
  for (const v of variants) results.set(v.name, { c16: [], c1: [] });

  /** Fresh senders for one measured run: each sends at most PER_USER (+1 warm-up), under every limit. */
  const sendersFor = async (ctx: Ctx, prefix: string, sends: number) => {
    const n = Math.ceil(sends / PER_USER);
    const db = await server.mf.getD1Database("DB", workers[ctxs.indexOf(ctx)]?.name);
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
  await Promise.all([baseline.close(), ...ctxs.map((c) => c.pairly.close())]);
  await server.dispose();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
