/** Cloudflare Queues delays a message at most 12 hours. */
export const MAX_QUEUE_DELAY_SECONDS = 12 * 3600;

const clampDelay = (seconds: number) => Math.min(MAX_QUEUE_DELAY_SECONDS, Math.max(0, Math.ceil(seconds)));

/**
 * `Retry-After` (RFC 9110 §10.2.3) in seconds from now: delay-seconds or an HTTP-date. Undefined when
 * absent or unreadable, so the caller falls back to its own backoff.
 */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return clampDelay(Number(value));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : clampDelay((at - now) / 1000);
}

/**
 * Exponential backoff for the n-th attempt (1, 2, …): 10 s doubling up to 10 minutes, ±20 % jitter so
 * jobs that failed together (a push service outage) do not all come back in the same second.
 */
export function backoffSeconds(attempt: number, random = Math.random): number {
  const base = Math.min(600, 10 * 2 ** Math.max(0, attempt - 1));
  return clampDelay(base * (0.8 + 0.4 * random()));
}
