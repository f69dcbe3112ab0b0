/**
 * One open conversation: the messages keyed by seq (the server's order, so a replay, a resume or a
 * duplicate event can never show a message twice), the sends still in flight keyed by their
 * client_message_id, and the partner's typing and presence as the conversation socket reports them.
 */
import { batch, computed, signal } from "@preact/signals";
import { ApiError, api, call, describeError, type Message, NetworkError, socketUrl } from "../api";
import { ReconnectingSocket } from "../socket";
import {
  attachmentIdsOf,
  ensureUploaded,
  forgetAttachments,
  isAllowed,
  LABEL_ONLY,
  labelOf,
  type Outgoing,
  outgoingOf,
} from "./attachments";
import { safetyRefusal, socketEnded, upgradeRefused } from "./safety";

export type Pending = {
  clientMessageId: string;
  content: string;
  state: "sending" | "failed";
  error?: string;
  createdAt: string;
  /** A photo, voice note, video or file going with it: its upload state survives a failure, so Retry never uploads twice. */
  attachment?: Outgoing;
};

const PAGE = 30;
const TYPING_REFRESH_MS = 2_500;
const STATUS_RANK = { sent: 0, delivered: 1, read: 2, failed: -1 } as const;

export class ConversationStore {
  readonly messages = signal<ReadonlyMap<number, Message>>(new Map());
  readonly pending = signal<ReadonlyMap<string, Pending>>(new Map());
  readonly hasMore = signal(false);
  readonly loadingOlder = signal(false);
  readonly loaded = signal(false);
  readonly error = signal<string | null>(null);
  readonly partnerTyping = signal(false);
  readonly partnerOnline = signal<boolean | null>(null);
  /** The first message of the partner's that was unread when the conversation opened (the divider goes above it). */
  readonly firstUnreadSeq = signal<number | null>(null);
  readonly ordered = computed(() => [...this.messages.value.values()].sort((a, b) => a.seq - b.seq));
  /** The file picked (or dropped) for the next send, shown in the composer until sent or removed. */
  readonly draft = signal<Outgoing | null>(null);
  readonly draftError = signal<string | null>(null);
  /** Has the user ever written to this partner (in what is loaded)? Until then the partner's photos come blurred. */
  readonly replied = computed(() => this.ordered.value.some((m) => m.sender_id === this.me));
  /** Ids of the partner's messages whose media the user chose to see ("Tap to view"). */
  readonly revealed = signal<ReadonlySet<string>>(new Set());
  readonly socket: ReconnectingSocket;

