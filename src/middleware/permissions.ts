import { createMiddleware } from "hono/factory";
import { adminWithPermissions } from "../db/admins";
import type { Permission } from "../db/schema";
import type { AppEnv } from "../env";
import { AppError } from "../errors";
import { type AuditEvent, type AuditScope, recordAudit } from "../services/audit";

function scopeOf(
  c: { req: { header(name: string): string | undefined }; get(key: "requestId"): string },
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
    action,
    written: false,
  };
}

const deny = (message: string) => new AppError("forbidden", message);

/**
 * /api/admin/*: the caller must be an ACTIVE admin row in D1, read on this very request (never a
 * token claim), so a demotion or deactivation bites on the next call. Refusals are audited too.
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
    await next();
  });

/**
 * One admin route: checks its permission and makes sure the call leaves exactly one audit row.
 * Mutations write theirs in the same batch as the change (via `c.var.audit`); every other
 * outcome (reads, refusals, failures) is recorded here after the handler.
 */
export const requirePermission = (permission: Permission, action: string, target?: (params: Record<string, string>) => AuditEvent) =>
  createMiddleware<AppEnv>(async function requirePermission(c, next) {
    const admin = c.var.admin;
    const scope = scopeOf(c, { adminId: admin.id, email: admin.email, role: admin.role }, action);
    c.set("audit", scope);
    const targetOf = () => target?.(c.req.param() as Record<string, string>) ?? {};
    if (!admin.permissions.includes(permission)) {
      await recordAudit(c.var.db, scope, {
        ...targetOf(),
        outcome: "denied",
        statusCode: 403,
        severity: "warning",
        details: { permission },
      });
      throw deny(`Requires the ${permission} permission`);
    }
    await next();
    if (!scope.written) {
      const status = c.res.status;
      await recordAudit(c.var.db, scope, {
        ...targetOf(),
        outcome: status < 400 ? "success" : "failed",
        statusCode: status,
        severity: status >= 500 ? "critical" : status >= 400 ? "warning" : "info",
        details: { ...auditDetailsOf(c.req.url), ...(c.error && { error: c.error instanceof AppError ? c.error.code : "internal" }) },
      });
    }
  });

/** Reads are recorded with the filters they used (query string), which is what an auditor asks. */
function auditDetailsOf(url: string): Record<string, unknown> {
  const query = Object.fromEntries(new URL(url).searchParams);
  return Object.keys(query).length ? { query } : {};
}
