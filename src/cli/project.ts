/**
 * What the Node CLIs need from the project: its local settings and a way to run wrangler.
 * Runs under the Node 24 that npm puts on PATH (type stripping: erasable TypeScript only).
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEV_VARS = `${ROOT}.dev.vars`;

/**
 * Creates .dev.vars from the committed template on first use, and later adds (never overwrites)
 * any setting the template gained since, so an older checkout keeps starting. Returns what it did.
 */
export function ensureDevVars(): "created" | "updated" | null {
  const example = `${ROOT}.dev.vars.example`;
  if (!existsSync(DEV_VARS)) {
    copyFileSync(example, DEV_VARS);
    return "created";
  }
  // A key the developer commented out counts as present: they chose to turn it off.
  const mentioned = new Set([...readFileSync(DEV_VARS, "utf8").matchAll(/^[\s#]*([A-Za-z_][A-Za-z0-9_]*)\s*=/gm)].map((m) => m[1]));
  const missing = Object.entries(parseDotenv(readFileSync(example, "utf8"))).filter(([k]) => !mentioned.has(k));
  if (!missing.length) return null;
  appendFileSync(DEV_VARS, `\n# Added from .dev.vars.example\n${missing.map(([k, v]) => `${k}=${v}`).join("\n")}\n`);
  return "updated";
}

function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (m?.[1] && !line.trimStart().startsWith("#")) out[m[1]] = (m[2] ?? "").replace(/^(['"])(.*)\1$/, "$2");
  }
  return out;
}

/** The [vars] of wrangler.toml (flat string values only, which is all we keep there). */
function parseTomlVars(text: string): Record<string, string> {
  const section = /^\[vars\]\s*$([\s\S]*?)(?=^\[)/m.exec(`${text}\n[`)?.[1] ?? "";
  const out: Record<string, string> = {};
  for (const m of section.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"/gm)) if (m[1]) out[m[1]] = m[2] ?? "";
  return out;
}

/** Local configuration as `wrangler dev` sees it: wrangler.toml [vars], overridden by .dev.vars. */
export function localConfig(): Record<string, string> {
  ensureDevVars();
  return { ...parseTomlVars(readFileSync(`${ROOT}wrangler.toml`, "utf8")), ...parseDotenv(readFileSync(DEV_VARS, "utf8")) };
}

const OFFLINE = { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" };

/** Runs `wrangler d1 execute DB --local` and returns the JSON results of each statement. */
export function d1Local(args: string[]): { results: Record<string, unknown>[] }[] {
  const run = spawnSync("wrangler", ["d1", "execute", "DB", "--local", "--json", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...OFFLINE },
    encoding: "utf8",
  });
  if (run.status !== 0) {
    const detail = /"text":\s*"([^"]+)"/.exec(run.stdout)?.[1] ?? (run.stderr || run.stdout).trim();
    throw new Error(detail || `wrangler exited with ${run.status}`);
  }
  return JSON.parse(run.stdout);
}

/** SQL string literal; the CLIs validate their inputs first, this only makes quoting exact. */
export const lit = (v: string | number | null) =>
  v === null ? "NULL" : typeof v === "number" ? String(v) : `'${v.replaceAll("'", "''")}'`;
