import { z } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor } from "./cursor";

/**
 * Keyset pages are fetched with `limit + 1` rows: the extra row only says whether there is more.
 * The cursor names the last row shown, so the next page starts right after it.
 */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (last: T) => Record<string, string | number>) {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  const hasMore = rows.length > limit;
  return { items, hasMore, nextCursor: hasMore && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

/** Row-id cursors (`{k: pk}`), for tables paged newest first by their integer key. */
const PkCursor = z.object({ k: z.number().int().positive() });

export const beforePkOf = (cursor: string | undefined, field = "cursor") => (cursor ? decodeCursor(cursor, PkCursor, field).k : undefined);

export const pageByPk = <T extends { pk: number }>(rows: T[], limit: number) => pageOf(rows, limit, (r) => ({ k: r.pk }));
