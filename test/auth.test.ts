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
  ["POST", "/api/v2/attachments"],
  ["PUT", "/api/v2/attachments/att_x"],
  ["GET", "/api/v2/attachments/att_x"],
  ["POST", "/api/v2/attachments/att_x/ticket"],
  ["GET", "/api/admin/attachments/att_x"],
];

/** An `alg: none` token: the claims, no signature. */
function unsigned(claims: object): string {
  const b64 = (o: object) => btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
}

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
  ["alg none", async () => unsigned({ sub: user, iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 })],
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
  afterEach(() => vi.unstubAllGlobals());

  type Claims = { alg?: "RS256" | "ES256"; key?: CryptoKey; kid?: string; iss?: string; aud?: string; exp?: number | null };
  let providers = 0;

  /**
   * A fresh identity provider with its own keys at its own JWKS URL: src/lib/jwt.ts keeps one key set
   * per URL for the isolate's life, so a provider sharing a URL would be verified with older keys.
   */
  async function identityProvider() {
    const url = `https://idp-${++providers}-${crypto.randomUUID()}.pairly.test/.well-known/jwks.json`;
    const rsa = await generateKeyPair("RS256", { extractable: true });
    const ec = await generateKeyPair("ES256", { extractable: true });
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
    ];
    // The identity provider is outside our system: its JWKS endpoint is the one thing stubbed.
    const realFetch = globalThis.fetch;
    const fetched: string[] = [];
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
      const target = input instanceof Request ? input.url : String(input);
      if (target === url) {
        fetched.push(target);
        return Response.json({ keys });
      }
      return realFetch(input, init);
    });
    /** A valid token by default; each option changes exactly one thing. */
    const sign = (sub: string, c: Claims = {}) => {
      const alg = c.alg ?? "RS256";
      const jwt = new SignJWT({})
        .setProtectedHeader({ alg, kid: c.kid ?? (alg === "RS256" ? "rsa-1" : "ec-1") })
        .setSubject(sub)
        .setIssuer(c.iss ?? env.JWT_ISSUER)
        .setAudience(c.aud ?? env.JWT_AUDIENCE);
      if (c.exp !== null) jwt.setExpirationTime(c.exp ?? Math.floor(Date.now() / 1000) + 600);
      return jwt.sign(c.key ?? (alg === "RS256" ? rsa.privateKey : ec.privateKey));
    };
    const request = (token: string) =>
      app.request(`${BASE}/api/v2/credits/balance`, { headers: { authorization: `Bearer ${token}` } }, { ...env, JWT_JWKS_URL: url });
    /** Both algorithms with this provider's own keys: 200 as the subject. */
    const expectAccepted = async (sub: string) => {
      for (const alg of ["RS256", "ES256"] as const) {
        const res = await request(await sign(sub, { alg }));
        expect(res.status, alg).toBe(200);
        expect(await json(res), alg).toEqual({ user_id: sub, balance: 0 });
      }
    };
    return { url, fetched, sign, request, expectAccepted };
  }
  type Idp = Awaited<ReturnType<typeof identityProvider>>;

  it("accepts RS256 and ES256 tokens signed by the provider's keys, fetched once from JWT_JWKS_URL", async () => {
    const idp = await identityProvider();
    const sub = newUser("jwks");
    await idp.expectAccepted(sub);
    expect(idp.fetched).toEqual([idp.url]); // one fetch serves both tokens: the key set is reused, not refetched per request
  });

  const now = () => Math.floor(Date.now() / 1000);
  const REJECTED: [string, (idp: Idp, sub: string) => Promise<string>][] = [
    [
      "an RS256 token signed by a foreign key under the provider's kid",
      async (idp, sub) => idp.sign(sub, { alg: "RS256", key: (await generateKeyPair("RS256")).privateKey }),
    ],
    [
      "an ES256 token signed by a foreign key under the provider's kid",
      async (idp, sub) => idp.sign(sub, { alg: "ES256", key: (await generateKeyPair("ES256")).privateKey }),
    ],
    ["a kid the provider never published", (idp, sub) => idp.sign(sub, { kid: "rsa-2" })],
    ["a wrong audience", (idp, sub) => idp.sign(sub, { aud: "other-api" })],
    ["a wrong issuer", (idp, sub) => idp.sign(sub, { alg: "ES256", iss: "someone-else" })],
    ["an expired token", (idp, sub) => idp.sign(sub, { exp: now() - 120 })],
    ["a token without exp", (idp, sub) => idp.sign(sub, { exp: null })],
    ["a subject outside [A-Za-z0-9_-]", (idp) => idp.sign("bad sub!")],
    ["HS256 signed with the local JWT_SECRET", (_idp, sub) => tokenFor(sub)],
    ["alg none", async (_idp, sub) => unsigned({ sub, iss: env.JWT_ISSUER, aud: env.JWT_AUDIENCE, exp: now() + 600 })],
  ];

  it.each(REJECTED)("refuses %s with 401, while the provider's valid tokens pass", async (_name, make) => {
    const idp = await identityProvider();
    const sub = newUser("jwks");
    await idp.expectAccepted(sub); // the same provider, keys and claims: only the one difference below
    const res = await idp.request(await make(idp, sub));
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    expect(res.headers.get("www-authenticate")).toContain("Bearer");
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
