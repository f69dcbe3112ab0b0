/**
 * The project's own hostile-input run: property-based (fast-check) over every route of the app's
 * OpenAPI document (body, query and path) and every socket frame type. Whatever comes in, the answer
 * is a 4xx in the contract's shape (a read may answer 2xx), never a 5xx, and no table changes: every
 * write request carries something that must be refused, and each admin call adds exactly its one
 * audit row. The seed is printed; `FUZZ_SEED=<n> npx vitest run test/hostile.fuzz.test.ts` replays it.
 */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { conversationIdOf } from "../src/lib/ids";
import { call, count, createAdmin, indexNow, newUser, pair, send, tokenFor } from "./helpers";
import {
  auditRowsBy,
  digestOfTables,
  fillPath,
  isContractError,
  isWrite,
  type Operation,
  operations,
  presenceScopes,
  SOCKET_WRITES,
} from "./routes";
import { connect, type Event, type TestSocket } from "./sockets";

const HTTP_RUNS = 1400;
const FRAME_BATCHES = 80; // 5 to 15 frames each (a socket's bucket holds 20)
const seed = env.FUZZ_SEED ? Number(env.FUZZ_SEED) : Date.now() % 2_147_483_647;

const PROTO_KEYS = ["constructor", "__proto__", "toString", "valueOf", "hasOwnProperty", "__defineGetter__", "prototype"];

let ops: Operation[];
let user: string;
let admin: string;
let known: { messageIds: string[]; userIds: string[] };
const counts = { http: 0, frames: 0, admin: 0 };

beforeAll(async () => {
  console.log(`hostile fuzz: seed=${seed} (replay with FUZZ_SEED=${seed})`);
  ops = await operations();
  user = newUser("fz");
  admin = await createAdmin("super_admin");
  // Real rows for paths and frames to name: none of them belongs to the users the fuzz acts as.
  const { alice, bob } = await pair(3);
  const messageIds = [(await send(alice, bob, "fuzz target one")).id, (await send(alice, bob, "fuzz target two")).id];
  known = { messageIds, userIds: [alice, bob, admin, user] };
});

/** A cheap fingerprint of what a write would touch, checked after every write (the full digest brackets the run). */
async function fingerprint(): Promise<string> {
  const row = await env.DB.prepare(
    `SELECT (SELECT COUNT(*) || ':' || coalesce(MAX(updated_at), '') FROM messages) AS m,
            (SELECT COUNT(*) || ':' || coalesce(SUM(balance), 0) FROM credit_balances) AS b,
            (SELECT COUNT(*) FROM credit_transactions) AS t,
            (SELECT COUNT(*) || ':' || coalesce(MAX(last_seq), 0) || ':' || coalesce(MAX(last_activity_at), '') FROM conversations) AS c,
            (SELECT COUNT(*) || ':' || coalesce(MAX(updated_at), '') || ':' || coalesce(SUM(active), 0) FROM admins) AS a`,
  ).first();
  return JSON.stringify(row);
}

// ---- arbitraries -------------------------------------------------------------------------------

const hostileString = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(...PROTO_KEYS, "", " ", "..", "../admin", "%00", "\u0000", "null", "undefined", "NaN", "-1", "1e999", "0x10"),
  fc.constantFrom(
    '"unbalanced AND (',
    "a-b",
    "x:y",
    "NEAR(",
    "*",
    "😀".repeat(50),
    "x".repeat(300),
    "<script>",
    "'; DROP TABLE messages; --",
  ),
);

const idLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
  fc.constantFrom(...PROTO_KEYS.filter((k) => /^[A-Za-z0-9_-]+$/.test(k))),
  fc.constant("x".repeat(65)),
);

