import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { AppError } from "../errors";
import { JWKS_RETRY_AFTER_MS, KeysUnavailableError, TokenError, verifyToken } from "../lib/jwt";

/** Browsers cannot set headers on a WebSocket; they offer the token as a subprotocol instead. */
export const WS_PROTOCOL = "pairly.v1";
const WS_TOKEN_PREFIX = "bearer.";

export const jwtConfigOf = (env: Env) => ({
  secret: env.JWT_SECRET,
  jwksUrl: env.JWT_JWKS_URL || undefined,
  issuer: env.JWT_ISSUER,
  audience: env.JWT_AUDIENCE,
});

function tokenOf(req: Request): string | null {
  const header = req.headers.get("authorization");
  if (header) return /^Bearer\s+(\S+)$/i.exec(header)?.[1] ?? null;
  if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
    const offered =
      req.headers
        .get("sec-websocket-protocol")
        ?.split(",")
        .map((p) => p.trim()) ?? [];
    return offered.find((p) => p.startsWith(WS_TOKEN_PREFIX))?.slice(WS_TOKEN_PREFIX.length) ?? null;
  }
  return null;
}

const unauthorized = (message: string) => new AppError("unauthorized", message, undefined, { "WWW-Authenticate": 'Bearer realm="pairly"' });

/** Every /api route: a valid token or 401, before any handler (or WebSocket upgrade) runs. */
export const requireUser = () =>
  createMiddleware<AppEnv>(async function requireUser(c, next) {
    const token = tokenOf(c.req.raw);
    if (!token) throw unauthorized("Missing bearer token");
    try {
      const { userId, expiresAt } = await verifyToken(token, jwtConfigOf(c.env));
      c.set("userId", userId);
      c.set("tokenExpiresAt", expiresAt);
    } catch (err) {
      if (err instanceof TokenError) throw unauthorized("Invalid or expired token");
      if (err instanceof KeysUnavailableError) {
        throw new AppError("service_unavailable", "Sign-in is unavailable for a moment; retry shortly", undefined, {
          "Retry-After": String(JWKS_RETRY_AFTER_MS / 1000),
        });
      }
      throw err;
    }
    await next();
  });
