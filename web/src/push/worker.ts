/**
 * The service worker's two jobs, written against the few parts of its global scope they use, so
 * they run as a module in tests (test/web-push-worker.test.ts) and in the worker (web/src/sw.ts).
 */
import { clickAction, type NotificationSpec, notificationFor, type WindowLike } from "./notification";

export type WindowClientLike = WindowLike & {
  focus(): Promise<unknown>;
  navigate(url: string): Promise<unknown>;
};

export type WorkerScope = {
  registration: { showNotification(title: string, options: NotificationSpec["options"]): Promise<void> };
  clients: {
    matchAll(options: { type: "window"; includeUncontrolled: boolean }): Promise<readonly WindowClientLike[]>;
    openWindow(url: string): Promise<unknown>;
  };
  location: { origin: string };
};

/** `push`: every push shows a notification (browsers require one), replacing the conversation's last. */
export async function showPush(scope: WorkerScope, text: string | null): Promise<void> {
  const n = notificationFor(text);
  await scope.registration.showNotification(n.title, n.options);
}

/**
 * `notificationclick`: open the conversation. Focus comes first, while the click still counts as the
 * user's gesture; a window this worker does not control cannot be navigated, so one opens instead.
 */
export async function openFromNotification(scope: WorkerScope, notification: { close(): void; data: unknown }): Promise<void> {
  notification.close();
  const windows = await scope.clients.matchAll({ type: "window", includeUncontrolled: true });
  const action = clickAction(notification.data, windows, scope.location.origin);
  const target = action.kind === "focus" ? windows[action.index] : undefined;
  if (action.kind === "open" || !target) {
    await scope.clients.openWindow(action.kind === "open" ? action.url : `${scope.location.origin}/`);
    return;
  }
  await target.focus();
  if (!action.navigate) return;
  try {
    await target.navigate(action.navigate);
  } catch {
    await scope.clients.openWindow(action.navigate);
  }
}