/** Timestamps as a client might get them wrong: offsets, years past 9999, impossible days. */
const dateLike = fc.oneof(
  fc
    .tuple(
      fc.integer({ min: 0, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: -24, max: 24 }),
      fc.integer({ min: 0, max: 60 }),
    )
    .map(([y, mo, d, h, oh, om]) => {
      const p = (n: number, w = 2) => String(Math.abs(n)).padStart(w, "0");
      return `${p(y, 4)}-${p(mo)}-${p(d)}T${p(h)}:00:00${oh < 0 ? "-" : "+"}${p(oh)}:${p(om)}`;
    }),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom("9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+23:59", "2026-02-30", "2026-13-01", "yesterday"),
);

/** Cursors: base64url of JSON a client made up, or plain junk. */
const cursorLike = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => btoa(unescape(encodeURIComponent(JSON.stringify(v) ?? "null"))).replaceAll("=", "")),
  fc.base64String({ maxLength: 40 }),
  hostileString,
);

const numberLike = fc.oneof(fc.integer({ min: -5, max: 200_000 }).map(String), fc.constantFrom("1.5", "1e3", "-0", "", "100abc", " 7"));

function queryValueFor(name: string) {
  const specific =
    name === "from" || name === "to"
      ? dateLike
      : name === "cursor" || name === "before"
        ? cursorLike
        : name === "limit" || name === "skip" || name === "page" || name === "since"
          ? numberLike
          : name.endsWith("_id")
            ? fc.oneof(idLike, fc.constantFrom(...known.userIds, ...known.messageIds))
            : hostileString;
  return fc.oneof(
    { weight: 3, arbitrary: specific },
    { weight: 1, arbitrary: hostileString },
    { weight: 1, arbitrary: fc.array(specific, { minLength: 2, maxLength: 3 }) },
  );
}

function queryFor(op: Operation) {
  const keys = fc.oneof(
    fc.constantFrom(...(op.queryParams.length ? op.queryParams : ["q"])),
    fc.constantFrom(...PROTO_KEYS),
    fc.string({ maxLength: 10 }),
  );
  return fc.array(
    keys.chain((k) => queryValueFor(k).map((v) => [k, v] as const)),
    { maxLength: 5 },
  );
}

function pathFor(op: Operation) {
  return fc
    .tuple(...op.pathParams.map(() => fc.oneof(idLike, hostileString, fc.constantFrom(...known.messageIds, ...known.userIds))))
    .map((values) => {
      const byName = new Map(op.pathParams.map((name, i) => [name, values[i] as string]));
      return fillPath(op.template, (name) => byName.get(name) ?? "x");
    });
}

const jsonish = fc.jsonValue({ maxDepth: 3 });
const objectBody = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      "receiver_id",
      "content",
      "message_ids",
      "user_id",
      "amount",
      "reason",
      "moderation_status",
      "email",
      "role",
      "active",
      "metadata",
      "attachments",
      "client_message_id",
      "message_type",
    ),
    fc.constantFrom(...PROTO_KEYS),
    fc.string({ maxLength: 12 }),
  ),
  fc.oneof(jsonish, hostileString),
  { maxKeys: 6 },
);

/**
 * A body every write route must refuse: not JSON, JSON that is not an object, or an object with a
 * key no schema has (all request schemas are strict, and routes without a body take none), which is
 * placed as raw text so that even `__proto__` arrives as a plain key.
 */
const refusedBody = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(
        objectBody,
        fc.oneof(
          fc.constantFrom(...PROTO_KEYS),
          fc.string({ minLength: 1, maxLength: 12 }).map((k) => `zz_${k}`),
        ),
        jsonish,
      )
      .map(([base, extraKey, extraValue]) => {
        const rest = JSON.stringify(base).slice(1);
        const extra = `${JSON.stringify(extraKey)}:${JSON.stringify(extraValue)}`;
        return `{${extra}${rest === "}" ? "}" : `,${rest}`}`;
      }),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).filter((t) => !/^\s*(\{\s*\})?\s*$/.test(t)) },
  { weight: 1, arbitrary: jsonish.filter((v) => typeof v !== "object" || v === null || Array.isArray(v)).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.constant(`{"content":"${"x".repeat(70 * 1024)}"}`) },
);

type Request = {
  op: Operation;
  path: string;
  query: (readonly [string, string | string[]])[];
  body?: string;
  contentType?: string;
  upgrade: boolean;
};

