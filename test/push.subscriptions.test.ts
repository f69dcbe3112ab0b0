/** The three push routes: the VAPID key, registering a device (validated, at most 20), removing one. */
import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { activeSubscriptionsQuery, evictionQuery, newsQuery, subscriptionQuery } from "../src/db/push";
import { as, BASE, call, db, json, newUser, planOf, tokenFor } from "./helpers";
import { newDevice, subscribed, subscriptionCount } from "./push";

const SUBSCRIPTIONS = "/api/v2/push/subscriptions";

type Row = {
  endpoint: string;
  id: string;
  user_id: string;
  p256dh: string;
  auth: string;
  expires_at: string | null;
  created_at: string;
  last_seen_at: string;
};
const rowOf = (endpoint: string) => env.DB.prepare("SELECT * FROM push_subscriptions WHERE endpoint = ?").bind(endpoint).first<Row>();
const allRows = async () => (await env.DB.prepare("SELECT * FROM push_subscriptions ORDER BY endpoint").all<Row>()).results;

/** A call through the app with some settings changed (e.g. DEV_AUTH off, as in production). */
async function postWith(overrides: Partial<Env>, userId: string, body: unknown) {
  return app.request(
    `${BASE}${SUBSCRIPTIONS}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(userId)}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    },
    { ...env, ...overrides },
  );
}

describe("GET /api/v2/push/vapid-public-key", () => {
  it("answers the configured key: a base64url uncompressed P-256 point for applicationServerKey", async () => {
    const res = await as(newUser()).get("/api/v2/push/vapid-public-key");
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toEqual({ public_key: env.VAPID_PUBLIC_KEY });
    const point = base64url.decode(body.public_key);
    expect(point.byteLength).toBe(65);
    expect(point[0]).toBe(4);
  });
});

describe("POST /api/v2/push/subscriptions", () => {
  it("stores a new device (201), and the same device posted again is a refresh (200) with its new keys", async () => {
    const bob = newUser("bob");
    const device = await newDevice();
    const first = await as(bob).post(SUBSCRIPTIONS, { endpoint: device.endpoint, keys: device.keys, expirationTime: null });
    expect(first.status).toBe(201);
    const created = await json(first);
    expect(created).toEqual({ endpoint: device.endpoint, created_at: expect.any(String), expires_at: null });
    const stored = await rowOf(device.endpoint);
    expect(stored).toMatchObject({ user_id: bob, p256dh: device.keys.p256dh, auth: device.keys.auth, created_at: created.created_at });

    const rotated = await newDevice();
    const again = await as(bob).post(SUBSCRIPTIONS, { endpoint: device.endpoint, keys: rotated.keys });
    expect(again.status).toBe(200);
    expect(await json(again)).toEqual(created);
    const refreshed = await rowOf(device.endpoint);
    expect(refreshed).toMatchObject({ id: stored?.id, user_id: bob, p256dh: rotated.keys.p256dh, auth: rotated.keys.auth });
    expect((refreshed?.last_seen_at ?? "") >= (stored?.last_seen_at ?? "")).toBe(true);
    expect(await subscriptionCount(bob)).toBe(1);
  });

  it("a device posted by another user moves to them (it changed hands): 201, new id, gone from the first", async () => {
    const bob = newUser("bob");
    const carol = newUser("carol");
    const device = await subscribed(bob);
    const before = await rowOf(device.endpoint);
    const res = await as(carol).post(SUBSCRIPTIONS, { endpoint: device.endpoint, keys: device.keys });
    expect(res.status).toBe(201);
    const after = await rowOf(device.endpoint);
    expect(after?.user_id).toBe(carol);
    expect(after?.id).not.toBe(before?.id);
    expect(await subscriptionCount(bob)).toBe(0);
    expect(await subscriptionCount(carol)).toBe(1);
  });

  it("accepts padded base64url keys and stores them as browsers send them (unpadded), and a future expirationTime", async () => {
    const bob = newUser("bob");
    const device = await newDevice();
    const expires = Date.now() + 86_400_000;
    const res = await as(bob).post(SUBSCRIPTIONS, {
      endpoint: device.endpoint,
      keys: { p256dh: `${device.keys.p256dh}=`, auth: `${device.keys.auth}==` },
      expirationTime: expires,
    });
    expect(res.status).toBe(201);
    expect((await json(res)).expires_at).toBe(new Date(expires).toISOString());
    expect(await rowOf(device.endpoint)).toMatchObject({ p256dh: device.keys.p256dh, auth: device.keys.auth });
  });

  it("accepts https endpoints anywhere, and plain http to localhost while DEV_AUTH is on", async () => {
    const bob = newUser("bob");
    const { keys } = await newDevice();
    for (const endpoint of [
      "https://fcm.googleapis.com/fcm/send/abc:def",
      "https://updates.push.services.mozilla.com/wpush/v2/x",
      "http://localhost:9/p",
    ]) {
      expect((await as(bob).post(SUBSCRIPTIONS, { endpoint, keys })).status, endpoint).toBe(201);
    }
    expect(await subscriptionCount(bob)).toBe(3);
  });

  describe("every input error is a 400 in the contract's shape, and stores nothing", async () => {
    const good = await newDevice();
    const long = `https://push.example/${"a".repeat(2048)}`;
    const offCurve = (() => {
      const point = base64url.decode(good.keys.p256dh);
      point[64] = (point[64] ?? 0) ^ 1;
      return base64url.encode(point);
    })();
    const bytes = (n: number, first = 4) => base64url.encode(Uint8Array.from({ length: n }, (_, i) => (i === 0 ? first : i)));
    const cases: [string, unknown, string][] = [
      ["no endpoint", { keys: good.keys }, "endpoint"],
      ["an endpoint that is not a URL", { endpoint: "push me", keys: good.keys }, "endpoint"],
      ["an ftp endpoint", { endpoint: "ftp://push.example/x", keys: good.keys }, "endpoint"],
      ["plain http to another host", { endpoint: "http://push.example/x", keys: good.keys }, "endpoint"],
      ["an endpoint with credentials", { endpoint: "https://user:pw@push.example/x", keys: good.keys }, "endpoint"],
      ["an endpoint over 2048 characters", { endpoint: long, keys: good.keys }, "endpoint"],
      ["no keys", { endpoint: good.endpoint }, "keys"],
      ["no auth", { endpoint: good.endpoint, keys: { p256dh: good.keys.p256dh } }, "keys.auth"],
      ["p256dh of 64 bytes", { endpoint: good.endpoint, keys: { ...good.keys, p256dh: bytes(64) } }, "keys.p256dh"],
      ["a compressed p256dh (33 bytes)", { endpoint: good.endpoint, keys: { ...good.keys, p256dh: bytes(33, 2) } }, "keys.p256dh"],
      [
        "65 bytes that are not an uncompressed point",
        { endpoint: good.endpoint, keys: { ...good.keys, p256dh: bytes(65, 7) } },
        "keys.p256dh",
      ],
      ["a point off the P-256 curve", { endpoint: good.endpoint, keys: { ...good.keys, p256dh: offCurve } }, "keys.p256dh"],
      ["standard base64 (+ and /)", { endpoint: good.endpoint, keys: { ...good.keys, auth: "ab+/ab+/ab+/ab+/ab+/ab" } }, "keys.auth"],
      ["auth of 15 bytes", { endpoint: good.endpoint, keys: { ...good.keys, auth: bytes(15) } }, "keys.auth"],
      ["auth of 17 bytes", { endpoint: good.endpoint, keys: { ...good.keys, auth: bytes(17) } }, "keys.auth"],
      ["a key that is not a string", { endpoint: good.endpoint, keys: { ...good.keys, auth: 16 } }, "keys.auth"],
      ["an unknown field", { endpoint: good.endpoint, keys: good.keys, user_id: "someone" }, "user_id"],
      ["an unknown field in keys", { endpoint: good.endpoint, keys: { ...good.keys, secret: "x" } }, "keys.secret"],
      ["an expirationTime in the past", { endpoint: good.endpoint, keys: good.keys, expirationTime: Date.now() - 1 }, "expirationTime"],
      ["an expirationTime that is text", { endpoint: good.endpoint, keys: good.keys, expirationTime: "tomorrow" }, "expirationTime"],
      ["an array", [good.endpoint], "json"],
    ];
    it.each(cases)("%s", async (_name, body, field) => {
      const user = newUser("v");
      const res = await as(user).post(SUBSCRIPTIONS, body);
      expect(res.status).toBe(400);
      const error = (await json(res)).error;
      expect(error.code).toBe("validation_failed");
      expect(Object.keys(error.details)).toContain(field);
      expect(await subscriptionCount(user)).toBe(0);
      expect(await rowOf(good.endpoint)).toBeNull();
    });
  });

  it("refuses plain http (even to 127.0.0.1) when DEV_AUTH is off, as in production", async () => {
    const bob = newUser("bob");
    const device = await newDevice();
    const res = await postWith({ DEV_AUTH: "false" }, bob, { endpoint: device.endpoint, keys: device.keys });
    expect(res.status).toBe(400);
    expect((await json(res)).error.details).toEqual({ endpoint: ["must be an https URL"] });
    expect(await rowOf(device.endpoint)).toBeNull();
    expect((await postWith({ DEV_AUTH: "false" }, bob, { endpoint: "https://push.example/x", keys: device.keys })).status).toBe(201);
  });

  it("malformed JSON, another media type and a body over 64 KiB change nothing", async () => {
    const bob = newUser("bob");
    const token = await tokenFor(bob);
    const bad = await call("POST", SUBSCRIPTIONS, { token, body: "{not json" });
    expect(bad.status).toBe(400);
    const text = await call("POST", SUBSCRIPTIONS, { token, body: "endpoint=x", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    const device = await newDevice();
    const huge = await call("POST", SUBSCRIPTIONS, {
      token,
      body: { endpoint: device.endpoint, keys: device.keys, pad: "x".repeat(70_000) },
    });
    expect(huge.status).toBe(413);
    expect(await subscriptionCount(bob)).toBe(0);
  });

  it("a user keeps at most 20: the 21st replaces the one least recently seen, in the same write", async () => {
    const bob = newUser("bob");
    const devices = [];
    for (let i = 0; i < 20; i++) devices.push(await subscribed(bob));
    // Give them distinct ages (device 0 oldest), as if posted a minute apart.
    for (const [i, d] of devices.entries()) {
      await env.DB.prepare("UPDATE push_subscriptions SET last_seen_at = ? WHERE endpoint = ?")
        .bind(new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), d.endpoint)
        .run();
    }
    // Device 0 comes back (the browser re-posts it on start): device 1 is now the least recently seen.
    expect((await as(bob).post(SUBSCRIPTIONS, { endpoint: devices[0]?.endpoint, keys: devices[0]?.keys })).status).toBe(200);
    const newcomer = await newDevice();
    const res = await as(bob).post(SUBSCRIPTIONS, { endpoint: newcomer.endpoint, keys: newcomer.keys });
    expect(res.status).toBe(201);
    expect(await subscriptionCount(bob)).toBe(20);
    expect(await rowOf(devices[1]?.endpoint ?? "")).toBeNull();
    expect(await rowOf(devices[0]?.endpoint ?? "")).not.toBeNull();
    expect(await rowOf(newcomer.endpoint)).not.toBeNull();
  });

  it("25 devices registering at once leave exactly 20, each answered 201", async () => {
    const bob = newUser("bob");
    const devices = await Promise.all(Array.from({ length: 25 }, () => newDevice()));
    const statuses = await Promise.all(
      devices.map(async (d) => (await as(bob).post(SUBSCRIPTIONS, { endpoint: d.endpoint, keys: d.keys })).status),
    );
    expect(statuses).toEqual(Array(25).fill(201));
    expect(await subscriptionCount(bob)).toBe(20);
  });
});

