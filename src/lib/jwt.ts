import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify, SignJWT } from "jose";

export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export type JwtConfig = {
  /** HS256 secret for local development and tests. */
  secret?: string;
  /** Production: an identity provider's JWKS (RS256 / ES256). Takes precedence over `secret`. */
  jwksUrl?: string;
  issuer: string;
  audience: string;
};

export class TokenError extends Error {}

// One remote key set per URL and isolate: jose caches the keys and refetches on an unknown `kid`.
const keySets = new Map<string, JWTVerifyGetKey>();

function remoteKeys(url: string): JWTVerifyGetKey {
  let keys = keySets.get(url);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    keySets.set(url, keys);
  }
  return keys;
}

/**
 * Verifies a bearer token and returns its subject (the user id) and expiry. Only the algorithms of
 * the configured mode are accepted, so `alg: none` and algorithm confusion fail like a bad signature.
 */
export async function verifyToken(token: string, config: JwtConfig): Promise<{ userId: string; expiresAt: number }> {
  const options = { issuer: config.issuer, audience: config.audience, requiredClaims: ["exp", "sub"], clockTolerance: 5 };
  const key = config.jwksUrl ? remoteKeys(config.jwksUrl) : hsKey(config);
  const algorithms = config.jwksUrl ? ["RS256", "ES256"] : ["HS256"];
  let sub: string | undefined;
  let exp: number | undefined;
  try {
    // The overloads of jwtVerify split on the key's type; both branches verify the same way.
    ({
      payload: { sub, exp },
    } =
      typeof key === "function"
        ? await jwtVerify(token, key, { ...options, algorithms })
        : await jwtVerify(token, key, { ...options, algorithms }));
  } catch (err) {
    // An identity provider that is down is our outage (500), not the client's bad token (401).
    if (!(err instanceof errors.JOSEError) || err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) throw err;
    throw new TokenError(err instanceof Error ? err.message : "invalid token");
  }
  if (!sub || !USER_ID_PATTERN.test(sub)) throw new TokenError("sub must be 1-64 characters of [A-Za-z0-9_-]");
  return { userId: sub, expiresAt: (exp ?? 0) * 1000 };
}

/** Signs a local HS256 token, for the token CLI and the dev sign-in route. */
export async function signToken(userId: string, config: JwtConfig, ttlSeconds = 3600): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(hsKey(config));
}

function hsKey(config: JwtConfig): Uint8Array {
  // A short secret is a misconfiguration, not a client error: it surfaces as a 500 and a log line.
  if (!config.secret || config.secret.length < 32) throw new Error("JWT_SECRET must be set and at least 32 characters");
  return new TextEncoder().encode(config.secret);
}
