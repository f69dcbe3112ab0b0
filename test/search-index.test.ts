/**
 * The full-text index is filled after the send: a new message only joins `messages_fts_pending`, and
 * the indexer (before every search or export with `q`, and the minute's Cron Trigger) moves pending
 * rows into `messages_fts`. What a moderator can find never lags what is committed, and the index
 * stays consistent through hard deletes of rows indexed or not.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { indexPending, indexPendingStatements } from "../src/db/search-index";
import { EVERY_MINUTE, HOURLY, runScheduledJobs } from "../src/scheduled";
import { catchUpSearchIndex } from "../src/services/search-index";
import { as, createAdmin, db, json, pair, planOf, send } from "./helpers";

const pending = async () => Number(await env.DB.prepare("SELECT COUNT(*) AS n FROM messages_fts_pending").first("n"));
const indexed = async (word: string) =>
  Number(await env.DB.prepare("SELECT COUNT(*) AS n FROM messages_fts WHERE messages_fts MATCH ?").bind(`"${word}"`).first("n"));
const integrity = () => env.DB.prepare("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')").run();

describe("the search index is filled after the send", () => {
  it("a send only queues its message for the index; a search catches the index up first and finds it", async () => {
    const { alice, bob } = await pair(5);
    const mod = await createAdmin("moderator");
    await runScheduledJobs(env, new Date(), EVERY_MINUTE); // start from an index that is up to date
    const sent = await send(alice, bob, "a freshly sent zebrafish");
    expect(await indexed("zebrafish")).toBe(0); // the send wrote no index entry
    expect(await pending()).toBe(1);
    const found = await json(await as(mod).get("/api/admin/messages/search?q=zebrafish"));
    expect(found.messages.map((m: { id: string }) => m.id)).toEqual([sent.id]);
    expect(await pending()).toBe(0);
    expect(await indexed("zebrafish")).toBe(1);
    await integrity();
  });

  it("an export with q catches up too", async () => {
    const { alice, bob } = await pair(5);
    const analyst = await createAdmin("analyst");
    const sent = await send(alice, bob, "an exported narwhal");
    const res = await as(analyst).get("/api/admin/messages/export?format=ndjson&q=narwhal");
    const rows = (await res.text())
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l).id);
    expect(rows).toEqual([sent.id]);
  });

  it("a hard delete of a message not indexed yet leaves the index untouched and consistent; of an indexed one removes it", async () => {
    const { alice, bob } = await pair(5);
    const root = await createAdmin("super_admin");
    await runScheduledJobs(env, new Date(), EVERY_MINUTE);
    const early = await send(alice, bob, "quokka never indexed");
    expect((await as(root).del(`/api/admin/messages/${early.id}/hard-delete`)).status).toBe(200);
    expect(await pending()).toBe(0);
    await integrity(); // an FTS 'delete' of tokens never added would fail this

    const late = await send(alice, bob, "quokka indexed first");
    await catchUpSearchIndex(db, 1);
    expect(await indexed("quokka")).toBe(1);
    expect((await as(root).del(`/api/admin/messages/${late.id}/hard-delete`)).status).toBe(200);
    expect(await indexed("quokka")).toBe(0);
    await integrity();
  });

  it("the minute's Cron Trigger indexes what is pending; the hourly one leaves it", async () => {
    const { alice, bob } = await pair(5);
    await runScheduledJobs(env, new Date(), EVERY_MINUTE);
    await send(alice, bob, "an axolotl at noon");
    await runScheduledJobs(env, new Date(), HOURLY);
    expect(await indexed("axolotl")).toBe(0);
    await runScheduledJobs(env, new Date(), EVERY_MINUTE);
    expect(await indexed("axolotl")).toBe(1);
    expect(await pending()).toBe(0);
  });

  it("catches up in batches of 1 000 rows, oldest first, each row once, and says when some remain", async () => {
    await runScheduledJobs(env, new Date(), EVERY_MINUTE);
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
       INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, attachments, metadata, credits_cost, created_at, updated_at)
       SELECT 'msg_idx_' || i, 'idx_a:idx_b', i, 'idx_a', 'idx_b', 'batched okapi ' || i, '[]', '{}', 1, '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z' FROM n`,
    ).run();
    expect(await pending()).toBe(2500);
    expect(await catchUpSearchIndex(db, 2)).toEqual({ indexed: 2000, pending: true });
    expect(await indexPending(db)).toEqual({ indexed: 500, more: false });
    expect(await indexed("okapi")).toBe(2500);
    await integrity();
  });

  it("each indexer statement walks a primary key, never the message table", async () => {
    const [copy, remove, more] = indexPendingStatements(db, 1000);
    const plans = await Promise.all([planOf(copy), planOf(remove), planOf(more)]);
    const text = plans.flat().join("\n");
    expect(text).toMatch(/SEARCH m USING INTEGER PRIMARY KEY \(rowid=\?\)/);
    expect(text).toMatch(/SEARCH messages_fts_pending USING INTEGER PRIMARY KEY \(rowid=\?\)/);
    // The list is read in pk order along its own rowid (a LIMIT stops it), and the messages never scanned.
    const scans = plans.flat().filter((d) => /^SCAN /.test(d));
    expect(scans.filter((d) => !/^SCAN (messages_fts_pending\b|CONSTANT ROW|\(subquery-\d+\))/.test(d))).toEqual([]);
  });
});