describe("DELETE /api/v2/push/subscriptions", () => {
  it("removes the caller's device; again is a no-op; another user's device is never touched", async () => {
    const bob = newUser("bob");
    const carol = newUser("carol");
    const mine = await subscribed(bob);
    const hers = await subscribed(carol);
    const del = async (userId: string, endpoint: string) =>
      call("DELETE", SUBSCRIPTIONS, { token: await tokenFor(userId), body: { endpoint } });
    const first = await del(bob, mine.endpoint);
    expect(first.status).toBe(200);
    expect(await json(first)).toEqual({ endpoint: mine.endpoint, removed: true });
    expect(await rowOf(mine.endpoint)).toBeNull();

    const again = await del(bob, mine.endpoint);
    expect(await json(again)).toEqual({ endpoint: mine.endpoint, removed: false });

    const notMine = await del(bob, hers.endpoint);
    expect(notMine.status).toBe(200);
    expect(await json(notMine)).toEqual({ endpoint: hers.endpoint, removed: false });
    expect((await rowOf(hers.endpoint))?.user_id).toBe(carol);
  });

  it.each([
    ["no endpoint", {}],
    ["not a URL", { endpoint: "nope" }],
    ["an unknown field", { endpoint: "https://push.example/x", user_id: "carol" }],
  ])("%s → 400, nothing removed", async (_name, body) => {
    const bob = newUser("bob");
    await subscribed(bob);
    const res = await call("DELETE", SUBSCRIPTIONS, { token: await tokenFor(bob), body });
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("validation_failed");
    expect(await subscriptionCount(bob)).toBe(1);
  });
});

