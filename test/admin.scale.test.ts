import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { EVERY_MINUTE, runScheduledJobs } from "../src/scheduled";
import { as, createAdmin, json } from "./helpers";

const ROWS = 100_000;
let analyst: string;
let mod: string;

/**
 * 100 000 messages in 1 000 conversations, written by SQL in one statement (each lands on the search
 * index's pending list), then indexed by the scheduled job, as a bulk import would be. Every 1 000th
 * message mentions "needle"; every 7th is deleted.
 */
beforeAll(async () => {
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
     INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, message_type, status, moderation_status,
                           attachments, metadata, credits_cost, is_deleted, created_at, updated_at)
     SELECT 'msg_scale_' || i, 'scale_a' || (i % 1000) || ':scale_b' || (i % 1000), i / 1000 + 1, 'scale_a' || (i % 1000), 'scale_b' || (i % 1000),
            CASE WHEN i % 1000 = 0 THEN 'a needle, in "the" haystack #' || i ELSE 'ordinary chatter number ' || i END,
            CASE i % 5 WHEN 0 THEN 'image' ELSE 'text' END, CASE i % 3 WHEN 0 THEN 'read' ELSE 'sent' END, 'pending',
            '[]', '{}', 1, CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END,
            strftime('%Y-%m-%dT%H:%M:%fZ', '2024-01-01', '+' || (i * 30) || ' seconds'), '2024-01-01T00:00:00.000Z'
     FROM n`,
  )
    .bind(ROWS)
    .run();
  await runScheduledJobs(env, new Date(), EVERY_MINUTE);
  expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM messages_fts_pending").first("n")).toBe(0);
  analyst = await createAdmin("analyst");
  mod = await createAdmin("moderator");
}, 120_000);

describe(`search and export over ${ROWS.toLocaleString("en")} messages`, () => {
  it("full-text search finds the 100 needles among them, with the right total and a small page", async () => {
    const res = await as(mod).get("/api/admin/messages/search?q=needle&include_deleted=true&limit=10");
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.total).toBe(100);
    expect(body.messages).toHaveLength(10);
    expect(body.messages[0].id).toBe("msg_scale_100000");
    const live = await json(await as(mod).get("/api/admin/messages/search?q=needle&limit=1"));
    expect(live.total).toBe(100 - Math.floor(100 / 7)); // every 7th needle (i % 7000 = 0) is deleted
  });

  it("combined filters and deep pages answer correctly", async () => {
    const body = await json(
      await as(mod).get("/api/admin/messages/search?sender_id=scale_a0&message_type=image&status=read&include_deleted=true&page=2&limit=5"),
    );
    // scale_a0 sent i = 1000k; image needs i % 5 = 0 (always), read needs i % 3 = 0: k % 3 = 0 → 33 of 100.
    expect(body.total).toBe(33);
    expect(body.messages).toHaveLength(5);
    const last = await json(await as(mod).get("/api/admin/messages/search?include_deleted=true&page=2000&limit=50"));
    expect(last.total).toBeGreaterThanOrEqual(ROWS);
    expect(last.messages).toHaveLength(50);
  });

  it("the export streams every matching row, page by page", async () => {
    const res = await as(analyst).get("/api/admin/messages/export?format=csv&include_deleted=true&from=2024-01-01&to=2024-12-31");
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    if (!reader) throw new Error("no body");
    const decoder = new TextDecoder();
    let lines = 0;
    let chunks = 0;
    let largest = 0;
    let tail = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      largest = Math.max(largest, value.byteLength);
      const text = tail + decoder.decode(value, { stream: true });
      const parts = text.split("\r\n");
      tail = parts.pop() ?? "";
      lines += parts.length;
    }
    expect(lines).toBe(1 + ROWS); // header + every row
    expect(chunks).toBeGreaterThan(ROWS / 500); // one chunk per keyset page, never the whole result at once
    expect(largest).toBeLessThan(256 * 1024);
  }, 120_000);
});
