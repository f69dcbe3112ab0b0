import { perDay, rangeTotals } from "../db/admin-messages";
import type { Db } from "../db/client";
import { MESSAGE_STATUSES, MESSAGE_TYPES, MODERATION_STATUSES } from "../db/schema";
import { AppError } from "../errors";

const DAY_MS = 86_400_000;
export const DEFAULT_RANGE_DAYS = 30;
const MAX_RANGE_DAYS = 366;

const ratio = (part: number, whole: number) => (whole === 0 ? 0 : Math.round((part / whole) * 10_000) / 10_000);

/** The admin overview for [from, to] (default: the last 30 days), every figure computed by SQL. */
export async function overview(db: Db, q: { from?: string; to?: string }) {
  const to = q.to ?? new Date().toISOString();
  const from = q.from ?? new Date(Date.parse(to) - DEFAULT_RANGE_DAYS * DAY_MS).toISOString();
  if (from > to) throw new AppError("validation_failed", "`from` is after `to`", { from: ["must not be after to"] });
  if (Date.parse(to) - Date.parse(from) > MAX_RANGE_DAYS * DAY_MS) {
    throw new AppError("validation_failed", `The range is limited to ${MAX_RANGE_DAYS} days`, {
      from: [`at most ${MAX_RANGE_DAYS} days before to`],
    });
  }
  const [[totals], days] = await db.batch([rangeTotals(db, from, to), perDay(db, from, to)]);
  const t = (totals ?? {}) as Record<string, unknown>;
  const num = (key: string) => Number(t[key] ?? 0);
  const byValue = <V extends string>(column: string, values: readonly V[]) =>
    Object.fromEntries(values.map((v) => [v, num(`${column}.${v}`)])) as Record<V, number>;
  const total = num("messages");
  const counted = new Map(days.map((d) => [d.date, Number(d.messages)]));
  // Every day of the range, zeros included, so charts need no gap filling.
  const series: { date: string; messages: number }[] = [];
  for (let day = Date.parse(from.slice(0, 10)); day <= Date.parse(to); day += DAY_MS) {
    const date = new Date(day).toISOString().slice(0, 10);
    series.push({ date, messages: counted.get(date) ?? 0 });
  }
  const byStatus = byValue("status", MESSAGE_STATUSES);
  return {
    range: { from, to },
    totals: {
      messages: total,
      deleted: num("deleted"),
      by_status: byStatus,
      by_type: byValue("message_type", MESSAGE_TYPES),
      by_moderation_status: byValue("moderation_status", MODERATION_STATUSES),
    },
    per_day: series,
    active_senders: num("activeSenders"),
    delivery_rate: ratio(byStatus.delivered + byStatus.read, total),
    read_rate: ratio(byStatus.read, total),
  };
}
