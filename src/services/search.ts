import { type ExportCursor, exportPage, type Filters, searchCount, searchPage } from "../db/admin-messages";
import type { Db } from "../db/client";
import type { MessageRow } from "../db/schema";
import { AppError } from "../errors";
import { logError } from "../lib/log";
import type { MessageFilters } from "../schemas/admin";
import { toAdminMessageView } from "./views";

export const SEARCH_CONTENT_CHARS = 200;
const EXPORT_PAGE_ROWS = 500;

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

/**
 * The export as a stream of keyset pages: each `pull` reads the next page only when the client
 * has taken the previous one, so memory stays at one page whatever the size of the result.
 */
export function exportStream(db: Db, q: MessageFilters, format: "csv" | "ndjson"): ReadableStream<Uint8Array> {
  const filters = filtersOf(q);
  const encoder = new TextEncoder();
  let after: ExportCursor | undefined;
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
          const rows = await exportPage(db, filters, after, EXPORT_PAGE_ROWS);
          const last = rows.at(-1);
          if (last) {
            after = { createdAt: last.createdAt, pk: last.pk };
            controller.enqueue(encoder.encode(rows.map(format === "csv" ? csvLine : ndjsonLine).join("")));
          }
          if (rows.length < EXPORT_PAGE_ROWS) controller.close();
        } catch (err) {
          logError("export.page_failed", err, { after });
          controller.error(err);
        }
      },
    },
    { highWaterMark: 0 },
  );
}
