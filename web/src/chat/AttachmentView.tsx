import { useEffect, useRef, useState } from "preact/hooks";
import type { Message, StoredAttachment } from "../api";
import { boxOf, isStored, kindOf, localPreviewOf, type Outgoing, sizeOf, ticketUrl } from "../state/attachments";

type Source = { url: string | null; expiresAt: number; gone: boolean };

/** Ask again at most this often after a load error, so a file the server refuses never loops. */
const RENEW_AFTER_MS = 5_000;

/**
 * Where a media element loads an attachment from: the sender's own object URL, else a ticket URL
 * (media elements cannot send the Authorization header). After a load error (an expired ticket) it
 * asks for a new one; when the server says no (404), the file is gone.
 */
function useSource(id: string): [Source, () => void] {
  const local = localPreviewOf(id);
  const [source, setSource] = useState<Source>({ url: local, expiresAt: Number.POSITIVE_INFINITY, gone: false });
  const renewedAt = useRef(0);
  const live = useRef(true);
  const load = (fresh: boolean) => {
    ticketUrl(id, { fresh }).then(
      (t) => live.current && setSource({ url: t.url, expiresAt: t.expiresAt, gone: false }),
      () => live.current && setSource({ url: null, expiresAt: 0, gone: true }),
    );
  };
  useEffect(() => {
    live.current = true;
    if (!local) load(false);
    return () => {
      live.current = false;
    };
  }, [id]);
  const renew = () => {
    if (local || Date.now() - renewedAt.current < RENEW_AFTER_MS) return;
    renewedAt.current = Date.now();
    load(true);
  };
  return [source, renew];
}

/** A media element that lets go of its source when it leaves the screen (a blocked photo must not keep loading). */
function useReleaseOnUnmount<T extends HTMLMediaElement>() {
  const ref = useRef<T>(null);
  useEffect(
    () => () => {
      const el = ref.current;
      if (!el) return;
      el.pause();
      el.removeAttribute("src");
      el.load();
    },
    [],
  );
  return ref;
}

function Unavailable() {
  return <p class="media-gone">This file is no longer available.</p>;
}

function Veil({ onReveal, kind }: { onReveal: () => void; kind: "image" | "video" }) {
  return (
    <div class="veil">
      <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
        <path
          fill="currentColor"
          d="M12 5c-5 0-9 4.5-10 7 1 2.5 5 7 10 7s9-4.5 10-7c-1-2.5-5-7-10-7zm0 11.5a4.5 4.5 0 1 1 0-9 4.5 4.5 0 0 1 0 9zm0-2.5a2 2 0 1 0 0-4 2 2 0 0 0 0 4z"
        />
      </svg>
      <p class="veil-note">{kind === "image" ? "Photo" : "Video"} from someone you haven't replied to</p>
      <button type="button" class="button small veil-button" onClick={onReveal}>
        Tap to view
      </button>
    </div>
  );
}

function Photo({ a, blurred, onReveal }: { a: StoredAttachment; blurred: boolean; onReveal: () => void }) {
  const [source, renew] = useSource(a.attachment_id);
  const box = boxOf(a.width, a.height);
  if (source.gone) return <Unavailable />;
  return (
    <div class={`media photo${blurred ? " blurred" : ""}`} style={{ width: `${box.width}px`, aspectRatio: `${box.width} / ${box.height}` }}>
      {source.url && (
        <img
          src={source.url}
          alt={blurred ? "" : a.name}
          aria-hidden={blurred ? "true" : undefined}
          width={box.width}
          height={box.height}
          decoding="async"
          onError={renew}
        />
      )}
      {blurred && <Veil kind="image" onReveal={onReveal} />}
    </div>
  );
}

function Video({ a, blurred, onReveal }: { a: StoredAttachment; blurred: boolean; onReveal: () => void }) {
  const [source, renew] = useSource(a.attachment_id);
  const ref = useReleaseOnUnmount<HTMLVideoElement>();
  const resumeAt = useRef(0);
  const box = boxOf(a.width, a.height);
  if (source.gone) return <Unavailable />;
  return (
    <div class={`media video${blurred ? " blurred" : ""}`} style={{ width: `${box.width}px`, aspectRatio: `${box.width} / ${box.height}` }}>
      {source.url && (
        // biome-ignore lint/a11y/useMediaCaption: users' own videos come without captions
        <video
          ref={ref}
          src={source.url}
          controls={!blurred}
          preload="metadata"
          playsInline
          aria-label="Video"
          aria-hidden={blurred ? "true" : undefined}
          onError={() => {
            resumeAt.current = ref.current?.currentTime ?? 0;
            renew();
          }}
          onLoadedMetadata={(e) => {
            if (resumeAt.current) e.currentTarget.currentTime = resumeAt.current;
            resumeAt.current = 0;
          }}
        />
      )}
      {blurred && <Veil kind="video" onReveal={onReveal} />}
    </div>
  );
}

function VoiceNote({ a }: { a: StoredAttachment }) {
  const [source, renew] = useSource(a.attachment_id);
  const ref = useReleaseOnUnmount<HTMLAudioElement>();
  const resumeAt = useRef(0);
  if (source.gone) return <Unavailable />;
  return (
    <div class="media audio">
      {source.url && (
        // biome-ignore lint/a11y/useMediaCaption: a voice note has no captions
        <audio
          ref={ref}
          src={source.url}
          controls
          preload="metadata"
          aria-label="Voice note"
          onError={() => {
            resumeAt.current = ref.current?.currentTime ?? 0;
            renew();
          }}
          onLoadedMetadata={(e) => {
            if (resumeAt.current) e.currentTarget.currentTime = resumeAt.current;
            resumeAt.current = 0;
          }}
        />
      )}
    </div>
  );
}

