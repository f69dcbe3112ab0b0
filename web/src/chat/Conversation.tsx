import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Message } from "../api";
import { closeConversation } from "../state/chat";
import type { ConversationStore } from "../state/conversation";
import { Avatar } from "../ui/Avatar";
import { dayLabel, sameDay } from "../ui/format";
import { AttachmentPicker, DropOverlay, useDropTarget } from "./AttachmentPicker";
import { Attachments } from "./AttachmentView";
import { Composer } from "./Composer";
import { MessageItem, PendingItem } from "./MessageItem";

const NEAR_BOTTOM_PX = 48;
const NEAR_TOP_PX = 120;
/** Messages from one sender within this long of each other form one group. */
const GROUP_MS = 5 * 60_000;

function PartnerStatus({ store }: { store: ConversationStore }) {
  const online = store.partnerOnline.value;
  const presence = online === null ? "" : online ? "online" : "offline";
  const typing = store.partnerTyping.value ? `${store.partner} is typing` : "";
  const text = [presence, typing].filter(Boolean).join(" · ");
  return (
    <p class={`presence${online ? " online" : ""}${typing ? " typing" : ""}`} role="status" aria-label={text || undefined}>
      {text}
    </p>
  );
}

type Row =
  | { kind: "day"; key: string; label: string }
  | { kind: "unread"; key: string }
  | { kind: "message"; key: string; message: Message; first: boolean; last: boolean };

function rowsOf(messages: readonly Message[], firstUnreadSeq: number | null): Row[] {
  const rows: Row[] = [];
  messages.forEach((m, i) => {
    const prev = messages[i - 1];
    const next = messages[i + 1];
    if (!prev || !sameDay(prev.created_at, m.created_at)) rows.push({ kind: "day", key: `day-${m.seq}`, label: dayLabel(m.created_at) });
    if (m.seq === firstUnreadSeq) rows.push({ kind: "unread", key: "unread" });
    const joins = (a: Message | undefined, b: Message | undefined) =>
      !!a &&
      !!b &&
      a.sender_id === b.sender_id &&
      sameDay(a.created_at, b.created_at) &&
      Math.abs(Date.parse(b.created_at) - Date.parse(a.created_at)) < GROUP_MS &&
      b.seq !== firstUnreadSeq;
    rows.push({ kind: "message", key: `m-${m.seq}`, message: m, first: !joins(prev, m), last: !joins(m, next) });
  });
  return rows;
}

