/**
 * Erasure (issue 11): `DELETE /api/admin/users/{user_id}/messages` removes everything the user sent,
 * in steps of at most ERASURE_MAX_QUERIES D1 queries (60 in the test configuration) driven by the
 * UserErasure object's alarm, and afterwards the erased text is nowhere in the database: not in any
 * column of any table (audit rows and seals, the search index's own tables), only in an unexpired
 * report snapshot, and after the hold not even there.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { dbOf } from "../src/db/client";
import { ERASURE_CHUNK, eraseStep, erasureBudgetOf } from "../src/services/erasure";
import { redactResolvedSnapshots } from "../src/services/reports";
import { announce, keysOf, uploaded } from "./attachments";
import { as, auditRowsOf, count, createAdmin, db, indexNow, json, newUser, pair, seedCredits, send } from "./helpers";
import { png } from "./media";
import { balancesOffLedger, countingD1, ledgerOf, seedMessages } from "./safety";

let root: string;
beforeAll(async () => {
  root = await createAdmin("super_admin");
});

const erase = (user: string, as_ = root) => as(as_).del(`/api/admin/users/${user}/messages`);

/** Tables and columns (every one of them), and where a text occurs as bytes: text and blob columns alike. */
async function whereIs(text: string): Promise<string[]> {
  const { results: tables } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT IN ('messages_fts', 'sqlite_sequence')",
  ).all<{ name: string }>();
  const found: string[] = [];
  for (const { name } of tables) {
    const { results: columns } = await env.DB.prepare(`SELECT name FROM pragma_table_info('${name}')`).all<{ name: string }>();
    for (const { name: column } of columns) {
      const hits = await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${name}" WHERE instr(CAST("${column}" AS BLOB), CAST(? AS BLOB)) > 0`)
        .bind(text)
        .first<{ n: number }>();
      if (hits?.n) found.push(`${name}.${column}`);
    }
  }
  const matched = await count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${text}"`);
  if (matched) found.push("messages_fts MATCH");
  return found;
}

describe("erasing a user's messages", () => {
  it("removes every message they sent (never what they received) with its search entries, attachment bytes, unsent uploads and push claims; keeps the ledger; audited with counts only", async () => {
    const { alice: a, bob: b } = await pair(10);
    await seedCredits(b, 2);
    const photo = await uploaded(a, "image/png", png(5, 5), "private.png");
    const unsent = await uploaded(a, "image/png", png(6, 6), "draft.png");
    const pending = (await json(await announce(a, "image/png", 100, "never.png"))).attachment_id;
    const word = `erasemeword${crypto.randomUUID().replaceAll("-", "")}`;
    await send(a, b, `first ${word}`);
    await send(a, b, "a photo", { message_type: "image", attachments: [{ attachment_id: photo }] });
    const kept = await send(b, a, "bob's own reply stays");
    await env.DB.prepare(
      "INSERT INTO push_state (receiver_id, conversation_id, seq, prev_seq, updated_at) VALUES (?, ?, 2, 0, '2026-01-01T00:00:00.000Z')",
    )
      .bind(b, kept.conversation_id ?? `${[a, b].sort().join(":")}`)
      .run();
    const ledgerBefore = await ledgerOf(a);
    await indexNow();
    expect(await count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${word}"`)).toBe(1);

    const res = await erase(a);
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ user_id: a, removed: 2, remaining: 0, status: "done" });
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(0);
    expect(await count("SELECT 1 FROM messages WHERE id = ?", kept.id)).toBe(1);
    expect(await count("SELECT 1 FROM messages_fts WHERE messages_fts MATCH ?", `"${word}"`)).toBe(0);
    for (const id of [photo, unsent, pending]) {
      expect(await keysOf(id)).toEqual([]);
      expect(await count("SELECT 1 FROM attachments WHERE id = ?", id)).toBe(0);
    }
    expect(await count("SELECT 1 FROM push_state WHERE receiver_id = ?", b)).toBe(0);
    expect(await ledgerOf(a)).toEqual(ledgerBefore);
    expect(await balancesOffLedger()).toEqual([]);

    const [row] = await auditRowsOf(res);
    expect(row).toMatchObject({
      action: "users.erase_messages",
      target_type: "user",
      target_id: a,
      severity: "critical",
      outcome: "success",
    });
    expect(JSON.parse(String(row?.details))).toEqual({ messages_remaining: 2 });
    expect(JSON.stringify(row)).not.toContain(word);

    // Calling again reports the finished erasure (audited too).
    const again = await erase(a);
    expect(await json(again)).toEqual({ user_id: a, removed: 2, remaining: 0, status: "done" });
    expect(await auditRowsOf(again)).toHaveLength(1);
    // The user's history shows the partner's messages only.
    const history = await json(await as(b).get(`/api/v2/messages/conversation/${a}`));
    expect(history.messages.map((m: { id: string }) => m.id)).toEqual([kept.id]);
  });

  it("leaves the erased text nowhere: no column of any table, the search index's own pages included; only an unexpired report snapshot, and after the hold not there either", async () => {
    const mod = await createAdmin("moderator");
    const { alice: a, bob: b } = await pair(5);
    const secret = `nowheretext${crypto.randomUUID().replaceAll("-", "")}`;
    const m = await send(a, b, `call me, ${secret}`);
    // Everything that may copy a message's text: moderation, a report, the audit chain, a hard delete of another.
    await as(mod).post(`/api/admin/messages/${m.id}/moderate`, { moderation_status: "flagged", reason: "check" });
    const { report_id } = await json(await as(b).post("/api/v2/reports", { user_id: a, reason: "harassment", message_ids: [m.id] }));
    await as(root).get(`/api/admin/messages/search?q=${secret}`);
    await as(root).get("/api/admin/audit-logs/verify");
    expect((await whereIs(secret)).sort()).toEqual(
      ["messages.content", "messages_fts MATCH", "messages_fts_data.block", "reports.snapshot"].sort(),
    );

    expect((await json(await erase(a))).status).toBe("done");
    expect(await whereIs(secret)).toEqual(["reports.snapshot"]); // the report's evidence, under the hold

    const resolved = await json(await as(mod).post(`/api/admin/reports/${report_id}/resolve`, { resolution: "warned", note: "done" }));
    const pastHold = new Date(Date.parse(resolved.resolved_at) + (Number(env.REPORT_RETENTION_DAYS) + 1) * 86_400_000);
    await redactResolvedSnapshots(db, env, pastHold);
    expect(await whereIs(secret)).toEqual([]);
  });

  it("needs super_admin; takes no body", async () => {
    const [mod, admin] = [await createAdmin("moderator"), await createAdmin("admin")];
    const { alice: a, bob: b } = await pair(1);
    await send(a, b, "stays");
    for (const who of [mod, admin, newUser("u")]) expect((await erase(a, who)).status).toBe(403);
    expect((await as(root).del(`/api/admin/users/${a}/messages`)).status).toBe(200);
    const withBody = await import("./helpers").then(({ call, tokenFor }) =>
      tokenFor(root).then((token) => call("DELETE", `/api/admin/users/${newUser("x")}/messages`, { token, body: { all: true } })),
    );
    expect(withBody.status).toBe(400);
  });
});

