/**
 * `from` / `to` on every admin route that takes them: offsets are honoured, and a bound an offset
 * pushes outside years 0000-9999 (which would print as a six-digit year and sort before every real
 * timestamp) selects what it means instead of silently inverting the range.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { as, createAdmin, json, newUser, seedCredits, send } from "./helpers";

const FAR_FUTURE = "9999-12-31T23:59:59-23:59"; // year 10000 in UTC
const FAR_PAST = "0000-01-01T00:00:00+23:59"; // year -1 in UTC

let boss: string;
let sender: string;
let createdAt: string;
beforeAll(async () => {
  boss = await createAdmin("super_admin");
  sender = newUser("tb");
  await seedCredits(sender, 1);
  createdAt = (await send(sender, newUser("tb"), "in range")).created_at;
});

const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

/** `created_at` written with a +05:30 offset: the same instant. */
function withOffset(iso: string): string {
  const local = new Date(Date.parse(iso) + 330 * 60_000).toISOString().slice(0, 23);
  return `${local}+05:30`;
}

async function searchTotal(params: Record<string, string>) {
  const res = await as(boss).get(`/api/admin/messages/search?${q({ sender_id: sender, ...params })}`);
  expect(res.status).toBe(200);
  return (await json(res)).total;
}

async function exportedIds(params: Record<string, string>) {
  const res = await as(boss).get(`/api/admin/messages/export?${q({ format: "ndjson", sender_id: sender, ...params })}`);
  expect(res.status).toBe(200);
  return (await res.text())
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).id);
}

describe("time bounds with offsets", () => {
  it("search: a far-future `to` and a far-past `from` include everything; an offset names the same instant", async () => {
    expect(await searchTotal({ to: FAR_FUTURE })).toBe(1);
    expect(await searchTotal({ from: "2000-01-01", to: FAR_FUTURE })).toBe(1);
    expect(await searchTotal({ from: FAR_PAST })).toBe(1);
    expect(await searchTotal({ to: FAR_PAST })).toBe(0);
    expect(await searchTotal({ from: withOffset(createdAt), to: withOffset(createdAt) })).toBe(1);
    expect(await searchTotal({ from: withOffset(new Date(Date.parse(createdAt) + 1).toISOString()) })).toBe(0);
  });

  it("export: the same bounds select the same rows", async () => {
    expect(await exportedIds({ to: FAR_FUTURE })).toHaveLength(1);
    expect(await exportedIds({ from: FAR_PAST, to: FAR_FUTURE })).toHaveLength(1);
    expect(await exportedIds({ to: FAR_PAST })).toEqual([]);
  });

  it("overview: a range ending in year 10000 is the range ending at the last representable instant", async () => {
    const res = await as(boss).get(`/api/admin/messages/stats/overview?${q({ from: "9999-12-30", to: FAR_FUTURE })}`);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.range).toEqual({ from: "9999-12-30T00:00:00.000Z", to: "9999-12-31T23:59:59.999Z" });
    expect(body.per_day.map((d: { date: string }) => d.date)).toEqual(["9999-12-30", "9999-12-31"]);
    const now = await json(
      await as(boss).get(`/api/admin/messages/stats/overview?${q({ from: withOffset(createdAt), to: withOffset(createdAt) })}`),
    );
    expect(now.range).toEqual({ from: createdAt, to: createdAt });
    expect(now.totals.messages).toBeGreaterThanOrEqual(1);
  });

  it("audit logs: a far-future `to` still lists the caller's rows", async () => {
    const all = await json(await as(boss).get(`/api/admin/audit-logs?${q({ admin_id: boss })}`));
    expect(all.audit_logs.length).toBeGreaterThan(0);
    const bounded = await json(await as(boss).get(`/api/admin/audit-logs?${q({ admin_id: boss, to: FAR_FUTURE, limit: "100" })}`));
    // Every row the unbounded list had is there (this very request adds rows only after it answers).
    expect(bounded.audit_logs.map((r: { id: string }) => r.id)).toEqual(
      expect.arrayContaining(all.audit_logs.map((r: { id: string }) => r.id)),
    );
    const none = await json(await as(boss).get(`/api/admin/audit-logs?${q({ admin_id: boss, to: FAR_PAST })}`));
    expect(none.audit_logs).toEqual([]);
  });

  it("impossible dates are refused with 400 on every route", async () => {
    for (const route of ["messages/search", "messages/export", "messages/stats/overview", "audit-logs"]) {
      for (const bad of ["2026-02-30", "2026-13-01", "2026-01-01T24:00:00Z", "yesterday"]) {
        const res = await as(boss).get(`/api/admin/${route}?${q({ from: bad })}`);
        expect(res.status, `${route} ${bad}`).toBe(400);
        expect((await json(res)).error).toMatchObject({ code: "validation_failed", details: { from: expect.any(Array) } });
      }
    }
  });
});
