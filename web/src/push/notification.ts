/**
 * What the service worker does with a push and with a click on its notification, as pure functions
 * (no `self`, no DOM), so they are tested as a module: headless browsers have no push service.
 *
 * The service worker entry only glues them to the events:
 *   push:              const n = notificationFor(event.data?.text() ?? null);
 *                      event.waitUntil(self.registration.showNotification(n.title, n.options));
 *   notificationclick: event.notification.close();
 *                      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
 *                      const a = clickAction(event.notification.data, windows, self.location.origin);
 *                      a.kind === "open" ? self.clients.openWindow(a.url)
 *                        : (a.navigate ? windows[a.index].navigate(a.navigate) : Promise.resolve()).then(() => windows[a.index].focus());
 */

/** The server's payload (contract, "Push notifications"): no message text unless PUSH_PREVIEW=true. */
export type PushPayload = {
  type: "message.new";
  sender_id: string;
  conversation_partner_id: string;
  seq: number;
  content?: string;
};

export type NotificationData = { url: string; partnerId: string | null; seq: number | null };

/** The arguments of `registration.showNotification(title, options)`. */
export type NotificationSpec = {
  title: string;
  options: { body: string; tag: string; renotify: boolean; data: NotificationData };
};

export type WindowLike = { url: string; focused?: boolean };

export type ClickAction = { kind: "focus"; index: number; navigate: string | null } | { kind: "open"; url: string };

const isText = (v: unknown, max = 4096): v is string => typeof v === "string" && v.length > 0 && v.length <= max;

/** The web client opens the conversation with this partner when loaded at this URL. */
export const conversationUrl = (partnerId: string) => `/?partner=${encodeURIComponent(partnerId)}`;

/** The payload if it is one of ours, else null (a push the server did not send, or from a newer server). */
export function parsePayload(text: string | null): PushPayload | null {
  if (!text) return null;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== "object" || data === null) return null;
  const p = data as Record<string, unknown>;
  if (p.type !== "message.new" || !isText(p.sender_id, 64) || !isText(p.conversation_partner_id, 64)) return null;
  if (typeof p.seq !== "number" || !Number.isInteger(p.seq) || p.seq < 1) return null;
  if (p.content !== undefined && typeof p.content !== "string") return null;
  return {
    type: "message.new",
    sender_id: p.sender_id,
    conversation_partner_id: p.conversation_partner_id,
    seq: p.seq,
    ...(p.content !== undefined && { content: p.content }),
  };
}

/**
 * The notification for a push. One per conversation: the tag replaces the one already shown (as the
 * server's `Topic` does for one still on its way), and `renotify` alerts again for the newer message.
 * A push we cannot read still shows a notification: browsers require one for every push.
 */
export function notificationFor(text: string | null): NotificationSpec {
  const p = parsePayload(text);
  if (!p) {
    return {
      title: "New message",
      options: { body: "Open Pairly to read it", tag: "pairly", renotify: true, data: { url: "/", partnerId: null, seq: null } },
    };
  }
  const partner = p.conversation_partner_id;
  return {
    title: `New message from ${p.sender_id}`,
    options: {
      body: p.content ?? "Open Pairly to read it",
      tag: `conversation:${partner}`,
      renotify: true,
      data: { url: conversationUrl(partner), partnerId: partner, seq: p.seq },
    },
  };
}

/** Where a click on the notification leads: a URL of our own origin only (never one a payload smuggled in). */
function targetOf(data: unknown, origin: string): string {
  const url = typeof data === "object" && data !== null ? (data as { url?: unknown }).url : undefined;
  if (typeof url !== "string") return `${origin}/`;
  try {
    const target = new URL(url, origin);
    return target.origin === origin ? target.href : `${origin}/`;
  } catch {
    return `${origin}/`;
  }
}

/**
 * A click opens the conversation: a window already showing it is focused; else one of our windows
 * (the focused one first) is focused and navigated there; else a new window opens.
 */
export function clickAction(data: unknown, windows: readonly WindowLike[], origin: string): ClickAction {
  const target = targetOf(data, origin);
  const showing = windows.findIndex((w) => w.url === target);
  if (showing !== -1) return { kind: "focus", index: showing, navigate: null };
  const ours = windows
    .map((w, index) => ({ w, index }))
    .filter(({ w }) => {
      try {
        return new URL(w.url).origin === origin;
      } catch {
        return false;
      }
    });
  const pick = ours.find(({ w }) => w.focused) ?? ours[0];
  return pick ? { kind: "focus", index: pick.index, navigate: target } : { kind: "open", url: target };
}

/** `applicationServerKey` for `PushManager.subscribe`: the bytes of the server's base64url VAPID key. */
export function applicationServerKey(publicKey: string): Uint8Array {
  const base64 = publicKey.replaceAll("-", "+").replaceAll("_", "/");
  const bytes = Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  if (bytes.byteLength !== 65 || bytes[0] !== 4) throw new Error("not a VAPID public key (65-byte uncompressed P-256 point)");
  return bytes;
}

/** Was this subscription made with this key? After a VAPID key rotation it was not, and must be made again. */
export function sameKey(subscribedWith: ArrayBuffer | null | undefined, key: Uint8Array): boolean {
  if (!subscribedWith || subscribedWith.byteLength !== key.byteLength) return false;
  const bytes = new Uint8Array(subscribedWith);
  return bytes.every((b, i) => b === key[i]);
}
