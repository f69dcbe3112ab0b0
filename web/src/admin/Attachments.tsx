import { useEffect, useState } from "preact/hooks";
import { type AdminMessage, adminAttachmentBlobUrl, describeError, type StoredAttachment } from "../api";
import { isStored, kindOf, sizeOf } from "../state/attachments";

type Loaded = { url: string } | { error: string } | null;

/**
 * One attachment for a moderator. The admin route takes only the Authorization header, so the bytes
 * are fetched and shown from a blob URL (revoked when it leaves the screen). Photos load at once;
 * videos, voice notes and files when asked, since every view is an audited read.
 */
function AdminAttachment({ a }: { a: StoredAttachment }) {
  const kind = kindOf(a.mime_type);
  const [wanted, setWanted] = useState(kind === "image");
  const [loaded, setLoaded] = useState<Loaded>(null);
  useEffect(() => {
    if (!wanted) return;
    let url: string | null = null;
    let live = true;
    adminAttachmentBlobUrl(a.attachment_id).then(
      (u) => {
        url = u;
        if (live) setLoaded({ url: u });
        else URL.revokeObjectURL(u);
      },
      (err) => live && setLoaded({ error: describeError(err) }),
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [wanted, a.attachment_id]);

  const label = `${a.name} (${sizeOf(a.size_bytes)})`;
  if (!wanted) {
    return (
      <button type="button" class="button small ghost" onClick={() => setWanted(true)}>
        Open {kind === "audio" ? "voice note" : kind} {label}
      </button>
    );
  }
  if (!loaded) return <span class="admin-media loading muted">Loading {label}…</span>;
  if ("error" in loaded) return <span class="error-text">{loaded.error}</span>;
  if (kind === "image") return <img class="admin-media" src={loaded.url} alt={a.name} />;
  // biome-ignore lint/a11y/useMediaCaption: users' own videos come without captions
  if (kind === "video") return <video class="admin-media" src={loaded.url} controls aria-label={`Video ${a.name}`} />;
  // biome-ignore lint/a11y/useMediaCaption: a voice note has no captions
  if (kind === "audio") return <audio src={loaded.url} controls aria-label={`Voice note ${a.name}`} />;
  return (
    <a class="button small" href={loaded.url} download={a.name}>
      Download {label}
    </a>
  );
}

/** A message's attachments as moderators see them: blocked and deleted messages included. */
export function AdminAttachments({ message }: { message: AdminMessage }) {
  if (!message.attachments.length) return null;
  return (
    <div class="admin-attachments">
      {message.attachments.map((a) =>
        isStored(a) ? (
          <AdminAttachment key={a.attachment_id} a={a} />
        ) : (
          <a key={a.url} href={a.url} target="_blank" rel="noopener noreferrer">
            {a.name ?? a.url}
          </a>
        ),
      )}
    </div>
  );
}
