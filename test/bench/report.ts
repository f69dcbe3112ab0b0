/** The bench's report: figures (issue 12's names, each with its goal), per-scenario details, the table. */
import { type Http, type Measured, measured } from "./load.ts";

export type Figure = {
  name: string;
  value: number;
  unit: string;
  goal?: string;
  met?: boolean;
  inputs?: { name: string; value: number; unit: string }[];
  note?: string;
};
export const figures: Figure[] = [];
export const details: Record<string, Omit<Measured, "histogram"> & { statuses?: string; lateStarts?: number; cpuMsPerCall?: number }> = {};
const t0 = performance.now();
export const log = (s: string) =>
  console.error(s.startsWith("\n") ? `\n[${((performance.now() - t0) / 1000).toFixed(0)} s] ${s.slice(1)}` : s);

export function figure(f: Figure): void {
  figures.push(f);
  log(`  ${f.name} = ${round(f.value)} ${f.unit}${f.goal ? ` (goal ${f.goal}: ${f.met ? "met" : "NOT met"})` : ""}`);
}
export const round = (x: number) => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 100) / 100);

export function keep<M extends Measured>(name: string, m: M, http?: Http): M {
  const { histogram: _, ...rest } = m;
  const cpuMsPerCall = m.cpuMs === undefined ? undefined : m.cpuMs / (m.count + m.errors);
  details[name] = { ...rest, ...(cpuMsPerCall === undefined ? {} : { cpuMsPerCall }), ...(http ? { statuses: http.takeStatuses() } : {}) };
  const errors = m.errors ? `, ${m.errors} ERRORS` : "";
  const cpu = cpuMsPerCall === undefined ? "" : `, workerd CPU ${cpuMsPerCall.toFixed(2)} ms a call`;
  log(
    `  ${name}: ${m.count} in ${m.seconds.toFixed(1)} s = ${m.perSecond.toFixed(0)}/s, p50 ${m.p50} p90 ${m.p90} p99 ${m.p99} max ${m.max} ms${cpu}${errors}`,
  );
  return m;
}

/** Merges rounds: counts and seconds add up; percentiles come from the joint histogram. */
export function merge(list: Measured[]): Measured {
  const [first, ...rest] = list;
  if (!first) throw new Error("nothing to merge");
  for (const r of rest) first.histogram.add(r.histogram);
  const cpu = list.every((r) => r.cpuMs !== undefined) ? { cpuMs: list.reduce((s, r) => s + (r.cpuMs ?? 0), 0) } : {};
  return {
    ...measured(
      first.histogram,
      list.reduce((s, r) => s + r.errors, 0),
      list.reduce((s, r) => s + r.seconds, 0),
    ),
    ...cpu,
  };
}

export function printTable(title: string): void {
  console.log(`\n### ${title}\n`);
  console.log("| figure | value | goal | met | inputs / notes |");
  console.log("|---|---:|---|---|---|");
  for (const f of figures) {
    const inputs = f.inputs?.map((i) => `${i.name} ${round(i.value)} ${i.unit}`).join("; ");
    console.log(
      `| \`${f.name}\` | ${round(f.value)} ${f.unit === "ratio" ? "" : f.unit} | ${f.goal ?? "—"} | ${f.goal ? (f.met ? "yes" : "**no**") : "—"} | ${[inputs, f.note].filter(Boolean).join("; ")} |`,
    );
  }
  console.log("\n| scenario | calls | errors | calls/s | p50 ms | p90 ms | p99 ms | max ms | workerd CPU ms a call | failure statuses |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
  for (const [name, m] of Object.entries(details)) {
    console.log(
      `| ${name} | ${m.count} | ${m.errors} | ${m.perSecond.toFixed(0)} | ${m.p50} | ${m.p90} | ${m.p99} | ${m.max} | ${m.cpuMsPerCall?.toFixed(2) ?? "—"} | ${m.statuses ?? ""} |`,
    );
  }
}
