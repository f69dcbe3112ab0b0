import { perDay, rangeTotals } from "../db/admin-messages";
import type { Db } from "../db/client";
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
  const [[t], days] = await db.batch([rangeTotals(db, from, to), perDay(db, from, to)]);
  const num = (v: unknown) => Number(v ?? 0);
  const total = num(t?.messages);
  const counted = new Map(days.map((d) => [d.date, num(d.messages)]));
  // Every day of the range, zeros included, so charts need no gap filling.
  const series: { date: string; messages: number }[] = [];
  for (let day = Date.parse(from.slice(0, 10)); day <= Date.parse(to); day += DAY_MS) {
    const date = new Date(day).toISOString().slice(0, 10);
    series.push({ date, messages: counted.get(date) ?? 0 });
  }
  return {
    range: { from, to },
    totals: {
      messages: total,
      deleted: num(t?.deleted),
      by_status: { sent: num(t?.sent), delivered: num(t?.delivered), read: num(t?.read), failed: num(t?.failed) },
      by_type: { text: num(t?.text), image: num(t?.image), video: num(t?.video), audio: num(t?.audio), file: num(t?.file) },
      by_moderation_status: { pending: num(t?.pending), approved: num(t?.approved), flagged: num(t?.flagged), blocked: num(t?.blocked) },
    },
    per_day: series,
    active_senders: num(t?.activeSenders),
    delivery_rate: ratio(num(t?.delivered) + num(t?.read), total),
    read_rate: ratio(num(t?.read), total),
  };
}