describe("authentication on every push route", () => {
  const routes: [string, string, unknown?][] = [
    ["GET", "/api/v2/push/vapid-public-key"],
    ["POST", SUBSCRIPTIONS, { endpoint: "https://push.example/x", keys: {} }],
    ["DELETE", SUBSCRIPTIONS, { endpoint: "https://push.example/x" }],
  ];
  it.each([
    ["no token", async () => undefined],
    ["a token signed with another secret", async () => tokenFor("mallory", { secret: "another-secret-0123456789abcdef-0123456789" })],
    ["an expired token", async () => tokenFor("mallory", { expiresIn: -60 })],
    ["garbage", async () => "not.a.jwt"],
  ])("%s → 401 on every route, and nothing stored", async (_name, token) => {
    const before = await allRows();
    for (const [method, path, body] of routes) {
      const res = await call(method, path, { token: await token(), body });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect((await json(res)).error.code).toBe("unauthorized");
    }
    expect(await allRows()).toEqual(before);
  });
});

describe("OpenAPI and query plans", () => {
  it("documents the three routes with every answer they give", async () => {
    const doc = await json(await call("GET", "/api/openapi.json"));
    const codes = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
    expect(codes("/api/v2/push/vapid-public-key", "get")).toEqual(["200", "401", "500", "503"]);
    expect(codes(SUBSCRIPTIONS, "post")).toEqual(["200", "201", "400", "401", "413", "415", "500", "503"]);
    expect(codes(SUBSCRIPTIONS, "delete")).toEqual(["200", "400", "401", "413", "415", "500", "503"]);
    expect(doc.components.schemas.PushSubscribeBody.additionalProperties).toBe(false);
  });

  it("every push query is an index lookup", async () => {
    const now = new Date().toISOString();
    const fanOut = (await planOf(activeSubscriptionsQuery(db, "u", now))).join("\n");
    expect(fanOut).toMatch(/SEARCH push_subscriptions USING INDEX push_subscriptions_user_seen_idx \(user_id=\?\)/);
    const one = (await planOf(subscriptionQuery(db, "psub_x", "u"))).join("\n");
    expect(one).toMatch(/SEARCH push_subscriptions USING INDEX push_subscriptions_id_unique \(id=\?\)/);
    const news = (await planOf(newsQuery(db, "a:b", 3))).join("\n");
    expect(news).toMatch(/SEARCH conversations USING INDEX sqlite_autoindex_conversations_1 \(id=\?\)/);
    expect(news).toMatch(/SEARCH messages USING INDEX messages_conversation_seq_unique \(conversation_id=\? AND seq=\?\)/);
    const evict = await planOf(evictionQuery(db, "u", "https://push.example/x", 20));
    expect(evict.join("\n")).toMatch(/push_subscriptions_user_seen_idx \(user_id=\?\)/);
    expect(evict.some((d) => /^SCAN push_subscriptions\b(?!.*USING)/.test(d))).toBe(false);
  });
});
