/**
 * The web client's service worker (web/src/sw.ts) as a module: what it does with a push and with a
 * click on the notification, against a stand-in of the browser's worker scope (registration,
 * clients) that records every call. The real worker in Chromium is tested in test/browser/push.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { DeliverJob } from "../src/schemas/push";
import { payloadOf } from "../src/services/push";
import { notificationFor, sameKey } from "../web/src/push/notification";
import { openFromNotification, showPush, type WindowClientLike, type WorkerScope } from "../web/src/push/worker";

const ORIGIN = "https://pairly.example";
const job: DeliverJob = {
  kind: "deliver",
  subscriptionId: "psub_1",
  messageId: "msg_1",
  conversationId: "alice:bob",
  seq: 3,
  senderId: "alice",
  receiverId: "bob",
};

type Window = { url: string; focused?: boolean; navigateFails?: boolean };

/** The browser's side of the worker: what it was asked to show, focus, navigate and open, in order. */
function browser(windows: Window[] = []) {
  const calls: string[] = [];
  const clients: WindowClientLike[] = windows.map((w, i) => ({
    url: w.url,
    focused: w.focused,
    focus: async () => calls.push(`focus ${i}`),
    navigate: async (url: string) => {
      if (w.navigateFails) throw new TypeError("not controlled by this worker");
      calls.push(`navigate ${i} ${url}`);
    },
  }));
  const scope: WorkerScope = {
    registration: {
      showNotification: async (title, options) => {
        calls.push(`show ${title} [${options.tag}] ${options.data.url}`);
      },
    },
    clients: {
      matchAll: async (options) => {
        expect(options).toEqual({ type: "window", includeUncontrolled: true });
        return clients;
      },
      openWindow: async (url) => calls.push(`open ${url}`),
    },
    location: { origin: ORIGIN },
  };
  return { scope, calls };
}

const notification = (data: unknown) => {
  const n = { closed: false, data, close: () => (n.closed = true) };
  return n;
};

describe("push", () => {
  it("shows the server's push as 'New message from <id>', tagged by conversation, linking to it", async () => {
    const { scope, calls } = browser();
    await showPush(scope, JSON.stringify(payloadOf(job, "hi", false)));
    expect(calls).toEqual(["show New message from alice [conversation:alice] /?partner=alice"]);
  });

  it("a push it cannot read still shows a notification (browsers require one per push)", async () => {
    const { scope, calls } = browser();
    await showPush(scope, null);
    await showPush(scope, "{not json");
    expect(calls).toEqual(["show New message [pairly] /", "show New message [pairly] /"]);
  });
});

describe("a click on the notification", () => {
  const data = notificationFor(JSON.stringify(payloadOf(job, null, false))).options.data;
  const target = `${ORIGIN}/?partner=alice`;

  it("closes it and opens the conversation when no window of the app is open", async () => {
    const { scope, calls } = browser([{ url: "https://elsewhere.example/" }]);
    const n = notification(data);
    await openFromNotification(scope, n);
    expect(n.closed).toBe(true);
    expect(calls).toEqual([`open ${target}`]);
  });

  it("focuses a window already showing the conversation, without reloading it", async () => {
    const { scope, calls } = browser([{ url: `${ORIGIN}/` }, { url: target }]);
    await openFromNotification(scope, notification(data));
    expect(calls).toEqual(["focus 1"]);
  });

  it("focuses the app's window first (while the click counts as the user's), then navigates it", async () => {
    const { scope, calls } = browser([{ url: `${ORIGIN}/?partner=carol`, focused: true }]);
    await openFromNotification(scope, notification(data));
    expect(calls).toEqual(["focus 0", `navigate 0 ${target}`]);
  });

  it("a window the worker cannot navigate (not controlled by it) gets the conversation in a new window", async () => {
    const { scope, calls } = browser([{ url: `${ORIGIN}/admin`, navigateFails: true }]);
    await openFromNotification(scope, notification(data));
    expect(calls).toEqual(["focus 0", `open ${target}`]);
  });

  it("data from elsewhere never leads out of the app", async () => {
    const { scope, calls } = browser();
    await openFromNotification(scope, notification({ url: "https://evil.example/" }));
    expect(calls).toEqual([`open ${ORIGIN}/`]);
  });
});

describe("the subscription's key", () => {
  const key = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i));

  it("is the same when every byte is", () => {
    expect(sameKey(key.slice().buffer, key)).toBe(true);
  });

  it("differs after a rotation, and when the browser kept none", () => {
    const rotated = key.slice();
    rotated[64] = 0;
    expect(sameKey(rotated.buffer, key)).toBe(false);
    expect(sameKey(key.slice(0, 64).buffer, key)).toBe(false);
    expect(sameKey(null, key)).toBe(false);
  });
});
