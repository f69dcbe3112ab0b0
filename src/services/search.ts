import { z } from "@hono/zod-openapi";
import { type ExportCursor, exportBoundary, exportPage, type Filters, searchCount, searchPage } from "../db/admin-messages";
import type { Db } from "../db/client";
import type { MessageRow } from "../db/schema";
import { AppError } from "../errors";
import { decodeCursor, encodeCursor } from "../lib/cursor";
import { logError } from "../lib/log";
import { nowIso } from "../lib/time";
import type { MessageFilters } from "../schemas/admin";
import { catchUpSearchIndex, SEARCH_CATCH_UP_BATCHES } from "./search-index";
import { toAdminMessageView } from "./views";

export const SEARCH_CONTENT_CHARS = 200;
export const EXPORT_PAGE_ROWS = 500;

/**
 * Words → an FTS5 query that cannot be malformed: each word is quoted (so `AND`, `(`, `-`, `:`
 * are just text) and all must match; a trailing `*` asks for a prefix match.
 */
export function ftsQuery(q: string): string | null {
  const terms = q
    .split(/\s+/)
    .filter(Boolean)
    .map((t) => {
      const prefix = t.length > 1 && t.endsWith("*");
      const word = prefix ? t.slice(0, -1) : t;
      return `"${word.replaceAll('"', '""')}"${prefix ? "*" : ""}`;
    });
  return terms.length ? terms.join(" ") : null;
}

export function filtersOf(q: MessageFilters): Filters {
  if (q.from && q.to && q.from > q.to) throw new AppError("validation_failed", "`from` is after `to`", { from: ["must not be after to"] });
  const match = q.q === undefined ? undefined : ftsQuery(q.q);
  if (q.q !== undefined && !match)
    throw new AppError("validation_failed", "Search needs at least one word", { q: ["needs at least one word"] });
  return {
    userId: q.user_id,
    senderId: q.sender_id,
    receiverId: q.receiver_id,
    match: match ?? undefined,
    moderationStatus: q.moderation_status,
    messageType: q.message_type,
    status: q.status,
    from: q.from,
    to: q.to,
    includeDeleted: q.include_deleted,
  };
}

/** A malformed MATCH throws in SQLite; quoting should make that impossible, but never answer 500 for input. */
async function guardFts<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const text = `${err instanceof Error ? err.message : ""} ${err instanceof Error && err.cause instanceof Error ? err.cause.message : ""}`;
    if (/fts5|unterminated string|no such column/i.test(text))
      throw new AppError("validation_failed", "The search text could not be understood", { q: ["unsupported search syntax"] });
    throw err;
  }
}

export async function searchMessages(db: Db, q: MessageFilters & { page: number; limit: number }) {
  const filters = filtersOf(q);
  // The index is filled after the send: bring it up to what is committed before reading it.
  if (filters.match) await catchUpSearchIndex(db, SEARCH_CATCH_UP_BATCHES);
  const [rows, [count]] = await guardFts(() =>
    db.batch([searchPage(db, filters, { offset: (q.page - 1) * q.limit, limit: q.limit }), searchCount(db, filters)]),
  );
  return {
    messages: rows.map((m) => toAdminMessageView(m, SEARCH_CONTENT_CHARS)),
    total: Number(count?.n ?? 0),
    page: q.page,
    limit: q.limit,
  };
}

const CSV_COLUMNS = [
  "id",
  "conversation_id",
  "seq",
  "sender_id",
  "receiver_id",
  "message_type",
  "status",
  "moderation_status",
  "moderation_reason",
  "content",
  "attachments",
  "metadata",
  "credits_cost",
  "credits_transaction_id",
  "client_message_id",
  "is_deleted",
  "deleted_at",
  "delivered_at",
  "read_at",
  "created_at",
  "updated_at",
] as const;

/**
 * RFC 4180: quote when the field holds a quote, comma or line break (or edge spaces), doubling
 * quotes. Text that a spreadsheet would run as a formula (= + - @ tab CR first) gets a leading
 * apostrophe: message content is written by users, and analysts open these files in Excel.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  let text = typeof value === "string" ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvLine(m: MessageRow): string {
  const view = toAdminMessageView(m);
  return `${CSV_COLUMNS.map((c) => csvField(view[c])).join(",")}\r\n`;
}

const ndjsonLine = (m: MessageRow) => `${JSON.stringify(toAdminMessageView(m))}\n`;

const PartCursor = z.object({ c: z.string().min(1), k: z.number().int() });

/** One part of an export: the rows after `after` up to and including `until` (or to the end). */
export type ExportPart = { filters: Filters; after?: ExportCursor; until?: ExportCursor; next: string | null };

/**
 * A Worker invocation may run only so many D1 queries (1 000 on Paid, 50 on Free), and an export that
 * hit that limit mid-stream would end looking complete. So an export is cut into parts of at most
 * `maxQueries` queries (one boundary query, then pages), and where a part ends is known BEFORE
 * streaming: the response names the next part's cursor in its headers, or none when it is the last.
 * Parts follow one keyset order, so across them every row comes exactly once.
 */
export async function planExport(db: Db, q: MessageFilters, cursor: string | undefined, maxQueries: number): Promise<ExportPart> {
  const filters = filtersOf(q);
  const start = cursor ? decodeCursor(cursor, PartCursor, "cursor") : undefined;
  const after = start && { createdAt: start.c, pk: start.k };
  // An export covers what existed when it began: rows sent meanwhile would push the first part's rows
  // past its planned end (later parts start below that end, so they hold only older rows anyway).
  if (!after) filters.to = filters.to && filters.to < nowIso() ? filters.to : nowIso();
  if (filters.match) await catchUpSearchIndex(db, SEARCH_CATCH_UP_BATCHES);
  const [last, beyond] = await guardFts(() => exportBoundary(db, filters, after, (maxQueries - 1) * EXPORT_PAGE_ROWS));
  // Fewer rows than the budget holds: the pages end by themselves (a short page).
  if (!last) return { filters, after, next: null };
  return { filters, after, until: last, next: beyond ? encodeCursor({ c: last.createdAt, k: last.pk }) : null };
}

/**
 * One export part as a stream of keyset pages: each `pull` reads the next page only when the client
 * has taken the previous one, so memory stays at one page whatever the size of the result. Every part
 * starts with the CSV header, so each is a file of its own.
 */
export function exportStream(db: Db, part: ExportPart, format: "csv" | "ndjson"): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after = part.after;
  let headerSent = format !== "csv";
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(encoder.encode(`${CSV_COLUMNS.join(",")}\r\n`));
          return;
        }
        try {
          const rows = await exportPage(db, part.filters, { after, until: part.until }, EXPORT_PAGE_ROWS);
          const last = rows.at(-1);
          if (last) {
            after = { createdAt: last.createdAt, pk: last.pk };
            controller.enqueue(encoder.encode(rows.map(format === "csv" ? csvLine : ndjsonLine).join("")));
          }
          // The part's last row is out (no query to learn that nothing follows), or the rows ran out.
          const reachedEnd = last !== undefined && last.pk === part.until?.pk && last.createdAt === part.until.createdAt;
          if (reachedEnd || rows.length < EXPORT_PAGE_ROWS) controller.close();
        } catch (err) {
          // The stream fails (the client sees an aborted body, never a short file that looks whole).
          logError("export.page_failed", err, { after });
          controller.error(err);
        }
      },
    },
    { highWaterMark: 0 },
  );
}
