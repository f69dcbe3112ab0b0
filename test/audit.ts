/**
 * The audit chain in tests. The sealer is the real Durable Object; vitest.config.ts sets its alarm
 * far out (AUDIT_SEAL_DELAY_MS), so a test seals when it says so: `sealNow()` (the RPC verify uses)
 * or `runDurableObjectAlarm(sealer())` (what a poke's alarm runs). Nothing seals behind a test's back.
 */
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { as, json } from "./helpers";

export const sealer = () => env.AUDIT_SEALER.getByName("audit-log");

export const sealNow = () => sealer().sealNow();

/** GET /api/admin/audit-logs/verify as `admin` (it seals what is pending first). */
export async function verify(admin: string) {
  const res = await as(admin).get("/api/admin/audit-logs/verify");
  if (res.status !== 200) throw new Error(`verify answered ${res.status}: ${await res.text()}`);
  return json(res);
}

/** Runs `fn` with console.error silenced (a sabotaged write logs its failure, as it should). */
export async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const spy = vi.spyOn(console, "error").mockImplementation(() => {});
  try {
    return await fn();
  } finally {
    spy.mockRestore();
  }
}

/** Every audit row joined with its seal (null seal fields while unsealed), oldest first. */
export async function chain() {
  const { results } = await env.DB.prepare(
    "SELECT a.*, s.prev_hash, s.hash, s.key_id FROM audit_log a LEFT JOIN audit_seals s ON s.audit_pk = a.pk ORDER BY a.pk",
  ).all<Record<string, string | number | null>>();
  return results;
}

export const APPEND_ONLY = (table: "audit_log" | "audit_seals", kind: "UPDATE" | "DELETE") =>
  `CREATE TRIGGER ${table}_no_${kind.toLowerCase()} BEFORE ${kind} ON ${table} BEGIN SELECT RAISE(ABORT, 'append-only: ${table}'); END`;

/**
 * Runs `fn` as an attacker with raw SQL access who dropped the append-only triggers of `tables`;
 * the triggers are back afterwards, whatever happens.
 */
export async function withoutTriggers<T>(tables: ("audit_log" | "audit_seals")[], fn: () => Promise<T>): Promise<T> {
  for (const t of tables) for (const k of ["update", "delete"]) await env.DB.prepare(`DROP TRIGGER ${t}_no_${k}`).run();
  try {
    return await fn();
  } finally {
    for (const t of tables) for (const k of ["UPDATE", "DELETE"] as const) await env.DB.prepare(APPEND_ONLY(t, k)).run();
  }
}
