/**
 * One Web Push request: the payload encrypted for the subscription (RFC 8291, `aes128gcm`) and
 * signed for the push service (RFC 8292, VAPID). Nothing here knows about messages or users.
 *
 * Encryption is @block65/webcrypto-web-push's `encryptNotification` (Web Crypto only, pads every
 * record to 4096 octets so the length says nothing about the text). The VAPID JWT is signed with
 * jose, our JWT library: the package's own `vapidHeaders` refuses any endpoint that is not https,
 * and local push receivers (DEV_AUTH) listen on plain http://127.0.0.1.
 */
import { encryptNotification } from "@block65/webcrypto-web-push";
import { base64url, importJWK, SignJWT } from "jose";

export type Urgency = "very-low" | "low" | "normal" | "high";

export type PushTarget = { endpoint: string; p256dh: string; auth: string };

export type PushOptions = {
  /** Seconds the push service keeps the message for an offline device (RFC 8030 §5.2). */
  ttl: number;
  urgency: Urgency;
  /** Replaces a message of the same topic still waiting at the push service (RFC 8030 §5.4). */
  topic?: string;
};

export type Vapid = { publicKey: string; subject: string; signingKey: CryptoKey };

/** RFC 8292 §2: the JWT must expire within 24 hours; 12 leaves room for clock skew. */
const VAPID_JWT_SECONDS = 12 * 3600;

/** RFC 8030 §5.4: a topic is at most 32 characters of the URL- and filename-safe base64 alphabet. */
export const TOPIC_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** base64url (with or without `=` padding) to bytes, or null when it is not base64url. */
export function bytesOfBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) return null;
  try {
    return base64url.decode(text.replace(/=+$/, ""));
  } catch {
    return null;
  }
}

/** A 65-byte uncompressed point (0x04 ‖ x ‖ y) that really lies on P-256; Web Crypto checks the curve. */
export async function isP256Point(bytes: Uint8Array): Promise<boolean> {
  if (bytes.byteLength !== 65 || bytes[0] !== 0x04) return false;
  try {
    await crypto.subtle.importKey("raw", new Uint8Array(bytes), { name: "ECDH", namedCurve: "P-256" }, false, []);
    return true;
  } catch {
    return false;
  }
}

/**
 * The VAPID key pair in the form browsers and every Web Push library use: the public key as the
 * base64url uncompressed point (what `PushManager.subscribe` takes as `applicationServerKey`), the
 * private key as the base64url 32-byte scalar. Throws a message naming the setting that is wrong.
 */
export async function importVapid(publicKey: string, privateKey: string, subject: string): Promise<Vapid> {
  const point = bytesOfBase64Url(publicKey);
  if (!point || !(await isP256Point(point))) throw new Error("VAPID_PUBLIC_KEY must be a base64url uncompressed P-256 point (65 bytes)");
  const scalar = bytesOfBase64Url(privateKey);
  if (scalar?.byteLength !== 32) throw new Error("VAPID_PRIVATE_KEY must be a base64url P-256 private key (32 bytes)");
  if (!/^(mailto:|https:\/\/)/.test(subject)) throw new Error("VAPID_SUBJECT must be a mailto: or https: URL (RFC 8292 §2.1)");
  const jwk = {
    kty: "EC",
    crv: "P-256",
    x: base64url.encode(point.slice(1, 33)),
    y: base64url.encode(point.slice(33)),
    d: base64url.encode(scalar),
  };
  let signingKey: CryptoKey;
  try {
    // Web Crypto refuses a JWK whose private scalar does not match its point (test/push.lib.test.ts).
    signingKey = (await importJWK(jwk, "ES256")) as CryptoKey;
  } catch {
    throw new Error("VAPID_PRIVATE_KEY does not belong to VAPID_PUBLIC_KEY");
  }
  return { publicKey: base64url.encode(point), subject, signingKey };
}

/** `Authorization: vapid t=<JWT>, k=<public key>` for the endpoint's push service (RFC 8292 §3). */
export async function vapidAuthorization(endpoint: string, vapid: Vapid, now = Date.now()): Promise<string> {
  const jwt = await new SignJWT({})
    .setProtectedHeader({ typ: "JWT", alg: "ES256" })
    .setAudience(new URL(endpoint).origin)
    .setSubject(vapid.subject)
    .setExpirationTime(Math.floor(now / 1000) + VAPID_JWT_SECONDS)
    .sign(vapid.signingKey);
  return `vapid t=${jwt}, k=${vapid.publicKey}`;
}

/** The POST to the subscription's endpoint, ready for `fetch`. */
export async function pushRequest(target: PushTarget, payload: string, vapid: Vapid, options: PushOptions): Promise<Request> {
  if (options.topic !== undefined && !TOPIC_PATTERN.test(options.topic)) throw new Error("Topic must be 1-32 base64url characters");
  const body = await encryptNotification(
    { endpoint: target.endpoint, expirationTime: null, keys: { p256dh: target.p256dh, auth: target.auth } },
    new TextEncoder().encode(payload),
  );
  const headers: Record<string, string> = {
    Authorization: await vapidAuthorization(target.endpoint, vapid),
    "Content-Encoding": "aes128gcm",
    "Content-Type": "application/octet-stream",
    TTL: String(options.ttl),
    Urgency: options.urgency,
  };
  if (options.topic) headers.Topic = options.topic;
  return new Request(target.endpoint, { method: "POST", headers, body });
}
