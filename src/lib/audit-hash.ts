/**
 * The audit chain's hash, shared by the Worker and the admin CLI (so it has no imports).
 * A row's hash covers every stored field but `pk` and the hash itself, in this fixed order,
 * including the previous row's hash: changing or removing any row breaks every later link.
 * It is an HMAC keyed with AUDIT_HMAC_KEY, a secret D1 never holds: someone who can write the
 * database (even drop its triggers) still cannot forge a chain that verifies.
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

export const MIN_AUDIT_KEY_LENGTH = 32;

const importKey = (secret: string) =>
  crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);

/** Imported once per isolate and secret. */
const keys = new Map<string, ReturnType<typeof importKey>>();

function hmacKey(secret: string | undefined): ReturnType<typeof importKey> {
  if (!secret || secret.length < MIN_AUDIT_KEY_LENGTH) {
    throw new Error(`AUDIT_HMAC_KEY must be set to at least ${MIN_AUDIT_KEY_LENGTH} characters`);
  }
  let key = keys.get(secret);
  if (!key) {
    key = importKey(secret);
    keys.set(secret, key);
  }
  return key;
}

export async function auditHash(r: HashedAuditFields, secret: string | undefined): Promise<string> {
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
  const digest = await crypto.subtle.sign("HMAC", await hmacKey(secret), new TextEncoder().encode(JSON.stringify(fields)));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
