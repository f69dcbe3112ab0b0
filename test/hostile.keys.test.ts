/**
 * Keys named like built-in properties (`constructor`, `__proto__`, `toString`, …) are plain input:
 * on every route of the OpenAPI document, in bodies, queries and paths, and in socket frames,
 * they get the same clear 4xx as any other unknown key and change nothing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { conversationIdOf } from "../src/lib/ids";
import { as, call, count, createAdmin, json, newUser, pair, send, tokenFor } from "./helpers";
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
import { openSocket } from "./sockets";

const KEYS = [
  "constructor",
  "__proto__",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "isPrototypeOf",
  "propertyIsEnumerable",
  "toLocaleString",
  "__defineGetter__",
  "__lookupGetter__",
];

let ops: Operation[];
let alice: string;
let bob: string;
let admin: string;
let messageId: string;

beforeAll(async () => {
  ops = await operations();
  ({ alice, bob } = await pair(5));
  admin = await createAdmin("super_admin");
  messageId = (await send(alice, bob, "stays as it is")).id;
});

async function request(op: Operation, path: string, body?: string) {
  const token = op.public ? undefined : await tokenFor(op.admin ? admin : bob);
  return call(op.method.toUpperCase(), path, { token, body });
}

const realistic = (name: string) =>
  ({ message_id: messageId, partner_id: alice, user1_id: alice, user2_id: bob, admin_id: newUser("adm") })[name] ?? "x";

describe("prototype keys on every route", () => {
  it("the document lists the routes this test relies on", () => {
    const listed = ops.map((o) => `${o.method} ${o.template}`);
    expect(listed).toEqual(
      expect.arrayContaining([
        "post /api/v2/messages/send",
        "post /api/v2/messages/mark-read",
        "post /api/v2/messages/mark-delivered/{message_id}",
        "put /api/admin/admins/{admin_id}",
        "get /api/v2/messages/ws",
      ]),
    );
  });

  it.each(KEYS)("a top-level body key %s → 400 naming it as an unknown field, on every route that reads or refuses a body", async (key) => {
    const before = await digestOfTables();
    const audited = await auditRowsBy(admin);
    let adminCalls = 0;
    for (const op of ops.filter((o) => isWrite(o) && !o.rawBody)) {
      for (const value of ['""', "true", "{}"]) {
        const res = await request(op, fillPath(op.template, realistic), `{"${key}": ${value}}`);
        const where = `${op.method} ${op.template} {"${key}": ${value}}`;
        if (op.admin) adminCalls++;
        expect(res.status, where).toBe(400);
        const body = await json(res);
        expect(isContractError(body), where).toBe(true);
        expect(body.error.code, where).toBe("validation_failed");
        expect(Object.hasOwn(body.error.details, key), where).toBe(true);
        expect(body.error.details[key], where).toEqual(["unknown field"]);
      }
    }
    expect(await digestOfTables()).toEqual(before);
    expect(await auditRowsBy(admin)).toBe(audited + adminCalls);
  });

  it.each(KEYS)("a query key and path values named %s never answer 5xx, and change nothing", async (key) => {
    const before = await digestOfTables();
    const audited = await auditRowsBy(admin);
    let adminCalls = 0;
    for (const op of ops) {
      for (const path of [`${fillPath(op.template, realistic)}?${key}=1`, fillPath(op.template, () => key)]) {
        const res = await request(op, path, isWrite(op) ? `{"${key}": 1}` : undefined);
        if (op.admin) adminCalls++;
        const where = `${op.method} ${path}`;
        expect(res.status, where).toBeLessThan(500);
        if (res.status >= 400) expect(isContractError(await json(res)), where).toBe(true);
        else await res.body?.cancel();
      }
    }
    expect(await digestOfTables()).toEqual(before);
    expect(await auditRowsBy(admin)).toBe(audited + adminCalls);
  });

  it("nested keys: an attachment's __proto__ is an unknown field; metadata keeps such keys verbatim", async () => {
    const { alice: sender, bob: receiver } = await pair(1);
    const attachment = '{"url":"https://x.example/a","mime_type":"image/png","size_bytes":1,"__proto__":{"admin":true}}';
    const refused = await as(sender).post(
      "/api/v2/messages/send",
      `{"receiver_id":"${receiver}","content":"x","attachments":[${attachment}]}`,
    );
    expect(refused.status).toBe(400);
    expect((await json(refused)).error.details).toEqual({ "attachments.0.__proto__": ["unknown field"] });

    const metadata = '{"__proto__":{"polluted":true},"constructor":"c","toString":1,"valueOf":[]}';
    const res = await as(sender).post("/api/v2/messages/send", `{"receiver_id":"${receiver}","content":"x","metadata":${metadata}}`);
    expect(res.status).toBe(201);
    const sent = await res.text();
    expect(sent).toContain(`"metadata":${metadata}`);
    // Stored as sent: the receiver reads the same keys back, and no object's prototype was touched.
    const history = await (await as(receiver).get(`/api/v2/messages/conversation/${sender}`)).text();
    expect(history).toContain(`"metadata":${metadata}`);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("prototype keys in socket frames", () => {
  it.each([
    ["conversation", () => ({ partner: alice })],
    ["inbox", () => ({})],
  ])("a %s socket answers each with an error event, applies nothing and stays open", async (kind, options) => {
    // Opening a socket records the visit (a conversation's: once per user and room) and its object's count, and nothing else.
    const before = await digestOfTables(SOCKET_WRITES);
    const scopesBefore = await presenceScopes();
    const visitsBefore = await count("SELECT 1 FROM room_visits WHERE user_id = ?", bob);
    // Bob is the receiver of messageId, so an accepted read would change it. Frames are rate-limited per
    // socket (a bucket of 20) and joins per minute: four keys (16 frames and a ping) per socket.
    for (let i = 0; i < KEYS.length; i += 4) {
      const socket = await openSocket(bob, options());
      await socket.drain();
      const frames = KEYS.slice(i, i + 4).flatMap((key) => [
        `{"type":"read","message_ids":["${messageId}"],"${key}":1}`,
        `{"${key}":{"type":"read","message_ids":["${messageId}"]}}`,
        `{"type":"${key}"}`,
        `{"type":"ack","message_ids":{"${key}":"${messageId}"}}`,
      ]);
      for (const frame of frames) socket.send(frame);
      const events = await socket.drain();
      expect(events).toEqual(frames.map(() => ({ type: "error", code: "validation_failed", message: expect.any(String) })));
      expect(socket.closed).toBeNull();
      socket.close();
    }
    expect(await digestOfTables(SOCKET_WRITES)).toEqual(before);
    expect(await count("SELECT 1 FROM room_visits WHERE user_id = ?", bob)).toBe(visitsBefore + (kind === "conversation" ? 1 : 0));
    const scope = kind === "conversation" ? conversationIdOf(bob, alice) : `inbox:${bob}`;
    expect(await presenceScopes()).toEqual([...new Set([...scopesBefore, scope])].sort());
  });
});