function FileIcon() {
  return (
    <svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true">
      <path
        fill="currentColor"
        d="M6 2h8l6 6v12a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm7 1.5V9h5.5L13 3.5zM8 13v1.5h8V13H8zm0 3v1.5h5V16H8z"
      />
    </svg>
  );
}

function FileLink({ a }: { a: StoredAttachment }) {
  const [source] = useSource(a.attachment_id);
  if (source.gone) return <Unavailable />;
  const open = async (e: MouseEvent) => {
    // A ticket that ran out while the link sat on screen: fetch a new one, then download.
    if (source.expiresAt - Date.now() > 5_000) return;
    e.preventDefault();
    const t = await ticketUrl(a.attachment_id, { fresh: true }).catch(() => null);
    if (t) Object.assign(document.createElement("a"), { href: t.url, download: a.name }).click();
  };
  return (
    <a class="file" href={source.url ?? undefined} download={a.name} onClick={open}>
      <FileIcon />
      <span class="file-text">
        <span class="file-name">{a.name}</span>
        <span class="file-size">
          {a.mime_type === "application/pdf" ? "PDF · " : ""}
          {sizeOf(a.size_bytes)}
        </span>
      </span>
    </a>
  );
}

/** A message's attachments: photos inline in their own box, videos and voice notes with native controls, files as downloads. */
export function Attachments({ message, blurred, onReveal }: { message: Message; blurred: boolean; onReveal: () => void }) {
  if (!message.attachments.length) return null;
  return (
    <div class="attachments">
      {message.attachments.map((a) => {
        if (!isStored(a)) {
          return (
            <a key={a.url} class="file" href={a.url} target="_blank" rel="noopener noreferrer">
              <FileIcon />
              <span class="file-text">
                <span class="file-name">{a.name ?? new URL(a.url).hostname}</span>
                <span class="file-size">Link · {sizeOf(a.size_bytes)}</span>
              </span>
            </a>
          );
        }
        const kind = kindOf(a.mime_type);
        return kind === "image" ? (
          <Photo key={a.attachment_id} a={a} blurred={blurred} onReveal={onReveal} />
        ) : kind === "video" ? (
          <Video key={a.attachment_id} a={a} blurred={blurred} onReveal={onReveal} />
        ) : kind === "audio" ? (
          <VoiceNote key={a.attachment_id} a={a} />
        ) : (
          <FileLink key={a.attachment_id} a={a} />
        );
      })}
    </div>
  );
}

function Progress({ fraction }: { fraction: number }) {
  const pct = Math.round(fraction * 100);
  return (
    <div class="upload-progress" role="progressbar" aria-label="Uploading" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <span style={{ width: `${pct}%` }} />
    </div>
  );
}

/** A file still on its way, from the sender's own copy, with the upload's progress. */
export function OutgoingAttachment({ att, sending }: { att: Outgoing; sending: boolean }) {
  const box = boxOf(att.width, att.height);
  const uploading = sending && !att.uploaded;
  const sized = { width: `${box.width}px`, aspectRatio: `${box.width} / ${box.height}` };
  return (
    <div class="attachments">
      {att.kind === "image" ? (
        <div class="media photo" style={sized}>
          <img src={att.previewUrl} alt={att.file.name} width={box.width} height={box.height} />
        </div>
      ) : att.kind === "video" ? (
        <div class="media video" style={sized}>
          <video src={att.previewUrl} preload="metadata" muted playsInline aria-label="Video" />
        </div>
      ) : att.kind === "audio" ? (
        <div class="media audio">
          {/* biome-ignore lint/a11y/useMediaCaption: a voice note has no captions */}
          <audio src={att.previewUrl} controls preload="metadata" aria-label="Voice note" />
        </div>
      ) : (
        <span class="file">
          <FileIcon />
          <span class="file-text">
            <span class="file-name">{att.file.name}</span>
            <span class="file-size">{sizeOf(att.file.size)}</span>
          </span>
        </span>
      )}
      {uploading && <Progress fraction={att.progress} />}
    </div>
  );
}

/** The file waiting in the composer: a thumbnail (or its name), its size, and a way to take it back. */
export function DraftAttachment({ att, onRemove }: { att: Outgoing; onRemove: () => void }) {
  return (
    <div class="draft">
      {att.kind === "image" ? (
        <img class="draft-thumb" src={att.previewUrl} alt="" />
      ) : (
        <span class="draft-thumb draft-icon" aria-hidden="true">
          <FileIcon />
        </span>
      )}
      <span class="file-text">
        <span class="file-name">{att.file.name || (att.kind === "audio" ? "Voice note" : "Attachment")}</span>
        <span class="file-size">{sizeOf(att.file.size)}</span>
      </span>
      <button type="button" class="icon-button" aria-label="Remove attachment" onClick={onRemove}>
        <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
          <path fill="currentColor" d="m6.4 5 5.6 5.6L17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z" />
        </svg>
      </button>
    </div>
  );
}
