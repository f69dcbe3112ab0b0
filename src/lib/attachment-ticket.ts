/**
 * Download tickets: `<exp>.<viewer>.<mac>`, where mac = HMAC-SHA256(ATTACHMENT_TICKET_KEY, attachment id,
 * viewer, exp). An `<img>` or `<video>` cannot send an Authorization header, so the URL carries this
 * instead. It proves only "this viewer asked for this attachment, until exp": the access rules are
 * still checked on every request, so a block or a delete bites while a ticket is still valid.
 */
import { USER_ID_PATTERN } from "./jwt";

const PURPOSE = "pairly.attachment-ticket.v1";
const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string): Promise<CryptoKey> {
  if (secret.length < 32) throw new Error("ATTACHMENT_TICKET_KEY must be at least 32 characters");
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    keys.set(secret, key);
  }
  return key;
}

const signedText = (attachmentId: string, viewerId: string, exp: number) =>
  encoder.encode(`${PURPOSE}\n${attachmentId}\n${viewerId}\n${exp}`);

const toBase64Url = (bytes: ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");

function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null; // 32 bytes, unpadded
  return Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (ch) => ch.charCodeAt(0));
}

export async function signTicket(secret: string, attachmentId: string, viewerId: string, expiresAt: Date): Promise<string> {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  const mac = await crypto.subtle.sign("HMAC", await keyOf(secret), signedText(attachmentId, viewerId, exp));
  return `${exp}.${viewerId}.${toBase64Url(mac)}`;
}

/** The viewer a ticket was issued to, or null if it is malformed, forged, for another attachment, or expired. */
export async function verifyTicket(secret: string, attachmentId: string, ticket: string, now = Date.now()): Promise<string | null> {
  const [expText = "", viewerId = "", macText = "", ...rest] = ticket.split(".");
  if (rest.length || !/^\d{1,12}$/.test(expText) || !USER_ID_PATTERN.test(viewerId)) return null;
  const mac = fromBase64Url(macText);
  if (!mac) return null;
  const exp = Number(expText);
  // verify() compares in constant time.
  const valid = await crypto.subtle.verify("HMAC", await keyOf(secret), new Uint8Array(mac), signedText(attachmentId, viewerId, exp));
  return valid && exp * 1000 > now ? viewerId : null;
}
