/**
 * 1 000 idle conversation sockets (both sides of 500 conversations) in a workerd of their own, run
 * by run.ts as a child process (a fresh Node and Miniflare: nothing else lives in that workerd).
 * Measures workerd's RSS above the same server before the sockets opened, counts disconnects, and
 * shows whether the rooms hibernated: every room counts its constructions, so waking all 500 after
 * the idle period constructs again exactly the ones the runtime evicted while their sockets stayed
 * open. Then a message in 50 of them must still arrive. Prints the figure as JSON on stdout.
 *
 * With `--bare <baseline bundle>` the same sockets go to the bench-only DO chat instead (the in-run
 * baseline: what 1 000 hibernating sockets in 500 SQLite-backed objects cost this workerd at all).
 *
 *   node test/bench/idle.ts --script <built index.js> --dir <tmp> --port 8795 --seconds 30 [--bare <baseline.js>]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Http } from "./load.ts";
import { type Ctx, grantCredits, openConversation, type Pair, sendArrives, sendOnce, tokenOf } from "./pairly.ts";
import type { Figure } from "./report.ts";
import { startServer, workerdRssMb } from "./server.ts";
import { Arrivals, inBatches } from "./sockets.ts";

const { values } = parseArgs({
  options: {
    script: { type: "string" },
    dir: { type: "string" },
    port: { type: "string" },
    seconds: { type: "string" },
    bare: { type: "string" },
  },
});
const CONVERSATIONS = Number(process.env.BENCH_IDLE_CONVERSATIONS ?? 500);
const seconds = Number(values.seconds);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (values.bare) {
  console.log(JSON.stringify(await bareChat(values.bare)));
  process.exit(0);
}

/** The DO chat baseline: both sides of CONVERSATIONS chats (one message each), idle as long. */
async function bareChat(script: string): Promise<Figure> {
  const bare = await startServer({
    pairly: [],
    baseline: { script, port: Number(values.port) },
    persist: join(values.dir ?? "", "idle-bare"),
  });
  try {
    const url = bare.url("baseline");
    const post = (path: string, body?: unknown) =>
      fetch(`${url}${path}`, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.arrayBuffer());
    await post("/setup");
    await post("/chat/warm", { sender: "w", content: "warm" });
    await sleep(1000);
    const empty = workerdRssMb();
    const arrivals = new Arrivals();
    const chats = Array.from({ length: CONVERSATIONS }, (_, i) => `idle${i}`);
    await inBatches(chats, 25, async (chat) => {
      await post(`/chat/${chat}`, { sender: "a", content: "hello" });
      for (const user of ["a", "b"]) await arrivals.open(`${url.replace("http", "ws")}/chat/${chat}/ws`, user);
    });
    await sleep(seconds * 1000);
    const idle = workerdRssMb();
    const disconnects = arrivals.unexpectedCloses;
    await arrivals.closeAll();
    return {
      name: "bare_idle_sockets_rss_mb",
      value: idle - empty,
      unit: "MB",
      inputs: [
        { name: "bare_rss_mb_idle", value: idle, unit: "MB" },
        { name: "bare_rss_mb_empty", value: empty, unit: "MB" },
      ],
      note: `the bare DO chat: ${chats.length * 2} sockets in ${chats.length} objects, ${seconds} s idle; ${disconnects} disconnects`,
    };
  } finally {
    await bare.dispose();
  }
}

const server = await startServer({
  pairly: [{ name: "pairly", script: values.script ?? "", port: Number(values.port) }],
  persist: join(values.dir ?? "", "idle-state"),
});
try {
  const http = new Http(server.url("pairly"), 8);
  const ctx: Ctx = { server, pairly: http, baseline: http };
  const pairs: Pair[] = Array.from({ length: CONVERSATIONS }, (_, i) => ({ a: `ia${i}`, b: `ib${i}` }));
  await Promise.all(pairs.flatMap((p) => [tokenOf(p.a), tokenOf(p.b)]));
  const db = await server.mf.getD1Database("DB", "pairly");
  await grantCredits(db, ["iw", ...pairs.slice(0, 50).map((p) => p.a)], 100);
  // The empty server, warm: code loaded, one send done.
  await sendOnce(ctx, "iw", "warm");
  await sleep(1000);
  const empty = workerdRssMb();

  const arrivals = new Arrivals();
  await inBatches(pairs, 25, async ({ a, b }) => {
    await openConversation(ctx, arrivals, a, b);
    await openConversation(ctx, arrivals, b, a);
  });
  // Counted through a probe room of its own: no stub to the 500 rooms is held over the idle period
  // (a stub held from Node keeps its object from being evicted).
  type Room = { constructions(): Promise<number> };
  const rooms = (await server.mf.getDurableObjectNamespace("CONVERSATION_ROOM", "pairly")) as unknown as { getByName(name: string): Room };
  const constructedBefore = await rooms.getByName("bench:probe").constructions();
  const connected = workerdRssMb();
  await sleep(seconds * 1000);
  const idle = workerdRssMb();
  const disconnects = arrivals.unexpectedCloses;
  const constructedIdle = await rooms.getByName("bench:probe").constructions();
  // A few at a time, each stub held until its call returns: Miniflare's proxy trips over hundreds at once.
  await inBatches(pairs, 10, async (p) => {
    const stub = rooms.getByName(`${p.a}:${p.b}`);
    await stub.constructions();
  });
  const hibernated = (await rooms.getByName("bench:probe").constructions()) - constructedIdle;

  let delivered = 0;
  await inBatches(pairs.slice(0, 50), 10, async ({ a, b }, i) => {
    await sendArrives(ctx, arrivals, a, b, `after idle ${i}`).then(
      () => delivered++,
      () => {},
    );
  });
  await arrivals.closeAll();
  await http.close();
  const value = idle - empty;
  const r = (x: number) => Math.round(x);
  const figure: Figure = {
    name: "idle_sockets_rss_mb",
    value,
    unit: "MB",
    goal: "≤ 256, 0 disconnects, hibernated",
    met: value <= 256 && disconnects === 0 && hibernated === pairs.length && delivered === 50,
    inputs: [
      { name: "workerd_rss_mb_idle", value: idle, unit: "MB" },
      { name: "workerd_rss_mb_empty", value: empty, unit: "MB" },
    ],
    note:
      `${pairs.length * 2} sockets in ${pairs.length} rooms: RSS +${r(connected - empty)} MB right after connecting, +${r(value)} MB after ${seconds} s idle; ` +
      `${disconnects} disconnects; ${hibernated}/${pairs.length} rooms hibernated (evicted with their sockets open, constructed again on waking; ` +
      `${constructedBefore} constructions before); ${delivered}/50 messages sent after the idle period arrived`,
  };
  console.log(JSON.stringify(figure));
} finally {
  await server.dispose();
}
