/**
 * Reports (issue 11): the snapshot taken by SQL in the report's own write, which nothing the
 * reported user does afterwards changes; `block: true` in the same write; the per-reporter limit;
 * the admin queue with every filter and paging; resolving (audited, `user_suspended` suspends in the
 * same write, twice → 409); the snapshot's redaction after the hold.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { redactResolvedSnapshots } from "../src/services/reports";
import { uploaded } from "./attachments";
import { as, auditRowsOf, BASE, count, createAdmin, db, json, newUser, pair, seedCredits, send, tokenFor } from "./helpers";
import { png } from "./media";
import { seedMessages, trySend, unmatch } from "./safety";

const report = (from: string, body: Record<string, unknown>) => as(from).post("/api/v2/reports", body);
const DAY = 86_400_000;

let moderator: string;
let support: string;
const queue = async (query: string, as_ = moderator) => json(await as(as_).get(`/api/admin/reports?${query}`));
const reportById = async (id: string) => (await queue(`limit=100`)).reports.find((r: { id: string }) => r.id === id);

describe("POST /api/v2/reports", () => {
  it("files a report with a snapshot of the last 50 messages plus the named ones, as moderators see them", async () => {
    moderator ??= await createAdmin("moderator");
    const [a, b] = [newUser("a"), newUser("b")];
    await seedMessages(a, b, 60, "message");
    const idOf = (seq: number) => `msg_seed_${a}_${seq}`;
    expect((await as(a).del(`/api/v2/messages/${idOf(59)}`)).status).toBe(200); // deleted before the report: still evidence
    const first = idOf(1);
    const res = await report(b, { user_id: a, reason: "harassment", details: "keeps writing", message_ids: [first, idOf(60)] });
    expect(res.status).toBe(201);
    const { report_id, status } = await json(res);
    expect(status).toBe("open");
    expect(report_id).toMatch(/^rep_/);

    const r = await reportById(report_id);
    expect(r).toMatchObject({
      reporter_id: b,
      user_id: a,
      reason: "harassment",
      details: "keeps writing",
      message_ids: [first, idOf(60)],
      also_blocked: false,
      status: "open",
      resolution: null,
      snapshot_redacted_at: null,
      user_suspension: { suspended: false },
    });
    expect(r.snapshot.map((m: { seq: number }) => m.seq)).toEqual([1, ...Array.from({ length: 50 }, (_, i) => i + 11)]);
    expect(r.snapshot[0]).toMatchObject({ id: first, content: "message #1", named: true, sender_id: a, receiver_id: b });
    expect(r.snapshot.find((m: { seq: number }) => m.seq === 59)).toMatchObject({ content: "message #59", is_deleted: true, named: false });
    expect(r.snapshot.at(-1)).toMatchObject({ seq: 60, named: true });
  });

  it("the snapshot survives the sender's delete, an unmatch, a hard delete and the erasure of the reported user", async () => {
    moderator ??= await createAdmin("moderator");
    const root = await createAdmin("super_admin");
    const { alice: a, bob: b } = await pair(5);
    const attachment = await uploaded(a, "image/png", png(3, 3), "me.png");
    const m1 = await send(a, b, "evidence one");
    const m2 = await send(a, b, "evidence two", { message_type: "image", attachments: [{ attachment_id: attachment }] });
    const { report_id } = await json(await report(b, { user_id: a, reason: "inappropriate" }));
    const before = (await reportById(report_id)).snapshot;
    expect(before.map((m: { content: string }) => m.content)).toEqual(["evidence one", "evidence two"]);
    expect(before[1].attachments).toEqual([
      expect.objectContaining({ attachment_id: attachment, url: `/api/admin/attachments/${attachment}`, name: "me.png" }),
    ]);

    await as(a).del(`/api/v2/messages/${m1.id}`);
    await as(root).del(`/api/admin/messages/${m2.id}/hard-delete`);
    await unmatch(a, b);
    const erased = await as(root).del(`/api/admin/users/${a}/messages`);
    expect((await json(erased)).status).toBe("done");
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(0);
    expect((await reportById(report_id)).snapshot).toEqual(before);
  });

  it("works after a block and after an unmatch, for a user never written to (empty snapshot); `block: true` blocks in the same write", async () => {
    moderator ??= await createAdmin("moderator");
    const [a, b, stranger] = [newUser("a"), newUser("b"), newUser("s")];
    await seedCredits(a, 3);
    await send(a, b, "creepy");
    const withBlock = await report(b, { user_id: a, reason: "harassment", block: true });
    expect(withBlock.status).toBe(201);
    expect(await count("SELECT 1 FROM blocks WHERE blocker_id = ? AND blocked_id = ?", b, a)).toBe(1);
    expect((await trySend(a, b, "again")).status).toBe(404);
    const r = await reportById((await json(withBlock)).report_id);
    expect(r.also_blocked).toBe(true);
    expect(r.snapshot).toHaveLength(1);

    expect((await report(b, { user_id: a, reason: "spam" })).status).toBe(201); // after the block
    await unmatch(a, b);
    expect((await report(b, { user_id: a, reason: "scam" })).status).toBe(201); // after the unmatch
    const profile = await report(b, { user_id: stranger, reason: "underage" });
    expect(profile.status).toBe(201);
    expect((await reportById((await json(profile)).report_id)).snapshot).toEqual([]);
  });

  it("refuses bad reports with 400 and stores nothing: yourself, unknown reason, unknown fields, messages of another conversation", async () => {
    const { alice: a, bob: b } = await pair(3);
    const other = newUser("o");
    const foreign = await send(a, other, "not yours to report");
    const cases: [Record<string, unknown>, string][] = [
      [{ user_id: b, reason: "other" }, "user_id"],
      [{ user_id: a, reason: "rude" }, "reason"],
      [{ user_id: a, reason: "spam", status: "resolved" }, "status"],
      [{ user_id: a, reason: "spam", message_ids: [foreign.id] }, "message_ids.0"],
      [{ user_id: a, reason: "spam", message_ids: ["msg_nope"] }, "message_ids.0"],
      [{ user_id: a, reason: "spam", details: "" }, "details"],
    ];
    for (const [body, field] of cases) {
      const res = await report(b, body.user_id === b ? body : body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).error.details, JSON.stringify(body)).toHaveProperty([field]);
    }
    expect(await count("SELECT 1 FROM reports WHERE reporter_id = ?", b)).toBe(0);
  });

  it("is rate-limited per reporter (REPORT_LIMITER): 429 with Retry-After, nothing stored; other reporters unaffected", async () => {
    const reporter = newUser("r");
    const targets = Array.from({ length: 6 }, () => newUser("t"));
    const statuses = [];
    for (const t of targets) statuses.push((await report(reporter, { user_id: t, reason: "spam" })).status);
    expect(statuses).toEqual([201, 201, 201, 201, 201, 429]);
    const refused = await report(reporter, { user_id: targets[0], reason: "spam" });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
    expect(await json(refused)).toMatchObject({ error: { code: "rate_limited" } });
    expect(await count("SELECT 1 FROM reports WHERE reporter_id = ?", reporter)).toBe(5);
    expect((await report(newUser("r2"), { user_id: targets[0], reason: "spam" })).status).toBe(201);
  });
});

describe("the admin queue", () => {
  it("filters by status, user_id, reporter_id, reason, from and to, pages with the total, and needs moderation.view", async () => {
    moderator ??= await createAdmin("moderator");
    support ??= await createAdmin("support");
    const target = newUser("target");
    const reporters = Array.from({ length: 5 }, () => newUser("rep"));
    const ids: string[] = [];
    for (const [i, r] of reporters.entries()) {
      ids.push((await json(await report(r, { user_id: target, reason: i % 2 ? "spam" : "scam" }))).report_id);
    }
    const all = await queue(`user_id=${target}&limit=2`);
    expect(all.total).toBe(5);
    expect(all.reports.map((r: { id: string }) => r.id)).toEqual([ids[4], ids[3]]); // newest first
    expect((await queue(`user_id=${target}&limit=2&page=3`)).reports.map((r: { id: string }) => r.id)).toEqual([ids[0]]);
    expect((await queue(`user_id=${target}&reason=spam`)).total).toBe(2);
    expect((await queue(`reporter_id=${reporters[2]}`)).reports.map((r: { id: string }) => r.id)).toEqual([ids[2]]);
    expect((await queue(`user_id=${target}&status=resolved`)).total).toBe(0);
    expect((await queue(`user_id=${target}&status=open&reason=scam`)).total).toBe(3);
    const createdAt = (await reportById(ids[2] as string)).created_at;
    expect((await queue(`user_id=${target}&from=${encodeURIComponent(createdAt)}`)).total).toBe(3);
    expect((await queue(`user_id=${target}&to=${encodeURIComponent(createdAt)}`)).total).toBe(3);
    expect((await queue(`user_id=${target}&to=2000-01-01`)).total).toBe(0);
    // Support may read the queue; the bad filters are 400s; users are 403.
    expect((await queue(`user_id=${target}`, support)).total).toBe(5);
    for (const bad of ["status=closed", "reason=rude", "limit=0", "from=2026-02-30", "from=2026-02-01&to=2026-01-01", "user_id=bad!"]) {
      expect((await as(moderator).get(`/api/admin/reports?${bad}`)).status, bad).toBe(400);
    }
    expect((await as(newUser("u")).get("/api/admin/reports")).status).toBe(403);
  });
});

describe("resolving a report", () => {
  it("resolves once, audited in the same write; again answers 409 and changes nothing; support may not", async () => {
    moderator ??= await createAdmin("moderator");
    support ??= await createAdmin("support");
    const [r, t] = [newUser("r"), newUser("t")];
    const { report_id } = await json(await report(r, { user_id: t, reason: "spam" }));
    const denied = await as(support).post(`/api/admin/reports/${report_id}/resolve`, { resolution: "no_action", note: "fine" });
    expect(denied.status).toBe(403);

    const res = await as(moderator).post(`/api/admin/reports/${report_id}/resolve`, { resolution: "warned", note: "told them off" });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      id: report_id,
      status: "resolved",
      resolution: "warned",
      resolution_note: "told them off",
      resolved_by: moderator,
    });
    const [row] = await auditRowsOf(res);
    expect(row).toMatchObject({
      action: "reports.resolve",
      target_type: "report",
      target_id: report_id,
      outcome: "success",
      status_code: 200,
    });
    expect(JSON.parse(String(row?.after_state))).toEqual({ status: "resolved", resolution: "warned" });

    const again = await as(moderator).post(`/api/admin/reports/${report_id}/resolve`, {
      resolution: "user_suspended",
      note: "changed my mind",
    });
    expect(again.status).toBe(409);
    expect(await json(again)).toMatchObject({ error: { code: "conflict", details: { status: "resolved", resolution: "warned" } } });
    expect(await auditRowsOf(again)).toEqual([expect.objectContaining({ action: "reports.resolve", outcome: "failed", status_code: 409 })]);
    expect(await count("SELECT 1 FROM suspensions WHERE user_id = ?", t)).toBe(0);
    expect((await reportById(report_id)).resolution).toBe("warned");

    expect((await as(moderator).post("/api/admin/reports/rep_nope/resolve", { resolution: "warned", note: "x" })).status).toBe(404);
    expect((await as(moderator).post(`/api/admin/reports/${report_id}/resolve`, { resolution: "banned", note: "x" })).status).toBe(400);
    expect((await as(moderator).post(`/api/admin/reports/${report_id}/resolve`, { resolution: "warned" })).status).toBe(400);
  });

  it("`user_suspended` suspends the reported user in the same write; racing resolutions resolve (and suspend) once", async () => {
    moderator ??= await createAdmin("moderator");
    const { alice: offender, bob: reporter } = await pair(3);
    const { report_id } = await json(await report(reporter, { user_id: offender, reason: "scam" }));
    const calls = await Promise.all(
      Array.from({ length: 6 }, () =>
        as(moderator).post(`/api/admin/reports/${report_id}/resolve`, { resolution: "user_suspended", note: "scammer" }),
      ),
    );
    expect(calls.map((c) => c.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    const suspension = await env.DB.prepare("SELECT reason, until, admin_id FROM suspensions WHERE user_id = ?").bind(offender).first();
    expect(suspension).toEqual({ reason: `report ${report_id}: scammer`, until: null, admin_id: moderator });
    expect((await reportById(report_id)).user_suspension).toMatchObject({ suspended: true, until: null });
    expect(
      await count("SELECT 1 FROM audit_log WHERE target_id = ? AND action = 'reports.resolve' AND outcome = 'success'", report_id),
    ).toBe(1);
    expect(await trySend(offender, reporter, "hi")).toMatchObject({ status: 403, body: { error: { details: { reason: "suspended" } } } });
  });
});

describe("the snapshot's retention hold (scheduled redaction)", () => {
  it("redacts the snapshots of reports resolved more than REPORT_RETENTION_DAYS ago; open ones keep their evidence", async () => {
    moderator ??= await createAdmin("moderator");
    const { alice: a, bob: b } = await pair(5);
    const text = `held evidence ${crypto.randomUUID()}`;
    await send(a, b, text);
    const resolved = (await json(await report(b, { user_id: a, reason: "spam" }))).report_id;
    const open = (await json(await report(b, { user_id: a, reason: "harassment" }))).report_id;
    const done = await json(await as(moderator).post(`/api/admin/reports/${resolved}/resolve`, { resolution: "warned", note: "ok" }));
    const resolvedAt = Date.parse(done.resolved_at);
    const days = Number(env.REPORT_RETENTION_DAYS);

    await redactResolvedSnapshots(db, env, new Date(resolvedAt + (days - 1) * DAY));
    expect((await reportById(resolved)).snapshot[0].content).toBe(text);

    const { redacted } = await redactResolvedSnapshots(db, env, new Date(resolvedAt + days * DAY + 1000));
    expect(redacted).toBeGreaterThanOrEqual(1);
    const r = await reportById(resolved);
    expect(r.snapshot_redacted_at).toEqual(expect.any(String));
    expect(r.snapshot).toEqual([expect.objectContaining({ content: null, attachments: [], metadata: {}, sender_id: a, seq: 1 })]);
    expect((await reportById(open)).snapshot[0].content).toBe(text);
    expect(await count("SELECT 1 FROM reports WHERE id = ? AND instr(snapshot, ?) > 0", resolved, text)).toBe(0);
  });
});

describe("reports are counted per reporter through the binding", () => {
  it("a report route call with the limiter refusing stores nothing", async () => {
    const refusing = { limit: async () => ({ success: false }) } as unknown as RateLimit;
    const reporter = newUser("r");
    const res = await app.request(
      `${BASE}/api/v2/reports`,
      {
        method: "POST",
        headers: { authorization: `Bearer ${await tokenFor(reporter)}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: newUser("t"), reason: "spam", block: true }),
      },
      { ...env, REPORT_LIMITER: refusing },
    );
    expect(res.status).toBe(429);
    expect(await count("SELECT 1 FROM reports WHERE reporter_id = ?", reporter)).toBe(0);
    expect(await count("SELECT 1 FROM blocks WHERE blocker_id = ?", reporter)).toBe(0);
  });
});
