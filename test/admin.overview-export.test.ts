import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../src/app";
import { csvField } from "../src/services/search";
import { as, BASE, createAdmin, json, newUser, seedCredits, send, tokenFor } from "./helpers";

let analyst: string;
beforeAll(async () => {
  analyst = await createAdmin("analyst");
});

/** Moves messages to a fixed day, so a range isolates this test's data from the rest of the file. */
const backdate = (id: string, at: string) => env.DB.prepare("UPDATE messages SET created_at = ? WHERE id = ?").bind(at, id).run();

describe("GET /api/admin/messages/stats/overview", () => {
  it("totals by status, type and moderation, per-day volume with zero days, active senders and rates", async () => {
    const [a, b, c] = [newUser("a"), newUser("b"), newUser("c")];
    await seedCredits(a, 10);
    await seedCredits(b, 10);
    const m1 = await send(a, b, "1");
    const m2 = await send(a, b, "2", { message_type: "image" });
    const m3 = await send(b, a, "3");
    const m4 = await send(a, c, "4");
    await as(b).post("/api/v2/messages/mark-read", { message_ids: [m1.id] });
    await as(b).post(`/api/v2/messages/mark-delivered/${m2.id}`);
    await as(a).del(`/api/v2/messages/${m4.id}`);
    const mod = await createAdmin("moderator");
    await as(mod).post(`/api/admin/messages/${m3.id}/moderate`, { moderation_status: "flagged", reason: "x" });
    await backdate(m1.id, "2021-03-01T10:00:00.000Z");
    await backdate(m2.id, "2021-03-01T23:59:59.000Z");
    await backdate(m3.id, "2021-03-03T08:00:00.000Z");
    await backdate(m4.id, "2021-03-03T09:00:00.000Z");

    const res = await as(analyst).get("/api/admin/messages/stats/overview?from=2021-03-01&to=2021-03-03");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      range: { from: "2021-03-01T00:00:00.000Z", to: "2021-03-03T23:59:59.999Z" },
      totals: {
        messages: 4,
        deleted: 1,
        by_status: { sent: 2, delivered: 1, read: 1, failed: 0 },
        by_type: { text: 3, image: 1, video: 0, audio: 0, file: 0 },
        by_moderation_status: { pending: 3, approved: 0, flagged: 1, blocked: 0 },
      },
      per_day: [
        { date: "2021-03-01", messages: 2 },
        { date: "2021-03-02", messages: 0 },
        { date: "2021-03-03", messages: 2 },
      ],
      active_senders: 2,
      delivery_rate: 0.5,
      read_rate: 0.25,
    });
  });

  it("defaults to the last 30 days, counting exactly the messages in them", async () => {
    const [a, b] = [newUser("recent"), newUser("recent")];
    await seedCredits(a, 2);
    await send(a, b, "today");
    const old = await send(a, b, "long ago");
    await backdate(old.id, "2021-01-15T00:00:00.000Z");
    const body = await json(await as(analyst).get("/api/admin/messages/stats/overview"));
    const span = Date.parse(body.range.to) - Date.parse(body.range.from);
    expect(span).toBe(30 * 86_400_000);
    expect(Date.now() - Date.parse(body.range.to)).toBeLessThan(60_000); // the range ends now
    expect(body.per_day).toHaveLength(31); // both partial end days, zeros included
    const inRange = await env.DB.prepare("SELECT COUNT(*) AS n FROM messages WHERE created_at >= ? AND created_at <= ?")
      .bind(body.range.from, body.range.to)
      .first<{ n: number }>();
    expect(body.totals.messages).toBe(inRange?.n);
    expect(body.totals.messages).toBeGreaterThanOrEqual(1); // today's message, not the backdated one
    expect(body.per_day.reduce((sum: number, d: { messages: number }) => sum + d.messages, 0)).toBe(body.totals.messages);
  });

  it("rejects a reversed or over-long range", async () => {
    expect((await as(analyst).get("/api/admin/messages/stats/overview?from=2021-03-05&to=2021-03-01")).status).toBe(400);
    expect((await as(analyst).get("/api/admin/messages/stats/overview?from=2020-01-01&to=2022-01-01")).status).toBe(400);
  });

  it("is computed from the covering index, never the rows", async () => {
    const { planOf, db } = await import("./helpers");
    const { rangeTotals, perDay } = await import("../src/db/admin-messages");
    for (const q of [rangeTotals(db, "2021-01-01", "2021-02-01"), perDay(db, "2021-01-01", "2021-02-01")]) {
      expect((await planOf(q)).join("\n")).toMatch(
        /SEARCH messages USING COVERING INDEX messages_created_stats_idx \(created_at>\? AND created_at<\?\)/,
      );
    }
  });
});