  private cursor: string | null = null;
  private readonly idToSeq = new Map<string, number>();
  private readonly readSent = new Set<string>();
  /** client_message_ids whose server copy arrived (over HTTP or the socket): a late failure must not resurrect them. */
  private readonly confirmed = new Set<string>();
  private typingSentAt = 0;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly me: string,
    readonly partner: string,
    token: (opts: { renew: boolean }) => Promise<string | null>,
    private readonly onSent: () => void,
  ) {
    this.socket = new ReconnectingSocket({
      url: () => socketUrl({ partner_id: partner, since: this.highestSeq() }),
      token,
      onEvent: (e) => this.apply(e),
      onOpen: () => {
        if (!this.loaded.value) void this.loadLatest();
        this.ackDelivered(this.ordered.value);
      },
      onEnded: socketEnded,
      refused: upgradeRefused,
    });
    // The socket connects once the newest page is here, so `since` is the highest seq it holds (not 0,
    // which would replay the whole conversation).
    void this.loadLatest().finally(() => this.socket.start());
  }

  close() {
    this.discardDraft();
    this.stopTyping();
    this.socket.close();
  }

  highestSeq(): number {
    let max = 0;
    for (const seq of this.messages.value.keys()) max = Math.max(max, seq);
    return max;
  }

  async loadLatest() {
    try {
      const page = await call(() =>
        api.messages.conversation[":partner_id"].$get({ param: { partner_id: this.partner }, query: { limit: String(PAGE) } }),
      );
      batch(() => {
        this.upsert(page.messages);
        this.cursor = page.next_cursor;
        this.hasMore.value = page.has_more;
        const firstUnread = this.ordered.value.find((m) => m.sender_id === this.partner && m.status !== "read" && !m.is_deleted);
        this.firstUnreadSeq.value = firstUnread?.seq ?? null;
        this.loaded.value = true;
        this.error.value = null;
      });
      this.ackDelivered(page.messages);
    } catch (err) {
      this.error.value = describeError(err);
    }
  }

  async loadOlder() {
    if (!this.hasMore.value || this.loadingOlder.value || !this.cursor) return;
    this.loadingOlder.value = true;
    try {
      const cursor = this.cursor;
      const page = await call(() =>
        api.messages.conversation[":partner_id"].$get({
          param: { partner_id: this.partner },
          query: { limit: String(PAGE), before: cursor },
        }),
      );
      batch(() => {
        this.upsert(page.messages);
        this.cursor = page.next_cursor;
        this.hasMore.value = page.has_more;
      });
    } catch (err) {
      this.error.value = describeError(err);
    } finally {
      this.loadingOlder.value = false;
    }
  }

  /** Optimistic send: shown at once as "Sending"; the same client_message_id on every retry, so it is charged once. */
  async send(content: string, clientMessageId: string = crypto.randomUUID(), attachment?: Outgoing) {
    const text = content.trim();
    if (!text && !attachment) return;
    this.stopTyping();
    const prior = this.pending.value.get(clientMessageId);
    this.setPending({
      clientMessageId,
      content: text,
      state: "sending",
      createdAt: prior?.createdAt ?? new Date().toISOString(),
      attachment,
    });
    try {
      const media = attachment ? await this.upload(clientMessageId, attachment, text) : undefined;
      const message = await call(() =>
        api.messages.send.$post({
          json: {
            receiver_id: this.partner,
            content: media && !text ? media.label : text,
            client_message_id: clientMessageId,
            ...media?.fields,
          },
        }),
      );
      batch(() => {
        this.upsert([message]);
        this.dropPending(clientMessageId);
      });
    } catch (err) {
      if (this.confirmed.has(clientMessageId)) return; // the socket already brought the stored message
      const error = await this.sendError(err);
      if (this.confirmed.has(clientMessageId)) return;
      this.setPending({
        clientMessageId,
        content: text,
        state: "failed",
        error,
        createdAt: prior?.createdAt ?? new Date().toISOString(),
        attachment: this.pending.value.get(clientMessageId)?.attachment ?? attachment,
      });
    } finally {
      this.onSent();
    }
  }

  retry(clientMessageId: string) {
    const p = this.pending.value.get(clientMessageId);
    if (p) void this.send(p.content, clientMessageId, p.attachment);
  }

  /** Stores the file (once) and returns what the send carries for it; progress and ids are kept on the pending message. */
  private async upload(clientMessageId: string, attachment: Outgoing, caption: string) {
    const id = await ensureUploaded(attachment, (next) => {
      const p = this.pending.value.get(clientMessageId);
      if (p) this.setPending({ ...p, attachment: next });
    });
    return {
      label: labelOf(attachment.kind, attachment.file.name),
      fields: {
        message_type: attachment.kind,
        attachments: [{ attachment_id: id }],
        ...(!caption && { metadata: { [LABEL_ONLY]: true } }),
      },
    };
  }

  /** A picked or dropped file becomes the draft (replacing an earlier one), if the server takes its type. */
  async attach(file: File) {
    if (!isAllowed(file)) {
      this.draftError.value =
        "Pairly can send photos (JPEG, PNG, WebP, GIF), videos (MP4, WebM), voice notes (MP3, Ogg, WebM, M4A) and PDFs.";
      return;
    }
    this.draftError.value = null;
    const next = await outgoingOf(file);
    this.discardDraft();
    this.draft.value = next;
  }

  /** The draft goes with the next send (its object URL now belongs to the pending message). */
  takeDraft(): Outgoing | undefined {
    const draft = this.draft.value ?? undefined;
    this.draft.value = null;
    this.draftError.value = null;
    return draft;
  }

  discardDraft() {
    const draft = this.draft.value;
    if (draft) URL.revokeObjectURL(draft.previewUrl);
    this.draft.value = null;
    this.draftError.value = null;
  }

  reveal(messageId: string) {
    this.revealed.value = new Set([...this.revealed.value, messageId]);
  }

  async remove(messageId: string) {
    try {
      const message = await call(() => api.messages[":message_id"].$delete({ param: { message_id: messageId } }));
      this.upsert([message]);
    } catch (err) {
      this.error.value = describeError(err);
    }
  }

  /** Typing: `start` at most every few seconds while keys are pressed (the server expires it), `stop` on send, blur or an empty box. */
  typing(active: boolean) {
    clearTimeout(this.typingTimer);
    if (!active) return this.stopTyping();
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_REFRESH_MS) {
      if (this.socket.send({ type: "typing", state: "start" })) this.typingSentAt = now;
    }
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_REFRESH_MS * 2);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingSentAt) this.socket.send({ type: "typing", state: "stop" });
    this.typingSentAt = 0;
  }

  /** Read receipts for messages the user has actually seen (visible tab, scrolled to them). */
  markRead(ids: string[]) {
    const fresh = ids.filter((id) => !this.readSent.has(id));
    if (!fresh.length) return;
    for (const id of fresh) this.readSent.add(id);
    if (!this.socket.send({ type: "read", message_ids: fresh.slice(0, 100) })) {
      call(() => api.messages["mark-read"].$post({ json: { message_ids: fresh.slice(0, 100) } })).catch(() => {
        for (const id of fresh) this.readSent.delete(id);
      });
    }
  }

  private ackDelivered(messages: readonly Message[]) {
    const ids = messages.filter((m) => m.receiver_id === this.me && m.status === "sent" && !m.is_deleted).map((m) => m.id);
    if (ids.length) this.socket.send({ type: "ack", message_ids: ids.slice(0, 100) });
  }

  private async sendError(err: unknown): Promise<string> {
    const refused = safetyRefusal(err, this.partner);
    if (refused) return refused;
    if (err instanceof ApiError && err.code === "insufficient_credits") {
      const balance = await call(() => api.credits.balance.$get()).catch(() => null);
      return `Not enough credits to send${balance ? `: you have ${balance.balance} ${balance.balance === 1 ? "credit" : "credits"}` : ""}. Each message costs 1 credit.`;
    }
    if (err instanceof ApiError && err.code === "rate_limited")
      return `You are sending too fast. Try again in ${err.retryAfter ?? 10} seconds.`;
    if (err instanceof NetworkError) return "Not sent: no connection. Retry when you are back online.";
    return `Not sent: ${describeError(err)}`;
  }

  private apply(e: { type: string } & Record<string, unknown>) {
    switch (e.type) {
      case "message.new":
      case "message.moderated": {
        const m = e.message as Message;
        if (e.type === "message.moderated" && !this.idToSeq.has(m.id)) return; // not on screen: the next page load has it
        this.forgetHidden(m.id, m);
        this.upsert([m], e.type === "message.moderated");
        if (m.client_message_id && m.sender_id === this.me) this.dropPending(m.client_message_id);
        if (m.sender_id === this.partner) this.partnerTyping.value = false;
        this.ackDelivered([m]);
        return;
      }
      case "message.status": {
        const seq = this.idToSeq.get(e.message_id as string);
        const m = seq === undefined ? undefined : this.messages.value.get(seq);
        if (!m) return;
        const status = e.status as Message["status"];
        if (STATUS_RANK[status] < STATUS_RANK[m.status]) return; // receipts never move backwards
        this.replace({
          ...m,
          status,
          delivered_at: (e.delivered_at as string | null) ?? m.delivered_at,
          read_at: (e.read_at as string | null) ?? m.read_at,
        });
        return;
      }
      case "message.deleted": {
        const seq = this.idToSeq.get(e.message_id as string);
        const m = seq === undefined ? undefined : this.messages.value.get(seq);
        if (m) {
          this.forgetHidden(m.id, null);
          this.replace({ ...m, is_deleted: true, content: null, attachments: [] });
        }
        return;
      }
      case "typing":
        if (e.user_id === this.partner) this.partnerTyping.value = e.state === "start";
        return;
      case "presence":
        if (e.user_id === this.partner) {
          this.partnerOnline.value = Boolean(e.online);
          if (!e.online) this.partnerTyping.value = false;
        }
        return;
      case "resync":
        // The server could not replay what we missed: start again from the newest page.
        this.messages.value = new Map();
        this.idToSeq.clear();
        void this.loadLatest();
        return;
      default:
        // sync, pong, error and any event a newer server adds: nothing to show.
        return;
    }
  }

  /** Newer server state wins; a stale copy (an older status) never replaces a newer one unless moderation changed it. */
  private upsert(list: readonly Message[], force = false) {
    if (!list.length) return;
    const next = new Map(this.messages.value);
    for (const m of list) {
      const had = next.get(m.seq);
      if (had && !force && !m.is_deleted && STATUS_RANK[m.status] < STATUS_RANK[had.status]) {
        next.set(m.seq, { ...m, status: had.status, delivered_at: had.delivered_at, read_at: had.read_at });
      } else {
        next.set(m.seq, m);
      }
      this.idToSeq.set(m.id, m.seq);
    }
    this.messages.value = next;
  }

  /** A message that lost its attachments (blocked for us, or deleted): its ticket URLs are dropped with it. */
  private forgetHidden(id: string, next: Message | null) {
    const seq = this.idToSeq.get(id);
    const before = attachmentIdsOf(seq === undefined ? undefined : this.messages.value.get(seq));
    const kept = new Set(attachmentIdsOf(next ?? undefined));
    forgetAttachments(before.filter((a) => !kept.has(a)));
  }

  private replace(m: Message) {
    const next = new Map(this.messages.value);
    next.set(m.seq, m);
    this.messages.value = next;
  }

  private setPending(p: Pending) {
    const next = new Map(this.pending.value);
    next.set(p.clientMessageId, p);
    this.pending.value = next;
  }

  private dropPending(id: string) {
    this.confirmed.add(id);
    if (!this.pending.value.has(id)) return;
    const next = new Map(this.pending.value);
    next.delete(id);
    this.pending.value = next;
  }
}
