/** Settings read from the environment, validated once per isolate. */

/** The two sliding windows of the send limits (SEND_BURST_LIMIT, SEND_MINUTE_LIMIT). */
export const SEND_BURST_PERIOD_SECONDS = 10;
export const SEND_MINUTE_PERIOD_SECONDS = 60;

export type SendLimits = { burst: number; minute: number };

/** `SEND_BURST_LIMIT` and `SEND_MINUTE_LIMIT`: messages a user may send in any 10 seconds and in any minute. */
export function sendLimitsOf(env: Env): SendLimits {
  const of = (name: "SEND_BURST_LIMIT" | "SEND_MINUTE_LIMIT", fallback: number) => {
    const raw = env[name] ?? String(fallback);
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1, got "${raw}"`);
    return n;
  };
  return { burst: of("SEND_BURST_LIMIT", 30), minute: of("SEND_MINUTE_LIMIT", 60) };
}

export function messageCostOf(env: Env): number {
  const cost = Number(env.MESSAGE_COST ?? "1");
  if (!Number.isInteger(cost) || cost < 0) throw new Error(`MESSAGE_COST must be a whole number >= 0, got "${env.MESSAGE_COST}"`);
  return cost;
}

export const devAuthEnabled = (env: Env) => env.DEV_AUTH === "true";

/** `CORS_ORIGINS`: "*" or a comma-separated list of origins. */
export function corsOriginsOf(setting: string): string | string[] {
  const raw = setting.trim();
  return raw === "*"
    ? "*"
    : raw
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean);
}

/** `EXPORT_MAX_QUERIES`: D1 queries one export response may run (its boundary query and its pages). */
export function exportMaxQueriesOf(env: Env): number {
  const max = Number(env.EXPORT_MAX_QUERIES ?? "500");
  if (!Number.isInteger(max) || max < 2) throw new Error(`EXPORT_MAX_QUERIES must be a whole number >= 2, got "${env.EXPORT_MAX_QUERIES}"`);
  return max;
}
