/** Attachment settings read from env (`ATTACHMENT_*` vars), validated once per distinct value. */
import { isSniffable, type SniffableType } from "./media-sniff";

/** What a message of this attachment must be: the message type that matches its MIME type. */
export type AttachmentKind = "image" | "video" | "audio" | "file";
const KINDS: AttachmentKind[] = ["image", "video", "audio", "file"];

export function kindOf(mimeType: string): AttachmentKind {
  const top = mimeType.split("/")[0];
  return top === "image" || top === "video" || top === "audio" ? top : "file";
}

export type AttachmentLimits = {
  types: SniffableType[];
  maxBytes: Record<AttachmentKind, number>;
  uploadTtlSeconds: number;
  ticketTtlSeconds: number;
};

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a whole number >= 1, got "${raw}"`);
  return n;
}

function parseTypes(raw: string): SniffableType[] {
  const types = raw
    .split(",")
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
  const unknown = types.filter((t) => !isSniffable(t));
  if (unknown.length) throw new Error(`ATTACHMENT_TYPES lists types the server cannot verify: ${unknown.join(", ")}`);
  return types as SniffableType[];
}

/** `image=10485760,video=52428800,...`: every kind must be given. */
function parseMaxBytes(raw: string): Record<AttachmentKind, number> {
  const entries = raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => p.split("=").map((s) => s.trim()));
  const limits = Object.fromEntries(entries.map(([kind = "", bytes = ""]) => [kind, positiveInt(`ATTACHMENT_MAX_BYTES ${kind}`, bytes)]));
  for (const kind of KINDS) if (!limits[kind]) throw new Error(`ATTACHMENT_MAX_BYTES has no limit for "${kind}"`);
  return limits as Record<AttachmentKind, number>;
}

const cache = new Map<string, AttachmentLimits>();

export function attachmentLimitsOf(env: Env): AttachmentLimits {
  const key = [env.ATTACHMENT_TYPES, env.ATTACHMENT_MAX_BYTES, env.ATTACHMENT_UPLOAD_TTL_SECONDS, env.ATTACHMENT_TICKET_TTL_SECONDS].join(
    "|",
  );
  let limits = cache.get(key);
  if (!limits) {
    limits = {
      types: parseTypes(env.ATTACHMENT_TYPES),
      maxBytes: parseMaxBytes(env.ATTACHMENT_MAX_BYTES),
      uploadTtlSeconds: positiveInt("ATTACHMENT_UPLOAD_TTL_SECONDS", env.ATTACHMENT_UPLOAD_TTL_SECONDS),
      ticketTtlSeconds: positiveInt("ATTACHMENT_TICKET_TTL_SECONDS", env.ATTACHMENT_TICKET_TTL_SECONDS),
    };
    cache.set(key, limits);
  }
  return limits;
}
