/**
 * The chat client's state: the signed-in user, their balance, the conversation list (kept live by
 * the inbox socket) and the one open conversation.
 */
import { computed, effect, signal, untracked } from "@preact/signals";
import { api, call, describeError, type Message } from "../api";
import { notificationsBeforeSignOut, syncNotifications } from "../push/client";
import { conversationUrl } from "../push/notification";
import { createSession, session } from "../session";
import { ReconnectingSocket } from "../socket";
import { ConversationStore } from "./conversation";
import { loadBlocks, onSafetyEvent, resetSafety, showsBlocked } from "./safety";

type Summary = Awaited<ReturnType<typeof listConversations>>["conversations"][number];

const listConversations = () => call(() => api.conversations.conversations.$get({ query: { limit: "100" } }));

export const auth = createSession("pairly.chat.session");
export const balance = signal<number | null>(null);
export const conversations = signal<Summary[]>([]);
export const listLoaded = signal(false);
export const listError = signal<string | null>(null);
export const active = signal<ConversationStore | null>(null);
export const inboxState = signal<ReconnectingSocket["state"]["value"]>("connecting");

/** Newest activity first; the open conversation counts as read while the user looks at it. */
export const sortedConversations = computed(() =>
  [...conversations.value].sort((a, b) => (a.last_activity_at < b.last_activity_at ? 1 : a.last_activity_at > b.last_activity_at ? -1 : 0)),
);

const socketToken = async ({ renew }: { renew: boolean }) =>
  renew ? ((await auth.renew()) ? (session.value?.token ?? null) : null) : auth.freshToken();

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
/** The list is the server's (unread counts included); inbox events only say when to ask again. */
export function refreshSoon(delay = 120) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refreshList(), delay);
}

export async function refreshList() {
  try {
    const page = await listConversations();
    conversations.value = page.conversations;
    listError.value = null;
  } catch (err) {
    listError.value = describeError(err);
  } finally {
    listLoaded.value = true;
  }
}

export async function refreshBalance() {
  try {
    balance.value = (await call(() => api.credits.balance.$get())).balance;
  } catch {
    // The list and the conversation show their own errors; a missing balance just stays unknown.
  }
}

export function openConversation(partner: string) {
  const me = session.value?.userId;
  if (!me || active.value?.partner === partner) return;
  if (showsBlocked(partner)) return closeConversation();
  active.value?.close();
  active.value = new ConversationStore(me, partner, socketToken, () => {
    void refreshBalance();
    refreshSoon();
  });
  // The URL a notification click opens (push/notification.ts), so a window showing it is focused, not reloaded.
  history.replaceState(null, "", conversationUrl(partner));
}

export function closeConversation() {
  active.value?.close();
  active.value = null;
  history.replaceState(null, "", location.pathname);
}

/** This device stops receiving the user's notifications before the token is dropped. */
export async function signOut() {
  await notificationsBeforeSignOut();
  auth.signOut();
}

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `/?partner=<id>` (a notification's link, or a reload) opens that conversation once signed in. */
function partnerInUrl(me: string): string | null {
  const wanted = new URLSearchParams(location.search).get("partner");
  return wanted && USER_ID.test(wanted) && wanted !== me ? wanted : null;
}

let inbox: ReconnectingSocket | null = null;
let stopInboxState: (() => void) | null = null;

/** Everything that lives while someone is signed in: the inbox socket, the list and the balance. */
const signedInAs = computed(() => session.value?.userId ?? null);

effect(() => {
  const userId = signedInAs.value;
  untracked(() => startFor(userId));
});

function startFor(userId: string | null) {
  inbox?.close();
  stopInboxState?.();
  inbox = null;
  if (!userId) {
    active.value?.close();
    active.value = null;
    conversations.value = [];
    balance.value = null;
    listLoaded.value = false;
    resetSafety();
    return;
  }
  void refreshList();
  void refreshBalance();
  const socket: ReconnectingSocket = new ReconnectingSocket({
    url: () => new URL(api.realtime.ws.$url()).toString().replace(/^http/, "ws"),
    token: socketToken,
    onEvent: (e) => {
      if (e.type.startsWith("conversation.")) return onSafetyEvent(e, () => refreshSoon(0));
      if (e.type.startsWith("message.") || e.type === "unread") refreshSoon();
      if (e.type !== "message.new") return;
      // Delivered as soon as it reaches any of this user's screens; read only once they look at it.
      const m = e.message as Message;
      if (m.receiver_id === userId && m.status === "sent") socket.send({ type: "ack", message_ids: [m.id] });
      else void refreshBalance();
    },
    // Whatever happened while the inbox was down, the list catches up from the server.
    onOpen: () => refreshSoon(0),
  });
  inbox = socket;
  socket.start();
  stopInboxState = effect(() => {
    inboxState.value = socket.state.value;
  });
  void syncNotifications(userId);
  const wanted = partnerInUrl(userId);
  // Blocks first, so a blocked partner in the address opens as blocked, not as a live conversation.
  void loadBlocks().then(() => wanted && openConversation(wanted));
}
