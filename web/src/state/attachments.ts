/**
 * Attachments on the client: what kind a file is, the text a message carries when it has no caption,
 * uploads (announce, then PUT with progress, each step done once), and the short-lived ticket URLs
 * that let `<img>`, `<video>` and `<audio>` load a file without an Authorization header.
 */
import { ApiError, api, call, type Message, type StoredAttachment, uploadBytes } from "../api";

export type Kind = "image" | "video" | "audio" | "file";

/** The server's default allowed types (ATTACHMENT_TYPES); it checks them again, so this only guides the file picker. */
export const ACCEPT =
  "image/jpeg,image/png,image/webp,image/gif,video/mp4,video/webm,audio/mpeg,audio/ogg,audio/webm,audio/mp4,application/pdf";
const ALLOWED = new Set(ACCEPT.split(","));

export const kindOf = (mimeType: string): Kind => {
  const top = mimeType.split("/")[0];
  return top === "image" || top === "video" || top === "audio" ? top : "file";
};

/** Browsers name some types differently from the server: MediaRecorder adds codecs, `.mp3` and `.m4a` get other names. */
const ALIASES: Record<string, string> = { "audio/mp3": "audio/mpeg", "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4" };

export function mimeTypeOf(file: Blob): string {
  const type = file.type.split(";")[0]?.trim().toLowerCase() ?? "";
  return ALIASES[type] ?? type;
}

/** The server takes names of up to 255 characters without control characters; a longer one keeps its end (the extension). */
function nameOf(file: File): string | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what the server refuses
  const name = file.name.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  return name ? [...name].slice(-255).join("") : undefined;
}

export const isAllowed = (file: Blob) => ALLOWED.has(mimeTypeOf(file));

/** The contract needs 1–4000 characters of content, so a message without a caption says what it is. */
export const labelOf = (kind: Kind, name: string) =>
  kind === "image" ? "Photo" : kind === "video" ? "Video" : kind === "audio" ? "Voice note" : name.trim() || "File";

/** Set on a message whose content is only that label: this client then shows the attachment alone. */
export const LABEL_ONLY = "label_only";

export const isLabelOnly = (m: Message) => m.metadata[LABEL_ONLY] === true && m.attachments.length > 0;

export const isStored = (a: Message["attachments"][number]): a is StoredAttachment => "attachment_id" in a;

export function sizeOf(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** The box an image or video gets before it loads, so the list never jumps: at most 240 × 300 px, never upscaled. */
export function boxOf(width: number | undefined, height: number | undefined, max = { width: 240, height: 300 }) {
  if (!width || !height) return { width: max.width, height: Math.round((max.width * 3) / 4) };
  const scale = Math.min(1, max.width / width, max.height / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** A file on its way: created when the user sends, kept with the pending message so a retry resumes where it stopped. */
export type Outgoing = {
  file: File;
  kind: Kind;
  /** An object URL of the file, shown while it uploads (and afterwards, so the sender's own photo never reloads). */
  previewUrl: string;
  width?: number;
  height?: number;
  attachmentId?: string;
  uploadUrl?: string;
  uploaded: boolean;
  progress: number;
};

/** Reads an image's or video's own dimensions, so the pending bubble has its final size at once. */
async function dimensionsOf(kind: Kind, url: string): Promise<{ width?: number; height?: number }> {
  if (kind === "image") {
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
      return { width: img.naturalWidth, height: img.naturalHeight };
    } catch {
      return {};
    }
  }
  if (kind === "video") {
    const video = document.createElement("video");
    video.preload = "metadata";
    video.muted = true;
    return new Promise((resolve) => {
      video.onloadedmetadata = () => resolve({ width: video.videoWidth || undefined, height: video.videoHeight || undefined });
      video.onerror = () => resolve({});
      video.src = url;
    });
  }
  return {};
}

export async function outgoingOf(file: File): Promise<Outgoing> {
  const kind = kindOf(mimeTypeOf(file));
  const previewUrl = URL.createObjectURL(file);
  return { file, kind, previewUrl, ...(await dimensionsOf(kind, previewUrl)), uploaded: false, progress: 0 };
}

/**
 * Makes sure the file is stored and returns its attachment id. Each step runs once: a retry after a
 * failed send never uploads again, and a retry after a failed upload PUTs to the same upload_url.
 * `update` receives every change (progress, ids), so the pending message shows it and keeps it.
 */
export async function ensureUploaded(att: Outgoing, update: (next: Outgoing) => void): Promise<string> {
  let current = att;
  const set = (patch: Partial<Outgoing>) => {
    current = { ...current, ...patch };
    update(current);
  };
  if (current.attachmentId && current.uploaded) return current.attachmentId;
  if (!current.attachmentId || !current.uploadUrl) {
    const created = await call(() =>
      api.attachments.index.$post({
        json: { mime_type: mimeTypeOf(current.file), size_bytes: current.file.size, name: nameOf(current.file) },
      }),
    );
    set({ attachmentId: created.attachment_id, uploadUrl: created.upload_url, progress: 0 });
  }
  const id = current.attachmentId as string;
  try {
    await uploadBytes(current.uploadUrl as string, current.file, mimeTypeOf(current.file), (progress) => set({ progress }));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
    // 409 with `expires_at`: the upload URL expired before the bytes came; announce again next time.
    if (err.details && "expires_at" in err.details) {
      set({ attachmentId: undefined, uploadUrl: undefined, progress: 0 });
      throw err;
    }
    // Otherwise the bytes are already there (an earlier PUT whose answer was lost).
  }
  set({ uploaded: true, progress: 1 });
  rememberPreview(id, current.previewUrl);
  return id;
}

/** The sender's own files, by attachment id, as the object URLs they were picked as (no download needed). */
const previews = new Map<string, string>();
const rememberPreview = (id: string, url: string) => previews.set(id, url);
export const localPreviewOf = (id: string) => previews.get(id) ?? null;

type Ticket = { url: string; expiresAt: number };
/** Tickets are asked for again this long before they expire, so a URL handed out is good for a while. */
const MARGIN_MS = 60_000;
const tickets = new Map<string, Promise<Ticket>>();

/** A URL for an `<img>`/`<video>`/`<audio>` src: the download route with a short-lived ticket (POST …/ticket). */
export function ticketUrl(attachmentId: string, { fresh = false } = {}): Promise<Ticket> {
  const cached = tickets.get(attachmentId);
  if (cached && !fresh) {
    return cached.then((t) => (t.expiresAt - Date.now() > MARGIN_MS ? t : ticketUrl(attachmentId, { fresh: true })));
  }
  const ticket = call(() => api.attachments[":attachment_id"].ticket.$post({ param: { attachment_id: attachmentId } })).then((t) => ({
    url: t.url,
    expiresAt: Date.parse(t.expires_at),
  }));
  tickets.set(attachmentId, ticket);
  ticket.catch(() => {
    if (tickets.get(attachmentId) === ticket) tickets.delete(attachmentId);
  });
  return ticket;
}

/** Drops what the client holds for attachments no longer shown (a blocked or deleted message): no ticket URL lingers. */
export function forgetAttachments(ids: readonly string[]) {
  for (const id of ids) tickets.delete(id);
}

export const attachmentIdsOf = (m: Message | undefined) => (m ? m.attachments.filter(isStored).map((a) => a.attachment_id) : []);