/** Every operation; admin ones at half weight (each writes its audit row, the slowest calls here). */
const requestArb = () =>
  fc.oneof(...ops.map((op) => ({ weight: op.admin ? 1 : 2, arbitrary: fc.constant(op) }))).chain((op) =>
    fc.record({
      op: fc.constant(op),
      path: pathFor(op),
      query: queryFor(op),
      body: isWrite(op) ? refusedBody : fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant("application/json") },
        {
          weight: 1,
          arbitrary: fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16", undefined),
        },
      ),
      upgrade: op.socket ? fc.boolean() : fc.constant(false),
    }),
  );

function urlOf(r: Request): string {
  const q = new URLSearchParams();
  for (const [k, v] of r.query) for (const one of Array.isArray(v) ? v : [v]) q.append(k, one);
  return q.size ? `${r.path}?${q}` : r.path;
}

/** The conversations whose rooms `userId` opened a socket in (room_visits), sorted. */
async function visitedBy(userId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT conversation_id FROM room_visits WHERE user_id = ? ORDER BY conversation_id")
    .bind(userId)
    .all<{ conversation_id: string }>();
  return results.map((r) => r.conversation_id);
}

async function perform(r: Request, tokens: { user: string; admin: string }): Promise<{ status: number; body: unknown; where: string }> {
  const headers: Record<string, string> = {};
  if (r.contentType) headers["content-type"] = r.contentType;
  if (r.upgrade) headers.upgrade = "websocket";
  const url = urlOf(r);
  const res = await call(r.op.method.toUpperCase(), url, {
    token: r.op.public ? undefined : r.op.admin ? tokens.admin : tokens.user,
    body: r.op.method === "get" ? undefined : r.body,
    headers,
  });
  const where = `${r.op.method} ${url} ${r.body?.slice(0, 200) ?? ""}`;
  if (res.status === 101) {
    res.webSocket?.accept();
    res.webSocket?.close(1000, "fuzz");
    return { status: 101, body: null, where };
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // a 2xx export (CSV), or the HTML page
  }
  return { status: res.status, body, where };
}

