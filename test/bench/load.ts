/**
 * Load generators. Latencies go into HDR histograms (microseconds, 3 significant digits).
 *
 * - Closed loop: `clients` callers, each starting its next call when the last one ended. Gives
 *   throughput at saturation and the latency seen at that throughput.
 * - Open loop: calls start on a fixed schedule (`rate` a second) whatever the server does, and each
 *   latency is measured from the call's SCHEDULED start, so a stall delays (and is charged to) every
 *   call scheduled during it: no coordinated omission.
 */
import hdr from "hdr-histogram-js";
import { Pool } from "undici";

export type Histogram = hdr.Histogram;
export const newHistogram = (): Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });

export type Measured = {
  /** Calls that completed and were recorded (errors excluded from the latencies). */
  count: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** The latencies themselves, to merge rounds. */
  histogram: Histogram;
  /** workerd's CPU time over the run (ms), when the caller measured it. */
  cpuMs?: number;
};

const ms = (us: number) => Math.round(us) / 1000;

export function measured(h: Histogram, errors: number, seconds: number): Measured {
  return {
    count: h.totalCount,
    errors,
    seconds,
    perSecond: h.totalCount / seconds,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    histogram: h,
  };
}

/** A task answers whether its call succeeded; a rejection counts as a failed call. */
export type Task = (i: number) => Promise<boolean>;

/**
 * `count` calls by `clients` callers after `warmup` unmeasured ones (same concurrency). Callers
 * take the next call as they come free; `pinned`: caller c makes exactly the calls c, c + clients,
 * c + 2 × clients… in order, so a caller can stand for one conversation whose next message waits
 * for its last one.
 */
export async function closedLoop(o: {
  clients: number;
  count: number;
  warmup?: number;
  task: Task;
  cpu?: () => number;
  pinned?: boolean;
}): Promise<Measured> {
  let next = 0;
  const run = async (until: number, h: Histogram | null) => {
    let errors = 0;
    const from = next;
    const call = async (i: number) => {
      const t0 = performance.now();
      const ok = await o.task(i).catch(() => false);
      if (!ok) errors++;
      else h?.recordValue((performance.now() - t0) * 1000);
    };
    await Promise.all(
      Array.from({ length: o.clients }, async (_, c) => {
        if (o.pinned) for (let i = from + c; i < until; i += o.clients) await call(i);
        else while (next < until) await call(next++);
      }),
    );
    next = until;
    return errors;
  };
  await run(o.warmup ?? 0, null);
  const h = newHistogram();
  const cpu0 = o.cpu?.();
  const started = performance.now();
  const errors = await run((o.warmup ?? 0) + o.count, h);
  return {
    ...measured(h, errors, (performance.now() - started) / 1000),
    ...(cpu0 === undefined ? {} : { cpuMs: (o.cpu?.() ?? 0) - cpu0 }),
  };
}

/**
 * `count` calls started at `rate` a second. `task(i)` resolves with the moment (performance.now())
 * its call is done, e.g. when the partner's socket got the message; latency = done - scheduled.
 */
export async function openLoop(o: {
  rate: number;
  count: number;
  task: (i: number) => Promise<number>;
  cpu?: () => number;
}): Promise<Measured & { lateStarts: number }> {
  const h = newHistogram();
  const cpu0 = o.cpu?.();
  let errors = 0;
  let lateStarts = 0;
  const interval = 1000 / o.rate;
  const started = performance.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < o.count; i++) {
    const scheduled = started + i * interval;
    const wait = scheduled - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // A start more than 5 ms late means the load generator itself could not keep up (reported).
    if (performance.now() - scheduled > 5) lateStarts++;
    calls.push(
      o.task(i).then(
        (done) => h.recordValue(Math.max(0, done - scheduled) * 1000),
        () => {
          errors++;
        },
      ),
    );
  }
  await Promise.all(calls);
  const cpu = cpu0 === undefined ? {} : { cpuMs: (o.cpu?.() ?? 0) - cpu0 };
  return { ...measured(h, errors, (performance.now() - started) / 1000), ...cpu, lateStarts };
}

/** A keep-alive connection pool to one origin; answers of 300 and above are counted for the report. */
export class Http {
  private readonly pool: Pool;
  readonly statuses = new Map<number, number>();
  private readonly failures = new Map<string, number>();

  constructor(origin: string, connections: number) {
    this.pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
  }

  async call(
    method: "GET" | "POST",
    path: string,
    o: { token?: string; body?: unknown } = {},
  ): Promise<{ status: number; json: () => unknown; text: string }> {
    const headers: Record<string, string> = {};
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.body !== undefined) headers["content-type"] = "application/json";
    const res = await this.pool
      .request({ method, path, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) })
      .catch((err: { code?: string; name?: string }) => {
        // A call that got no answer at all (a connection reset, say) is reported by its error code.
        const code = err.code ?? err.name ?? "error";
        this.failures.set(code, (this.failures.get(code) ?? 0) + 1);
        throw err;
      });
    const text = await res.body.text();
    if (res.statusCode >= 300) this.statuses.set(res.statusCode, (this.statuses.get(res.statusCode) ?? 0) + 1);
    return { status: res.statusCode, text, json: () => JSON.parse(text) };
  }

  /** Failure statuses (and errors without an answer) since the last call of this, e.g. "429×10 UND_ERR_SOCKET×1". */
  takeStatuses(): string {
    const s = [...this.statuses, ...this.failures].map(([k, v]) => `${k}×${v}`).join(" ");
    this.statuses.clear();
    this.failures.clear();
    return s;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