describe("erasing 100 000 messages", () => {
  const ROWS = 100_000;
  let big: string;
  let partner: string;
  beforeAll(async () => {
    [big, partner] = [newUser("big"), newUser("p")];
    await seedMessages(big, partner, ROWS, "bulk chatter");
  }, 120_000);

  it(`each step stays within ERASURE_MAX_QUERIES (${env.ERASURE_MAX_QUERIES}): measured on one step run directly`, async () => {
    const counted = countingD1(env.DB);
    const budget = erasureBudgetOf(env);
    const other = newUser("probe");
    const total = 10 * ERASURE_CHUNK + 10; // more than one step removes at 60 queries (8 chunks)
    await seedMessages(other, partner, total);
    await env.DB.prepare(
      "INSERT INTO erasures (user_id, status, removed, requested_by, started_at, updated_at) VALUES (?, 'running', 0, 'test', 'now', 'now')",
    )
      .bind(other)
      .run();
    const first = await eraseStep(dbOf(counted.d1), env, other, budget);
    expect(counted.queries()).toBeLessThanOrEqual(budget);
    expect(first.status).toBe("running");
    expect(first.removed + first.remaining).toBe(total);
    const second = countingD1(env.DB);
    const done = await eraseStep(dbOf(second.d1), env, other, budget);
    expect(second.queries()).toBeLessThanOrEqual(budget);
    expect(done).toEqual({ user_id: other, removed: total, remaining: 0, status: "done" });
  });

  it("the call answers running with its progress, the object's alarms finish it, and a call meanwhile reports (and continues) it", async () => {
    const first = await json(await erase(big));
    expect(first.status).toBe("running");
    expect(first.removed).toBeGreaterThan(0);
    expect(first.removed + first.remaining).toBe(ROWS);

    const stub = env.USER_ERASURE.getByName(big);
    let steps = 1;
    let midway: { removed: number; remaining: number } | null = null;
    while (await runDurableObjectAlarm(stub)) {
      steps++;
      if (steps === 10) {
        midway = await json(await erase(big)); // reports the progress, and runs a step itself
        expect(midway).toMatchObject({ status: "running" });
        steps++;
      }
      if (steps > 200) throw new Error("the erasure did not finish");
    }
    expect(midway && midway.removed + midway.remaining).toBe(ROWS);
    expect(steps).toBeGreaterThanOrEqual(Math.floor(ROWS / (8 * ERASURE_CHUNK))); // at most 8 chunks a step at 60 queries
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", big)).toBe(0);
    expect(await json(await erase(big))).toEqual({ user_id: big, removed: ROWS, remaining: 0, status: "done" });
    expect(
      await env.DB.prepare("SELECT status, removed, finished_at IS NOT NULL AS finished FROM erasures WHERE user_id = ?").bind(big).first(),
    ).toEqual({ status: "done", removed: ROWS, finished: 1 });
  }, 180_000);
});
