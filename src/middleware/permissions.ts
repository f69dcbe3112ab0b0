import { waitUntil } from "cloudflare:workers";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { adminWithPermissions } from "../db/admins";
import type { Permission } from "../db/schema";
import type { AppEnv } from "../env";
import { AppError, errorCodeOf } from "../errors";
import { contentDigest } from "../lib/content-digest";
import { type AuditEvent, type AuditScope, recordAudit, recordThrottled } from "../services/audit";
import { sealSoon } from "../services/audit-chain";
import { limitBody } from "./body";

/** Stored request text is cut to this many characters: a probe cannot write an unbounded row. */
const MAX_STORED = 256;
const clip = (s: string) => (s.length > MAX_STORED ? s.slice(0, MAX_STORED) : s);

/** The path and method as an audit row stores them (the path cut to MAX_STORED, and said so). */
const requestLine = (c: Context<AppEnv>) => ({
  method: c.req.method,
  path: clip(c.req.path),
  ...(c.req.path.length > MAX_STORED && { path_truncated: true }),
});

function scopeOf(c: Context<AppEnv>, actor: AuditScope["actor"], action: string): AuditScope {
  return {
    actor,
    request: {
      // Set by Cloudflare on every request (a client cannot forge it there); absent locally.
      ip: c.req.header("cf-connecting-ip") ?? null,
      userAgent: c.req.header("user-agent")?.slice(0, 512) ?? null,
      requestId: c.get("requestId") ?? null,
      clientRequestId: c.req.header("x-request-id")?.slice(0, MAX_STORED) ?? null,
    },
    action,
    written: false,
  };
}

const deny = (message: string) => new AppError("forbidden", message);

/** Refused admin calls per caller (ADMIN_REFUSAL_LIMITER): one minute, like the binding's period. */
const REFUSAL_WINDOW_S = 60;
const throttledError = () =>
  new AppError("rate_limited", "Too many refused admin calls; try again later", undefined, { "Retry-After": String(REFUSAL_WINDOW_S) });
const windowStartOf = (now: number) => new Date(now - (now % (REFUSAL_WINDOW_S * 1000))).toISOString();

/** True once the caller is past their allowance of refused admin calls. */
async function overRefusalLimit(c: Context<AppEnv>): Promise<boolean> {
  const { success } = await c.env.ADMIN_REFUSAL_LIMITER.limit({ key: c.var.userId });
  return !success;
}

/** The request's own waitUntil; the runtime's when the app runs without one (a test's `app.request`). */
function keepAlive(c: Context<AppEnv>, work: Promise<unknown>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    waitUntil(work);
  }
}

/**
 * /api/admin/*: the caller must be an ACTIVE admin row in D1, read on this very request (never a
 * token claim), so a demotion or deactivation bites on the next call. Every admin call then leaves
 * exactly one audit row, whatever ends it: a mutation writes its row in the same batch as the change
 * (via `c.var.audit`); reads, refusals, validation errors, 413s and unknown paths are recorded here.
 * The one exception is a caller past their allowance of refusals: 429, and one row per window.
 * Afterwards the sealer is poked (not awaited) to chain the row in.
 */
export const requireAdmin = () =>
  createMiddleware<AppEnv>(async function requireAdmin(c, next) {
    try {
      await guarded(c, next);
    } finally {
      keepAlive(c, sealSoon(c.env));
    }
  });

async function guarded(c: Context<AppEnv>, next: () => Promise<void>): Promise<void> {
  const db = c.var.db;
  const admin = await adminWithPermissions(db, c.var.userId);
  if (!admin?.active) {
    const scope = scopeOf(c, { adminId: c.var.userId, email: admin?.email ?? null, role: admin?.role ?? null }, "admin.access");
    const door = { ...requestLine(c), reason: admin ? "inactive" : "not_admin" };
    if (await overRefusalLimit(c)) {
      const event = { outcome: "denied", statusCode: 429, severity: "warning", details: { ...door, error: "rate_limited" } } as const;
      await recordThrottled(db, scope, event, windowStartOf(Date.now()));
      throw throttledError();
    }
    await recordAudit(db, scope, { outcome: "denied", statusCode: 403, severity: "warning", details: door });
    throw deny("Admin access required");
  }
  c.set("admin", admin);
  // Until a route claims the call (requirePermission), it is one that matched no admin route.
  const scope = scopeOf(c, { adminId: admin.id, email: admin.email, role: admin.role }, "admin.unknown_route");
  c.set("audit", scope);
  await next();
  if (scope.written) return;
  const outcome = await outcomeOf(c, scope);
  if (outcome.statusCode === 429) await recordThrottled(db, scope, outcome, windowStartOf(Date.now()));
  else await recordAudit(db, scope, outcome);
}

/** One admin route: names the audited action and target, checks the role's permission, then limits the body. */
export const requirePermission = (permission: Permission, action: string, target?: (params: Record<string, string>) => AuditEvent) =>
  createMiddleware<AppEnv>(async function requirePermission(c, next) {
    const scope = c.var.audit;
    scope.action = action;
    scope.target = target?.(c.req.param() as Record<string, string>);
    if (!c.var.admin.permissions.includes(permission)) {
      scope.details = { permission };
      throw (await overRefusalLimit(c)) ? throttledError() : deny(`Requires the ${permission} permission`);
    }
    await limitBody(c, next);
  });

/**
 * Query parameters that carry words of messages (the full-text search): the row keeps their digest,
 * like it does for content, so erasing a message's text leaves no copy in the log of who searched it.
 */
const TEXT_PARAMS = new Set(["q"]);

/**
 * The query as an audit row stores it: at most 32 parameters, each name and value cut to MAX_STORED,
 * search words as `{content_sha256, content_length}`.
 */
async function storedQuery(url: string): Promise<Record<string, unknown> | null> {
  const entries = await Promise.all(
    [...new URL(url).searchParams]
      .slice(0, 32)
      .map(async ([k, v]) => [clip(k), TEXT_PARAMS.has(k) ? await contentDigest(v) : clip(v)] as const),
  );
  return entries.length ? Object.fromEntries(entries) : null;
}

/** How a call that wrote no row of its own ended, as its audit row tells it. */
async function outcomeOf(c: Context<AppEnv>, scope: AuditScope): Promise<AuditEvent> {
  const status = c.res.status;
  const error = errorCodeOf(status, c.error);
  const query = await storedQuery(c.req.url);
  return {
    ...scope.target,
    outcome: status === 403 || status === 429 ? "denied" : status < 400 ? "success" : "failed",
    statusCode: status,
    severity: status >= 500 ? "critical" : status >= 400 ? "warning" : "info",
    details: {
      // Reads are recorded with the filters they used, which is what an auditor asks.
      ...(query && { query }),
      ...(scope.action === "admin.unknown_route" && requestLine(c)),
      ...scope.details,
      ...(error && { error }),
    },
  };
}
