/**
 * Notifications on this device: the service worker, the browser's permission, the push subscription
 * made with the server's VAPID key, and the server's copy of it (POST/DELETE /api/v2/push/subscriptions).
 * Whether a user turned them on is remembered per user on this device, so signing in again re-syncs.
 */
import { signal } from "@preact/signals";
import { ApiError, api, call, describeError } from "../api";
import { applicationServerKey, sameKey } from "./notification";

export type PushState = "unsupported" | "off" | "working" | "on" | "denied" | "failed";

export const pushState = signal<PushState>("off");
export const pushError = signal<string | null>(null);

const SCRIPT = "/sw.js";
/** Sign-out waits this long at most for the server to forget the device. */
const SIGN_OUT_WAIT_MS = 3_000;

const supported = () => "serviceWorker" in navigator && "PushManager" in globalThis && "Notification" in globalThis;
const preferenceKey = (userId: string) => `pairly.notifications.${userId}`;
const wanted = (userId: string) => localStorage.getItem(preferenceKey(userId)) === "on";
const remember = (userId: string, on: boolean) => localStorage.setItem(preferenceKey(userId), on ? "on" : "off");

/** The worker at the root (scope /), once it is active: a subscription needs an active worker. */
async function readyRegistration(): Promise<ServiceWorkerRegistration> {
  await navigator.serviceWorker.register(SCRIPT, { scope: "/" });
  return navigator.serviceWorker.ready;
}

async function forget(subscription: PushSubscription) {
  await call(() => api.push.subscriptions.$delete({ json: { endpoint: subscription.endpoint } })).catch(() => {});
  await subscription.unsubscribe().catch(() => false);
}

/** Subscribes with the server's current key (again, if the one held was made with an older key) and posts it. */
async function subscribeAndPost(registration: ServiceWorkerRegistration) {
  const { public_key } = await call(() => api.push["vapid-public-key"].$get());
  const key = applicationServerKey(public_key);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    await forget(subscription);
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key as BufferSource });
  const json = subscription.toJSON();
  await call(() =>
    api.push.subscriptions.$post({
      json: {
        endpoint: json.endpoint ?? subscription.endpoint,
        keys: { p256dh: json.keys?.p256dh ?? "", auth: json.keys?.auth ?? "" },
        expirationTime: json.expirationTime ?? null,
      },
    }),
  );
}

function failed(err: unknown) {
  pushState.value = "failed";
  pushError.value =
    err instanceof ApiError
      ? describeError(err)
      : err instanceof DOMException && (err.name === "AbortError" || err.name === "NotSupportedError")
        ? "This browser could not reach its push service. Try again later."
        : "Could not turn on notifications. Try again.";
}

/** The "Enable notifications" button: asks for permission (only ever from this click), then subscribes. */
export async function enableNotifications(userId: string) {
  if (!supported() || pushState.value === "working") return;
  pushState.value = "working";
  pushError.value = null;
  try {
    const registration = await readyRegistration();
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      pushState.value = permission === "denied" ? "denied" : "off";
      return;
    }
    await subscribeAndPost(registration);
    remember(userId, true);
    pushState.value = "on";
  } catch (err) {
    failed(err);
  }
}

/** "Turn off": the server forgets this device and the browser drops the subscription. */
export async function disableNotifications(userId: string) {
  pushState.value = "working";
  const registration = await navigator.serviceWorker.getRegistration("/");
  const subscription = await registration?.pushManager.getSubscription();
  if (subscription) await forget(subscription);
  remember(userId, false);
  pushState.value = "off";
}

/**
 * On start, while signed in: with permission granted and notifications on for this user, the
 * subscription is posted again (the server counts the device as seen) or made again (lost, or made
 * with a key the server no longer uses).
 */
export async function syncNotifications(userId: string) {
  pushError.value = null;
  if (!supported()) {
    pushState.value = "unsupported";
    return;
  }
  if (Notification.permission === "denied") {
    pushState.value = "denied";
    return;
  }
  if (Notification.permission !== "granted" || !wanted(userId)) {
    pushState.value = "off";
    return;
  }
  pushState.value = "working";
  try {
    await subscribeAndPost(await readyRegistration());
    pushState.value = "on";
  } catch (err) {
    failed(err);
  }
}

/** Before the token goes: this device stops receiving the user's pushes. Their choice is kept for their next sign-in. */
export async function notificationsBeforeSignOut() {
  if (!supported()) return;
  const work = (async () => {
    const registration = await navigator.serviceWorker.getRegistration("/");
    const subscription = await registration?.pushManager.getSubscription();
    if (subscription) await forget(subscription);
  })().catch(() => {});
  await Promise.race([work, new Promise((resolve) => setTimeout(resolve, SIGN_OUT_WAIT_MS))]);
  pushState.value = "off";
}
