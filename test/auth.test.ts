import { env, exports } from "cloudflare:workers";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import { BASE, call, json, newUser, tokenFor } from "./helpers";

/** Every authenticated route of the contract (admin routes too: auth comes before permissions). */
const ROUTES: [string, string][] = [
  ["POST", "/api/v2/messages/send"],
  ["GET", "/api/v2/messages/conversation/someone"],
  ["GET", "/api/v2/messages/conversations"],
  ["POST", "/api/v2/messages/mark-delivered/msg_x"],
  ["POST", "/api/v2/messages/mark-read"],
  ["GET", "/api/v2/messages/unread-count"],
  ["DELETE", "/api/v2/messages/msg_x"],
  ["GET", "/api/v2/messages/stats"],
  ["GET", "/api/v2/messages/ws"],
  ["GET", "/api/v2/credits/balance"],
  ["GET", "/api/v2/credits/transactions"],
  ["POST", "/api/admin/credits/grant"],
  ["GET", "/api/admin/messages/search"],
  ["GET", "/api/admin/messages/conversation/a/b"],
  ["POST", "/api/admin/messages/msg_x/moderate"],
  ["GET", "/api/admin/messages/stats/overview"],
  ["GET", "/api/admin/messages/export"],
  ["DELETE", "/api/admin/messages/msg_x/hard-delete"],
  ["GET", "/api/admin/audit-logs"],
  ["GET", "/api/admin/audit-logs/verify"],
  ["GET", "/api/admin/admins"],
];

const user = newUser("auth");
const BAD_TOKENS: [string, () => Promise<string | null>][] = [
  ["no token", async () => null],
  ["a malformed token", async () => "not.a.jwt"],
  ["garbage", async () => "abc"],
  ["a bad signature", () => tokenFor(user, { secret: "another-secret-of-sufficient-length-xyz" })],
  ["an expired token", () => tokenFor(user, { expiresIn: -120 })],
  ["a token without exp", () => tokenFor(user, { expiresIn: null })],
  ["a wrong issuer", () => tokenFor(user, { iss: "someone-else" })],
  ["no issuer", () => tokenFor(user, { iss: null })],
  ["a wrong audience", () => tokenFor(user, { aud: "other-api" })],
  ["no subject", () => tokenFor(user, { sub: null })],
  ["a subject outside [A-Za-z0-9_-]", () => tokenFor(user, { sub: "bad sub!" })],
  ["a 65-character subject", () => tokenFor(user, { sub: "x".repeat(65) })],
  ["HS512 instead of HS256", () => tokenFor(user, { alg: "HS512" })],
  [
    "alg none",
    async () => {
      const b64 = (o: object) => btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
      const now = Math.floor(Date.now() / 1000);
      return `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: user, iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE, exp: now + 600 })}.`;
    },
  ],
];

describe("401 on every route", () => {
  it.each(BAD_TOKENS)("%s → 401 unauthorized on every route, in the contract's error shape", async (_name, make) => {
    const token = await make();
    for (const [method, path] of ROUTES) {
      const res = await call(method, path, {
        token: token ?? undefined,
        body: method === "POST" ? {} : undefined,
        headers: path.endsWith("/ws") ? { upgrade: "websocket" } : {},
      });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(await json(res), `${method} ${path}`).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
    }
  });

  it("a scheme other than Bearer is refused", async () => {
    const res = await exports.default.fetch(`${BASE}/api/v2/credits/balance`, { headers: { authorization: `Basic ${btoa("a:b")}` } });
    expect(res.status).toBe(401);
  });

  it("a valid token passes, and the subject is the user", async () => {
    const res = await call("GET", "/api/v2/credits/balance", { token: await tokenFor(user) });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ user_id: user, balance: 0 });
  });
});

describe("production path: JWT_JWKS_URL (RS256 / ES256)", () => {
  const JWKS_URL = "https://idp.pairly.test/.well-known/jwks.json";
  afterEach(() => vi.unstubAllGlobals());

  async function identityProvider() {
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const ec = await generateKeyPair("ES256", { extractable: true });
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
    ];
    // The identity provider is outside our system: its JWKS endpoint is the one thing stubbed.
    const realFetch = globalThis.fetch;
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url === JWKS_URL) return Response.json({ keys });
      return realFetch(input, init);
    });
    const sign = (alg: "RS256" | "ES256", key: CryptoKey, kid: string, sub: string, claims: { iss?: string; aud?: string } = {}) =>
      new SignJWT({})
        .setProtectedHeader({ alg, kid })
        .setSubject(sub)
        .setIssuer(claims.iss ?? env.JWT_ISSUER)
        .setAudience(claims.aud ?? env.JWT_AUDIENCE)
        .setExpirationTime("10m")
        .sign(key);
    return { rsa, ec, sign };
  }

  const request = (token: string) =>
    app.request(`${BASE}/api/v2/credits/balance`, { headers: { authorization: `Bearer ${token}` } }, { ...env, JWT_JWKS_URL: JWKS_URL });

  it("accepts RS256 and ES256 tokens signed by the provider's keys", async () => {
    const idp = await identityProvider();
    const sub = newUser("jwks");
    const rs = await request(await idp.sign("RS256", idp.rsa.privateKey, "rsa-1", sub));
    expect(rs.status).toBe(200);
    expect(await json(rs)).toEqual({ user_id: sub, balance: 0 });
    const es = await request(await idp.sign("ES256", idp.ec.privateKey, "ec-1", sub));
    expect(es.status).toBe(200);
  });

  it("refuses HS256 tokens (even with the local secret), foreign keys and wrong audiences", async () => {
    const idp = await identityProvider();
    const sub = newUser("jwks");
    expect((await request(await tokenFor(sub))).status).toBe(401);
    const stranger = await generateKeyPair("RS256");
    expect((await request(await idp.sign("RS256", stranger.privateKey, "rsa-1", sub))).status).toBe(401);
    expect((await request(await idp.sign("RS256", idp.rsa.privateKey, "rsa-1", sub, { aud: "nope" }))).status).toBe(401);
    expect((await request(await idp.sign("ES256", idp.ec.privateKey, "ec-1", sub, { iss: "evil" }))).status).toBe(401);
  });
});

describe("POST /api/dev/token (DEV_AUTH)", () => {
  it("returns a working token for a user when DEV_AUTH=true", async () => {
    const sub = newUser("dev");
    const res = await call("POST", "/api/dev/token", { body: { user_id: sub } });
    expect(res.status).toBe(200);
    const { token, user_id, expires_at } = await json(res);
    expect(user_id).toBe(sub);
    expect(new Date(expires_at).getTime()).toBeGreaterThan(Date.now());
    expect((await call("GET", "/api/v2/credits/balance", { token })).status).toBe(200);
  });

  it("rejects a bad user id with 400", async () => {
    expect((await call("POST", "/api/dev/token", { body: { user_id: "bad id" } })).status).toBe(400);
  });

  it("does not exist without DEV_AUTH: 404, whatever the body", async () => {
    const off = { ...env, DEV_AUTH: "false" };
    for (const body of [{ user_id: "someone" }, { nope: 1 }]) {
      const res = await app.request(
        `${BASE}/api/dev/token`,
        { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
        off,
      );
      expect(res.status).toBe(404);
      expect(await json(res)).toMatchObject({ error: { code: "not_found" } });
    }
  });
});
