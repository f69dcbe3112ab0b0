import { z } from "@hono/zod-openapi";
import { USER_ID_PATTERN } from "../lib/jwt";

export const UserId = z.string().regex(USER_ID_PATTERN, "1-64 characters of [A-Za-z0-9_-]").openapi({ example: "user_alice" });

/** Ids the server issued (messages, transactions, audit rows): opaque, bounded. */
export const OpaqueId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, "not an id this API issued");

export const Timestamp = z.string().openapi({ format: "date-time", example: "2026-11-23T16:00:00.000Z" });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "validation_failed" }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi("Error");

/** Query numbers arrive as text; reject what is not a plain integer instead of guessing. */
const queryInt = (min: number, max: number) =>
  z.string().regex(/^\d+$/, "must be a whole number").transform(Number).pipe(z.number().int().min(min).max(max));

export const Limit = queryInt(1, 100).optional().default(50).openapi({ type: "integer", minimum: 1, maximum: 100, default: 50 });
export const Skip = queryInt(0, 100_000).optional().default(0).openapi({ type: "integer", minimum: 0, default: 0 });
export const Page = queryInt(1, 100_000).optional().default(1).openapi({ type: "integer", minimum: 1, default: 1 });
export const Cursor = z.string().min(1).max(512).openapi({ description: "An opaque cursor from `next_cursor`" });

/** `?include_deleted=true|false|1|0` */
export const QueryBool = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1")
  .openapi({ type: "boolean" });

/** A date (`2026-11-01`) or a date-time with offset; normalized to UTC. */
const dateOrDateTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** The span stored timestamps can have: four-digit years, so that ISO strings sort as text. */
export const EARLIEST = "0000-01-01T00:00:00.000Z";
export const LATEST = "9999-12-31T23:59:59.999Z";

/**
 * The bound in UTC, as stored timestamps are written. An offset can carry a bound past year 9999 or
 * before year 0 (`9999-12-31T23:59:59-23:59` is in year 10000), and `toISOString()` would then write a
 * six-digit year (`+010000-…`) that sorts before every real timestamp, silently inverting a range.
 * Such a bound is clamped to the span instead: it selects exactly the same rows.
 */
function utcBound(value: string): string {
  const ms = Date.parse(value);
  if (ms > Date.parse(LATEST)) return LATEST;
  if (ms < Date.parse(EARLIEST)) return EARLIEST;
  return new Date(ms).toISOString();
}

const BOUND_TEXT =
  "Inclusive. A date or a date-time with an offset, compared in UTC; a bound an offset puts after 9999-12-31T23:59:59.999Z or before 0000-01-01T00:00:00.000Z is clamped to it.";

/** Inclusive lower bound. */
export const FromBound = dateOrDateTime.transform(utcBound).openapi({ type: "string", description: BOUND_TEXT, example: "2026-11-01" });

/** Inclusive upper bound; a bare date covers that whole day. */
export const ToBound = dateOrDateTime
  .transform((v) => (v.length === 10 ? `${v}T23:59:59.999Z` : utcBound(v)))
  .openapi({ type: "string", description: `${BOUND_TEXT} A bare date covers that whole day.`, example: "2026-11-30T23:59:59.999Z" });
