import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type ExportedJWKSCache,
  errors,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
  jwksCache,
  jwtVerify,
  SignJWT,
} from "jose";

export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export type JwtConfig = {
  /** HS256 secret for local development and tests. */
  secret?: string;
  /** Production: an identity provider's JWKS (RS256 / ES256). Takes precedence over `secret`. */
  jwksUrl?: string;
  issuer: string;
  audience: string;
};

/** The token is not acceptable: the client's problem (401). */
export class TokenError extends Error {}

/** The identity provider's keys could not be had, and none were ever fetched: our outage (503), not the client's. */
export class KeysUnavailableError extends Error {}

/** After a failed JWKS fetch, the last good keys serve alone this long before the provider is asked again. */
export const JWKS_RETRY_AFTER_MS = 30_000;
/** After a failed first fetch (no keys yet), requests answer 503 this long before one asks again. */
export const JWKS_NO_KEYS_RETRY_MS = 5_000;

/** Errors that say something about the token (unknown kid, unsupported alg), not about the provider. */
const isTokenProblem = (err: unknown) =>
  err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported;

/**
 * One provider's keys for the isolate's life. jose fetches, caches (10 minutes) and refetches on an
 * unknown `kid`; it writes each good key set into `cache` (its `jwksCache` option). When a fetch fails
 * (an error status, a body that is not a key set, a timeout, the network), the last good set keeps
 * verifying: a provider's bad minute must not sign every user out. Only with no good set ever is it 503.
 */
class ProviderKeys {
  /** Empty until the first good fetch; jose fills it in (`ExportedJWKSCache`) after each one. */
  private readonly cache: JWKSCacheInput = {};
  private readonly remote: JWTVerifyGetKey;
  private failedAt = Number.NEGATIVE_INFINITY;
  private lastGood?: { jwks: JSONWebKeySet; keys: JWTVerifyGetKey };

  constructor(url: string) {
    this.remote = createRemoteJWKSet(new URL(url), { timeoutDuration: 5000, cooldownDuration: 30_000, [jwksCache]: this.cache });
  }

  private fallback(): JWTVerifyGetKey | undefined {
    const jwks = "jwks" in this.cache ? (this.cache as ExportedJWKSCache).jwks : undefined;
    if (!jwks) return undefined;
    if (this.lastGood?.jwks !== jwks) this.lastGood = { jwks, keys: createLocalJWKSet(jwks) };
    return this.lastGood.keys;
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const fallback = this.fallback();
    const sinceFailure = Date.now() - this.failedAt;
    if (fallback && sinceFailure < JWKS_RETRY_AFTER_MS) return fallback(header, token);
    // With nothing to fall back on, requests still ask, but not all at once: one try per few seconds.
    if (!fallback && sinceFailure < JWKS_NO_KEYS_RETRY_MS) throw new KeysUnavailableError("The identity provider's keys are unavailable");
    try {
      return await this.remote(header, token);
    } catch (err) {
      if (isTokenProblem(err)) throw err;
      this.failedAt = Date.now();
      // Written like lib/log.ts does (not imported: the Node CLIs load this file, and only it, unbundled).
      const reason = err instanceof Error ? err.message : String(err);
      console.error(JSON.stringify({ level: "error", event: "jwks.fetch_failed", error: reason, servingLastGood: Boolean(fallback) }));
      if (fallback) return fallback(header, token);
      throw new KeysUnavailableError("The identity provider's keys are unavailable", { cause: err });
    }
  };
}

const providers = new Map<string, ProviderKeys>();

function remoteKeys(url: string): JWTVerifyGetKey {
  let keys = providers.get(url);
  if (!keys) {
    keys = new ProviderKeys(url);
    providers.set(url, keys);
  }
  return keys.getKey;
}

/**
 * Verifies a bearer token and returns its subject (the user id) and expiry. Only the algorithms of
 * the configured mode are accepted, so `alg: none` and algorithm confusion fail like a bad signature.
 */
export async function verifyToken(token: string, config: JwtConfig): Promise<{ userId: string; expiresAt: number }> {
  const options = { issuer: config.issuer, audience: config.audience, requiredClaims: ["exp", "sub"], clockTolerance: 5 };
  const key = config.jwksUrl ? remoteKeys(config.jwksUrl) : await hsKey(config);
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
    // An identity provider that is down is our outage (503), not the client's bad token (401).
    if (err instanceof KeysUnavailableError || !(err instanceof errors.JOSEError)) throw err;
    throw new TokenError(err.message);
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
    .sign(await hsKey(config));
}

/** The HMAC key of each secret, imported once per isolate (jose would import raw bytes on every call). */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const hsKeys = new Map<string, Promise<HmacKey>>();

function hsKey(config: JwtConfig): Promise<HmacKey> {
  // A short secret is a misconfiguration, not a client error: it surfaces as a 500 and a log line.
  const secret = config.secret;
  if (!secret || secret.length < 32) throw new Error("JWT_SECRET must be set and at least 32 characters");
  let key = hsKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    hsKeys.set(secret, key);
  }
  return key;
}