describe("hostile input, generated", () => {
  it(`${HTTP_RUNS} generated requests over every route of the OpenAPI document: 4xx in the contract's shape, never 5xx, nothing changed`, async () => {
    const tokens = { user: await tokenFor(user), admin: await tokenFor(admin) };
    // A search with q brings the index up to what is committed (a read's legitimate write): start from there.
    await indexNow();
    // A conversation socket that opens (101) records its visit, and any socket its object's count; nothing else may change.
    const before = await digestOfTables(SOCKET_WRITES);
    const visitsBefore = await visitedBy(user);
    const scopesBefore = await presenceScopes();
    const opened = new Set<string>();
    const openedScopes = new Set<string>();
    const baseline = await fingerprint();
    const auditedBefore = await auditRowsBy(admin);
    await fc.assert(
      fc.asyncProperty(requestArb(), async (r) => {
        counts.http++;
        if (r.op.admin) counts.admin++;
        const { status, body, where } = await perform(r, tokens);
        const partner = new URL(urlOf(r), "http://x").searchParams.get("partner_id");
        if (status === 101 && partner) opened.add(conversationIdOf(user, partner));
        if (status === 101) openedScopes.add(partner ? conversationIdOf(user, partner) : `inbox:${user}`);
        expect(status, where).toBeLessThan(500);
        if (isWrite(r.op)) expect(status, where).toBeGreaterThanOrEqual(400);
        if (status >= 400) expect(isContractError(body), `${where} → ${JSON.stringify(body).slice(0, 300)}`).toBe(true);
        if (isWrite(r.op)) expect(await fingerprint(), where).toBe(baseline);
      }),
      { seed, numRuns: HTTP_RUNS },
    );
    expect(await digestOfTables(SOCKET_WRITES)).toEqual(before);
    expect(await visitedBy(user)).toEqual([...new Set([...visitsBefore, ...opened])].sort());
    expect(await presenceScopes()).toEqual([...new Set([...scopesBefore, ...openedScopes])].sort());
    // Every admin call, refused or not, left exactly one audit row.
    expect(await auditRowsBy(admin)).toBe(auditedBefore + counts.admin);
  }, 180_000);

  const frameArb = () =>
    fc.oneof(
      fc.record({ type: fc.constant("typing"), state: fc.oneof(fc.constantFrom("start", "stop"), hostileString, jsonish) }),
      fc.record({
        type: fc.constantFrom("ack", "read"),
        message_ids: fc.oneof(fc.array(fc.oneof(idLike, hostileString, fc.constantFrom(...known.messageIds)), { maxLength: 120 }), jsonish),
      }),
      fc.record({ type: fc.constant("ping") }),
      fc.record({ type: fc.oneof(hostileString, fc.constantFrom(...PROTO_KEYS)) }),
      fc
        .tuple(fc.constantFrom("typing", "ack", "read", "ping"), fc.constantFrom(...PROTO_KEYS, "status", "message_id"), jsonish)
        .map(([type, key, value]) => `{"type":"${type}","${key}":${JSON.stringify(value)}}`),
      objectBody,
      jsonish,
      fc.string({ maxLength: 60 }),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => bytes.buffer as ArrayBuffer),
      fc.constant({ type: "read", message_ids: [known.messageIds[0] ?? "m"], pad: "x".repeat(5000) }),
    );

  it(`${FRAME_BATCHES} sockets, each sent a generated batch of frames of every type: only error events (never internal), the socket stays open, nothing changed`, async () => {
    // Opening a conversation socket records its visit (one row, checked below), any socket its object's
    // count (one row each: every socket here is a fresh user's); frames change nothing.
    const before = await digestOfTables(SOCKET_WRITES);
    const visitsBefore = await count("SELECT 1 FROM room_visits");
    const scopesBefore = await count("SELECT 1 FROM socket_presence");
    let conversationSockets = 0;
    const baseline = await fingerprint();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(frameArb(), { minLength: 5, maxLength: 15 }), async (inbox, frames) => {
        // A fresh pair each time: join limits are per user and room, and these users have no messages of their own.
        const [me, partner] = [newUser("fzs"), newUser("fzs")];
        if (!inbox) conversationSockets++;
        const socket: TestSocket = await connect(me, inbox ? {} : { partner });
        await socket.first(); // sync
        for (const frame of frames) {
          counts.frames++;
          socket.ws.send(frame instanceof ArrayBuffer ? frame : typeof frame === "string" ? frame : JSON.stringify(frame));
        }
        const events: Event[] = await socket.drain();
        const where = JSON.stringify(frames).slice(0, 500);
        for (const e of events) {
          expect(["error", "pong", "unread", "presence", "message.status"], where).toContain(e.type);
          if (e.type === "error") {
            expect(["validation_failed", "payload_too_large", "rate_limited"], `${where} → ${JSON.stringify(e)}`).toContain(e.code);
            expect(typeof e.message, where).toBe("string");
          }
        }
        expect(
          events.filter((e) => e.type === "message.status"),
          where,
        ).toEqual([]);
        expect(socket.closed, where).toBeNull();
        socket.close();
        expect(await fingerprint(), where).toBe(baseline);
      }),
      { seed, numRuns: FRAME_BATCHES },
    );
    expect(await digestOfTables(SOCKET_WRITES)).toEqual(before);
    expect(await count("SELECT 1 FROM room_visits")).toBe(visitsBefore + conversationSockets);
    expect(await count("SELECT 1 FROM socket_presence")).toBe(scopesBefore + FRAME_BATCHES);
  }, 120_000);

  it("ran at least 2 000 generated inputs", () => {
    console.log(`hostile fuzz: ${counts.http} requests (${counts.admin} admin), ${counts.frames} frames, seed=${seed}`);
    expect(counts.http + counts.frames).toBeGreaterThanOrEqual(2000);
  });
});