/** The open conversation: history newest at the bottom, older pages on scroll up, live events, read receipts when seen. */
export function Conversation({ store, header }: { store: ConversationStore; header?: ComponentChildren }) {
  const log = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const before = useRef({ height: 0, firstSeq: 0, lastKey: "" });
  const [unseen, setUnseen] = useState(0);
  const drop = useDropTarget(store);
  const messages = store.ordered.value;
  const pending = [...store.pending.value.values()];
  const firstSeq = messages[0]?.seq ?? 0;
  const lastKey = pending.length ? `p-${pending[pending.length - 1]?.clientMessageId}` : `m-${messages[messages.length - 1]?.seq ?? 0}`;
  const lastMine = pending.length > 0 || messages[messages.length - 1]?.sender_id === store.me;

  // Keep the reader where they are: an older page keeps the view still, a new message follows the bottom
  // only if the reader was there (or sent it); otherwise "Jump to latest" counts it.
  useLayoutEffect(() => {
    const el = log.current;
    if (!el) return;
    const b = before.current;
    if (b.firstSeq && firstSeq < b.firstSeq) {
      el.scrollTop += el.scrollHeight - b.height;
    } else if (lastKey !== b.lastKey) {
      if (!b.lastKey) {
        const divider = el.querySelector<HTMLElement>(".unread-divider");
        if (divider) divider.scrollIntoView({ block: "start" });
        else el.scrollTop = el.scrollHeight;
      } else if (atBottom.current || lastMine) {
        el.scrollTop = el.scrollHeight;
      } else {
        setUnseen((n) => n + 1);
      }
    }
    before.current = { height: el.scrollHeight, firstSeq, lastKey: messages.length || pending.length ? lastKey : "" };
    // A first page shorter than the screen cannot be scrolled up: ask for the next one right away.
    if (store.hasMore.value && el.scrollHeight <= el.clientHeight + NEAR_TOP_PX) void store.loadOlder();
  });

  // Read receipts: a partner's message counts as read once it is on screen in a visible tab.
  useEffect(() => {
    const el = log.current;
    if (!el) return;
    const onScreen = new Set<string>();
    const flush = () => {
      if (document.visibilityState === "visible" && onScreen.size) store.markRead([...onScreen]);
    };
    const observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const id = (entry.target as HTMLElement).dataset.unreadId;
          if (!id) continue;
          if (entry.isIntersecting) onScreen.add(id);
          else onScreen.delete(id);
        }
        flush();
      },
      { root: el, threshold: 0.5 },
    );
    for (const item of el.querySelectorAll<HTMLElement>("[data-unread-id]")) observer.observe(item);
    document.addEventListener("visibilitychange", flush);
    return () => {
      observer.disconnect();
      document.removeEventListener("visibilitychange", flush);
    };
  }, [store, messages]);

  const onScroll = () => {
    const el = log.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR_BOTTOM_PX;
    if (atBottom.current && unseen) setUnseen(0);
    if (el.scrollTop < NEAR_TOP_PX) void store.loadOlder();
  };

  const jump = () => {
    const el = log.current;
    if (el) el.scrollTo({ top: el.scrollHeight, behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth" });
    setUnseen(0);
  };

  const rows = rowsOf(messages, store.firstUnreadSeq.value);
  const empty = store.loaded.value && !messages.length && !pending.length;

  return (
    <section class="conversation" aria-labelledby="conversation-title" {...drop.handlers}>
      {drop.dragging && <DropOverlay />}
      <header class="conversation-head">
        <button type="button" class="icon-button back" aria-label="Back to conversations" onClick={closeConversation}>
          <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
            <path fill="currentColor" d="M15.4 5.4 14 4l-8 8 8 8 1.4-1.4L8.8 12z" />
          </svg>
        </button>
        <Avatar id={store.partner} size={40} />
        <div class="conversation-title">
          <h2 id="conversation-title">{store.partner}</h2>
          <PartnerStatus store={store} />
        </div>
        <div class="conversation-actions">{header}</div>
      </header>
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard to scroll it */}
      <div class="log" role="log" aria-label="Messages" ref={log} onScroll={onScroll} tabIndex={0}>
        {store.loadingOlder.value && <p class="log-note">Loading older messages…</p>}
        {store.loaded.value && !store.hasMore.value && messages.length > 0 && (
          <p class="log-note">This is the beginning of your conversation with {store.partner}.</p>
        )}
        {!store.loaded.value && !store.error.value && <p class="log-note">Loading messages…</p>}
        {empty && (
          <div class="empty">
            <Avatar id={store.partner} size={72} />
            <p class="empty-title">Say hello to {store.partner}</p>
            <p class="muted">Your first message is the start of something. Each message costs 1 credit.</p>
          </div>
        )}
        {rows.map((row) =>
          row.kind === "day" ? (
            <p key={row.key} class="day">
              <span>{row.label}</span>
            </p>
          ) : row.kind === "unread" ? (
            <p key={row.key} class="unread-divider">
              <span>New messages</span>
            </p>
          ) : (
            <MessageItem
              key={row.key}
              message={row.message}
              mine={row.message.sender_id === store.me}
              first={row.first}
              last={row.last}
              onDelete={(id) => void store.remove(id)}
              media={
                <Attachments
                  message={row.message}
                  blurred={row.message.sender_id === store.partner && !store.replied.value && !store.revealed.value.has(row.message.id)}
                  onReveal={() => store.reveal(row.message.id)}
                />
              }
            />
          ),
        )}
        {pending.map((p) => (
          <PendingItem key={`p-${p.clientMessageId}`} pending={p} onRetry={(id) => store.retry(id)} />
        ))}
      </div>
      {unseen > 0 && (
        <button type="button" class="jump" onClick={jump}>
          Jump to latest <span class="badge">{unseen}</span>
        </button>
      )}
      {store.error.value && (
        <p class="error banner" role="alert">
          {store.error.value}
        </p>
      )}
      <Composer store={store} tools={<AttachmentPicker store={store} />} />
    </section>
  );
}