describe("GET /api/admin/messages/export", () => {
  async function tricky() {
    const [a, b] = [newUser("exa"), newUser("exb")];
    await seedCredits(a, 10);
    const plain = await send(a, b, "plain words");
    const comma = await send(a, b, "one, two, three");
    const quote = await send(a, b, 'she said "hi"');
    const newline = await send(a, b, "line one\nline two\r\nline three");
    const formula = await send(a, b, '=HYPERLINK("http://evil")');
    const deleted = await send(a, b, "gone");
    await as(a).del(`/api/v2/messages/${deleted.id}`);
    return { a, b, plain, comma, quote, newline, formula, deleted };
  }

  /** A small RFC 4180 reader, for checking what a spreadsheet would see. */
  function parseCsv(text: string): string[][] {
    const rows: string[][] = [];
    let row: string[] = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") {
        row.push(field);
        field = "";
      } else if (ch === "\r" && text[i + 1] === "\n") {
        row.push(field);
        rows.push(row);
        row = [];
        field = "";
        i++;
      } else field += ch;
    }
    return rows;
  }

  it("CSV: an attachment, a header, and every comma, quote and newline round-trips", async () => {
    const w = await tricky();
    const res = await as(analyst).get(`/api/admin/messages/export?format=csv&sender_id=${w.a}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="pairly-messages-\d{8}T\d{6}Z\.csv"$/);
    const rows = parseCsv(await res.text());
    const header = rows[0] as string[];
    expect(header.slice(0, 4)).toEqual(["id", "conversation_id", "seq", "sender_id"]);
    const content = header.indexOf("content");
    const byId = new Map(rows.slice(1).map((r) => [r[0], r]));
    expect(rows).toHaveLength(1 + 5); // deleted excluded by default
    expect(byId.get(w.comma.id)?.[content]).toBe("one, two, three");
    expect(byId.get(w.quote.id)?.[content]).toBe('she said "hi"');
    expect(byId.get(w.newline.id)?.[content]).toBe("line one\nline two\r\nline three");
    expect(byId.get(w.plain.id)?.[content]).toBe("plain words");
    // A formula is neutralised for spreadsheets.
    expect(byId.get(w.formula.id)?.[content]).toBe('\'=HYPERLINK("http://evil")');
    expect(rows.every((r) => r.length === header.length)).toBe(true);
  });

  it("NDJSON: one full message per line, with include_deleted and the other filters", async () => {
    const w = await tricky();
    const res = await as(analyst).get(`/api/admin/messages/export?format=ndjson&sender_id=${w.a}&include_deleted=true`);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(/\.ndjson"$/);
    const lines = (await res.text())
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(6);
    expect(lines.find((m) => m.id === w.deleted.id)).toMatchObject({ is_deleted: true, content: "gone" });
    expect(lines.find((m) => m.id === w.newline.id).content).toBe("line one\nline two\r\nline three");
    const q = await as(analyst).get(`/api/admin/messages/export?format=ndjson&sender_id=${w.a}&q=three`);
    expect(
      (await q.text())
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l).id),
    ).toEqual([w.newline.id, w.comma.id]);
  });

  it("bad filters are a 400 before any streaming; an empty result is just the header", async () => {
    expect((await as(analyst).get("/api/admin/messages/export?format=xml")).status).toBe(400);
    expect((await as(analyst).get("/api/admin/messages/export?status=nope")).status).toBe(400);
    const empty = await as(analyst).get(`/api/admin/messages/export?sender_id=${newUser()}`);
    expect((await empty.text()).split("\r\n")).toEqual([expect.stringMatching(/^id,conversation_id,/), ""]);
  });

  it("csvField quotes exactly what RFC 4180 needs", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('a"b')).toBe('"a""b"');
    expect(csvField("a\nb")).toBe('"a\nb"');
    expect(csvField(" padded ")).toBe('" padded "');
    expect(csvField("+1 555")).toBe("'+1 555");
    expect(csvField("-=x,")).toBe(`"'-=x,"`);
    expect(csvField(null)).toBe("");
    expect(csvField(42)).toBe("42");
    expect(csvField(false)).toBe("false");
    expect(csvField([{ url: "https://x" }])).toBe('"[{""url"":""https://x""}]"');
  });
});

describe("long exports come in parts (EXPORT_MAX_QUERIES)", () => {
  const ROWS = 2_345;
  let sender: string;
  let expected: string[];
  beforeAll(async () => {
    sender = newUser("bulk");
    // Three rows share each created_at, so parts must break ties by pk to give every row exactly once.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
       INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, message_type, status, moderation_status,
                             attachments, metadata, credits_cost, is_deleted, created_at, updated_at)
       SELECT ?2 || '_m' || i, ?2 || ':' || ?2 || 'r', i, ?2, ?2 || 'r', 'bulk ' || i, 'text', 'sent', 'pending', '[]', '{}', 1, 0,
              strftime('%Y-%m-%dT%H:%M:%fZ', '2022-06-01', '+' || (i / 3) || ' seconds'), '2022-06-01T00:00:00.000Z'
       FROM n`,
    )
      .bind(ROWS, sender)
      .run();
    const { results } = await env.DB.prepare("SELECT id FROM messages WHERE sender_id = ? ORDER BY created_at DESC, pk DESC")
      .bind(sender)
      .all<{ id: string }>();
    expected = results.map((r) => r.id);
    expect(expected).toHaveLength(ROWS);
  });

  /** The Worker with a lower query budget, counting the queries each response runs on `messages`. */
  async function exportPart(path: string, maxQueries: number) {
    const queries: string[] = [];
    // Counts the statements on the messages table, on the binding and on the D1 session the app opens.
    const counting = <T extends D1Database | D1DatabaseSession>(inner: T): T =>
      new Proxy(inner, {
        get(target, prop) {
          if (prop === "prepare") {
            return (query: string) => {
              if (/from "messages"/i.test(query)) queries.push(query);
              return target.prepare(query);
            };
          }
          if (prop === "withSession") return (constraint: string) => counting((target as D1Database).withSession(constraint));
          const value = Reflect.get(target, prop);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const db = counting(env.DB);
    const res = await app.request(
      `${BASE}${path}`,
      { headers: { authorization: `Bearer ${await tokenFor(analyst)}` } },
      { ...env, DB: db, EXPORT_MAX_QUERIES: String(maxQueries) },
    );
    expect(res.status).toBe(200);
    const next = res.headers.get("x-export-next-cursor");
    const link = res.headers.get("link");
    const text = await res.text();
    return { next, link, text, queries: queries.length };
  }

  it.each(["ndjson", "csv"] as const)(
    "%s: parts of at most the budget, cursors known before streaming, every row exactly once",
    async (format) => {
      const budget = 3; // one boundary query + two pages of 500: at most 1 000 rows a part
      const first = `/api/admin/messages/export?format=${format}&sender_id=${sender}`;
      const seen: string[] = [];
      const sizes: number[] = [];
      let path: string | null = first;
      while (path) {
        const part = await exportPart(path, budget);
        expect(part.queries).toBeLessThanOrEqual(budget);
        const lines = part.text.split(format === "csv" ? "\r\n" : "\n").filter(Boolean);
        const rows = format === "csv" ? lines.slice(1) : lines;
        if (format === "csv") expect(lines[0]).toMatch(/^id,conversation_id,/); // every part is a file of its own
        const ids = rows.map((l) => (format === "csv" ? l.split(",")[0] : JSON.parse(l).id));
        seen.push(...ids);
        sizes.push(ids.length);
        if (part.next) {
          expect(part.link).toBe(`<${first}&cursor=${part.next}>; rel="next"`);
          path = `${first}&cursor=${part.next}`;
        } else {
          expect(part.link).toBeNull();
          path = null;
        }
      }
      expect(sizes).toEqual([1000, 1000, 345]);
      expect(seen).toEqual(expected); // all of them, once each, newest first across the parts
    },
  );

  it("an export that fits its budget is one part with no next cursor; a part ending exactly at the last row has none either", async () => {
    const whole = await exportPart(`/api/admin/messages/export?format=ndjson&sender_id=${sender}`, 6);
    expect(whole.next).toBeNull();
    expect(whole.text.split("\n").filter(Boolean)).toHaveLength(ROWS);
    // The first 500 rows (i = 1 … 500 are at most 166 s in) fill a budget of one page exactly: the part
    // ends on its last row without another query to learn that nothing follows, and names no next part.
    const exact = await exportPart(`/api/admin/messages/export?format=ndjson&sender_id=${sender}&to=2022-06-01T00:02:46.999Z`, 2);
    expect(exact.next).toBeNull();
    expect(exact.text.split("\n").filter(Boolean)).toHaveLength(500);
    expect(exact.queries).toBe(2);
  });

  it("a cursor the API did not issue is a 400 before any streaming", async () => {
    const res = await as(analyst).get(`/api/admin/messages/export?sender_id=${sender}&cursor=not-a-cursor`);
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: { code: "validation_failed", details: { cursor: expect.any(Array) } } });
  });
});
