import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { adminWithPermissions } from "../db/admins";
import type { Permission } from "../db/schema";
import type { AppEnv } from "../env";
import { AppError, errorCodeOf } from "../errors";
import { type AuditEvent, type AuditScope, recordAudit } from "../services/audit";
import { limitBody } from "./body";

function scopeOf(
  c: { req: { header(name: string): string | undefined }; get(key: "requestId"): string; env: Env },
  actor: AuditScope["actor"],
  action: string,
): AuditScope {
  return {
    actor,
    request: {
      // Set by Cloudflare on every request (a client cannot forge it there); absent locally.
      ip: c.req.header("cf-connecting-ip") ?? null,
      userAgent: c.req.header("user-agent")?.slice(0, 512) ?? null,
      requestId: c.get("requestId") ?? null,
    },
    hmacKey: c.env.AUDIT_HMAC_KEY,
    action,
    written: false,
  };
}

const deny = (message: string) => new AppError("forbidden", message);

/**
 * /api/admin/*: the caller must be an ACTIVE admin row in D1, read on this very request (never a
 * token claim), so a demotion or deactivation bites on the next call. Every admin call then leaves
 * exactly one audit row, whatever ends it: a mutation writes its row in the same batch as the change
 * (via `c.var.audit`); reads, refusals, validation errors, 413s and unknown paths are recorded here.
 */
export const requireAdmin = () =>
  createMiddleware<AppEnv>(async function requireAdmin(c, next) {
    const db = c.var.db;
    const admin = await adminWithPermissions(db, c.var.userId);
    if (!admin?.active) {
      const scope = scopeOf(c, { adminId: c.var.userId, email: admin?.email ?? null, role: admin?.role ?? null }, "admin.access");
      await recordAudit(db, scope, {
        outcome: "denied",
        statusCode: 403,
        severity: "warning",
        details: { path: c.req.path, method: c.req.method, reason: admin ? "inactive" : "not_admin" },
      });
      throw deny("Admin access required");
    }
    c.set("admin", admin);
    // Until a route claims the call (requirePermission), it is one that matched no admin route.
    const scope = scopeOf(c, { adminId: admin.id, email: admin.email, role: admin.role }, "admin.unknown_route");
    c.set("audit", scope);
    await next();
    if (!scope.written) await recordAudit(db, scope, outcomeOf(c, scope));
  });

/** One admin route: names the audited action and target, checks the role's permission, then limits the body. */
export const requirePermission = (permission: Permission, action: string, target?: (params: Record<string, string>) => AuditEvent) =>
  createMiddleware<AppEnv>(async function requirePermission(c, next) {
    const scope = c.var.audit;
    scope.action = action;
    scope.target = target?.(c.req.param() as Record<string, string>);
    if (!c.var.admin.permissions.includes(permission)) {
      scope.details = { permission };
      throw deny(`Requires the ${permission} permission`);
    }
    await limitBody(c, next);
  });

/** How a call that wrote no row of its own ended, as its audit row tells it. */
function outcomeOf(c: Context<AppEnv>, scope: AuditScope): AuditEvent {
  const status = c.res.status;
  const error = errorCodeOf(status, c.error);
  const query = Object.fromEntries(new URL(c.req.url).searchParams);
  return {
    ...scope.target,
    outcome: status === 403 ? "denied" : status < 400 ? "success" : "failed",
    statusCode: status,
    severity: status >= 500 ? "critical" : status >= 400 ? "warning" : "info",
    details: {
      // Reads are recorded with the filters they used, which is what an auditor asks.
      ...(Object.keys(query).length && { query }),
      ...(scope.action === "admin.unknown_route" && { method: c.req.method, path: c.req.path }),
      ...scope.details,
      ...(error && { error }),
    },
  };
}
