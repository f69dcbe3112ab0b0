/**
 * The audit chain's hash, shared by the Worker and the admin CLI (so it has no imports).
 * A row's hash covers every stored field but `pk` and the hash itself, in this fixed order,
 * including the previous row's hash: changing or removing any row breaks every later link.
 */
export const GENESIS_HASH = "0".repeat(64);

export type HashedAuditFields = {
  id: string;
  createdAt: string;
  adminId: string;
  adminEmail?: string | null;
  adminRole?: string | null;
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  outcome: string;
  statusCode: number;
  severity: string;
  before?: string | null;
  after?: string | null;
  details?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  requestId?: string | null;
  prevHash: string;
};

export async function auditHash(r: HashedAuditFields): Promise<string> {
  const fields = [
    r.id,
    r.createdAt,
    r.adminId,
    r.adminEmail ?? null,
    r.adminRole ?? null,
    r.action,
    r.targetType ?? null,
    r.targetId ?? null,
    r.outcome,
    r.statusCode,
    r.severity,
    r.before ?? null,
    r.after ?? null,
    r.details ?? null,
    r.ip ?? null,
    r.userAgent ?? null,
    r.requestId ?? null,
    r.prevHash,
  ];
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(fields)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
