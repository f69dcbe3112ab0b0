import type { ComponentChildren } from "preact";
import type { Message } from "../api";
import { isLabelOnly } from "../state/attachments";
import type { Pending } from "../state/conversation";
import { timeOf } from "../ui/format";
import { OutgoingAttachment } from "./AttachmentView";

const STATUS_LABEL = { sent: "Sent", delivered: "Delivered", read: "Read", failed: "Failed" } as const;
const TICKS = { Sending: "◷", Sent: "✓", Delivered: "✓✓", Read: "✓✓", Failed: "!" } as const;

/** The tick of one of the caller's messages. aria-live off: a list of live regions would announce every receipt. */
function Tick({ label }: { label: keyof typeof TICKS }) {
  return (
    <span role="status" aria-live="off" aria-label={label} title={label} class={`tick tick-${label.toLowerCase()}`}>
      {TICKS[label]}
    </span>
  );
}

type Props = {
  message: Message;
  mine: boolean;
  /** First of a run of messages from the same sender: it gets the rounded corner and some space above. */
  first: boolean;
  last: boolean;
  onDelete: (id: string) => void;
  /** The message's photos, videos, voice notes and files (rendered above its text). */
  media?: ComponentChildren;
};

export function MessageItem({ message: m, mine, first, last, onDelete, media }: Props) {
  const hidden = m.content === null;
  const text = m.is_deleted
    ? mine
      ? "You deleted this message"
      : "This message was deleted"
    : hidden
      ? "Message hidden by moderation"
      : m.content;
  const unread = !mine && m.status !== "read" && !m.is_deleted && !hidden;
  const withMedia = !m.is_deleted && !hidden && m.attachments.length > 0;
  // A photo sent without a caption carries a label ("Photo") as its content: the photo says it already.
  const showText = !(withMedia && isLabelOnly(m));
  return (
    <div
      class={`message ${mine ? "mine" : "theirs"}${first ? " first" : ""}${last ? " last" : ""}`}
      data-seq={m.seq}
      data-unread-id={unread ? m.id : undefined}
    >
      <div class={`bubble${m.is_deleted || hidden ? " tombstone" : ""}${withMedia ? " has-media" : ""}${showText ? "" : " media-only"}`}>
        {withMedia && media}
        {showText && <p class="content">{text}</p>}
        <span class="meta">
          {mine && m.moderation_status === "blocked" && !m.is_deleted && <span class="flag">Blocked by moderation</span>}
          <time dateTime={m.created_at}>{timeOf(m.created_at)}</time>
          {mine && !m.is_deleted && <Tick label={STATUS_LABEL[m.status]} />}
        </span>
      </div>
      {mine && !m.is_deleted && (
        <button type="button" class="icon-button delete" aria-label="Delete" title="Delete for everyone" onClick={() => onDelete(m.id)}>
          <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
            <path fill="currentColor" d="M9 3h6l1 2h4v2H4V5h4l1-2zm-3 6h12l-1 12H7L6 9zm4 2v8h1.5v-8H10zm3.5 0v8H15v-8h-1.5z" />
          </svg>
        </button>
      )}
    </div>
  );
}

export function PendingItem({ pending: p, onRetry }: { pending: Pending; onRetry: (id: string) => void }) {
  return (
    <div class={`message mine first last pending ${p.state}`} data-client-message-id={p.clientMessageId}>
      <div class={`bubble${p.attachment ? " has-media" : ""}${p.content ? "" : " media-only"}`}>
        {p.attachment && <OutgoingAttachment att={p.attachment} sending={p.state === "sending"} />}
        {p.content && <p class="content">{p.content}</p>}
        <span class="meta">
          <time dateTime={p.createdAt}>{timeOf(p.createdAt)}</time>
          <Tick label={p.state === "sending" ? "Sending" : "Failed"} />
        </span>
      </div>
      {p.state === "failed" && (
        <div class="failure">
          <p class="error-text">{p.error}</p>
          <button type="button" class="button small" onClick={() => onRetry(p.clientMessageId)}>
            Retry
          </button>
        </div>
      )}
    </div>
  );
}
