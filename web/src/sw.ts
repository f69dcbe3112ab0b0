/**
 * The service worker, served at /sw.js with scope / (built by web/vite.config.ts as one classic
 * script). It shows a notification for each push and opens the conversation when one is clicked;
 * the logic is in push/worker.ts. It handles no fetches: the app is served from the network as before.
 */
import { openFromNotification, showPush } from "./push/worker";

declare const self: ServiceWorkerGlobalScope;

// A new version takes over at once: the worker holds no state a page depends on.
self.addEventListener("install", () => {
  void self.skipWaiting();
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("push", (event) => event.waitUntil(showPush(self, event.data?.text() ?? null)));
self.addEventListener("notificationclick", (event) => event.waitUntil(openFromNotification(self, event.notification)));
