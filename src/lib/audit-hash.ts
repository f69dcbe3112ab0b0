/**
 * The audit chain's seal. A seal's hash covers every stored field of its row but `pk`, in this fixed
 * order, and the previous seal's hash: changing or removing any sealed row breaks every later link.
 * It is an HMAC keyed with AUDIT_HMAC_KEY, a secret D1 never holds: someone who can write the
 * database (even drop its triggers) still cannot forge a chain that verifies.
 *
 * Each seal names its key (`key_id`), so the key can rotate: new seals use AUDIT_HMAC_KEY under
 * AUDIT_HMAC_KEY_ID, and verification finds older keys by id in AUDIT_HMAC_PREVIOUS_KEYS.
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
const KEY_ID = /^[A-Za-z0-9_.-]{1,32}$/;

/** The key that seals, and every key verification accepts, by id (the current one included). */
export type AuditKeyring = { currentId: string; secrets: ReadonlyMap<string, string> };

type KeyringSettings = { AUDIT_HMAC_KEY: string; AUDIT_HMAC_KEY_ID?: string; AUDIT_HMAC_PREVIOUS_KEYS?: string };

const keyError = (what: string) => new Error(`audit keys: ${what}`);

function checkedSecret(id: string, secret: unknown): string {
  if (!KEY_ID.test(id)) throw keyError(`key id "${id}" must be 1-32 of [A-Za-z0-9_.-]`);
  if (typeof secret !== "string" || secret.length < MIN_AUDIT_KEY_LENGTH) {
    throw keyError(`the key "${id}" must be at least ${MIN_AUDIT_KEY_LENGTH} characters`);
  }
  return secret;
}

/** Reads the keys from the environment; a misconfiguration throws, naming what is wrong (never a key). */
export function auditKeyringOf(env: KeyringSettings): AuditKeyring {
  const currentId = env.AUDIT_HMAC_KEY_ID || "k1";
  const secrets = new Map<string, string>();
  let previous: unknown = {};
  try {
    previous = JSON.parse(env.AUDIT_HMAC_PREVIOUS_KEYS?.trim() || "{}");
  } catch {
    throw keyError('AUDIT_HMAC_PREVIOUS_KEYS must be a JSON object {"<key id>": "<key>"}');
  }
  if (!previous || typeof previous !== "object" || Array.isArray(previous)) {
    throw keyError('AUDIT_HMAC_PREVIOUS_KEYS must be a JSON object {"<key id>": "<key>"}');
  }
  for (const [id, secret] of Object.entries(previous)) secrets.set(id, checkedSecret(id, secret));
  if (secrets.has(currentId)) throw keyError(`AUDIT_HMAC_PREVIOUS_KEYS must not hold the current key id "${currentId}"`);
  secrets.set(currentId, checkedSecret(currentId, env.AUDIT_HMAC_KEY));
  return { currentId, secrets };
}

const importKey = (secret: string) =>
  crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);

/** Imported once per isolate and secret. */
const keys = new Map<string, ReturnType<typeof importKey>>();

function hmacKey(secret: string): ReturnType<typeof importKey> {
  let key = keys.get(secret);
  if (!key) {
    key = importKey(secret);
    keys.set(secret, key);
  }
  return key;
}

export async function auditHash(r: HashedAuditFields, secret: string): Promise<string> {
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
