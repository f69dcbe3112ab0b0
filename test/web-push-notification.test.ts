/**
 * The web client's service worker logic (web/src/push/notification.ts) as a module: what a push
 * shows, and where a click on it leads. Pure functions, so they run here; the payloads are the ones
 * the server builds (`payloadOf`), so a change on either side that breaks the other fails here.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { DeliverJob } from "../src/schemas/push";
import { payloadOf } from "../src/services/push";
import { applicationServerKey, clickAction, conversationUrl, notificationFor, parsePayload } from "../web/src/push/notification";

const ORIGIN = "https://pairly.example";
const job: DeliverJob = {
  kind: "deliver",
  subscriptionId: "psub_1",
  messageId: "msg_1",
  conversationId: "alice:bob",
  seq: 7,
  senderId: "alice",
  receiverId: "bob",
};

describe("what a push shows", () => {
  it('"New message from <id>", no text, one notification per conversation that alerts again', () => {
    const n = notificationFor(JSON.stringify(payloadOf(job, "hi bob", false)));
    expect(n).toEqual({
      title: "New message from alice",
      options: {
        body: "Open Pairly to read it",
        tag: "conversation:alice",
        renotify: true,
        data: { url: "/?partner=alice", partnerId: "alice", seq: 7 },
      },
    });
  });

  it("with PUSH_PREVIEW the message text is the body", () => {
    expect(notificationFor(JSON.stringify(payloadOf(job, "see you at 8", true))).options.body).toBe("see you at 8");
  });

  it("two pushes of one conversation share a tag (the second replaces the first); another conversation does not", () => {
    const first = notificationFor(JSON.stringify(payloadOf(job, null, false)));
    const later = notificationFor(JSON.stringify(payloadOf({ ...job, seq: 9 }, null, false)));
    const other = notificationFor(JSON.stringify(payloadOf({ ...job, senderId: "carol", conversationId: "bob:carol" }, null, false)));
    expect(later.options.tag).toBe(first.options.tag);
    expect(other.options.tag).not.toBe(first.options.tag);
    expect(other.title).toBe("New message from carol");
  });

  it.each([
    ["no data", null],
    ["not JSON", "hello"],
    ["another type", JSON.stringify({ type: "message.status", sender_id: "a", conversation_partner_id: "a", seq: 1 })],
    ["a seq that is not a positive integer", JSON.stringify({ type: "message.new", sender_id: "a", conversation_partner_id: "a", seq: 0 })],
    ["no sender", JSON.stringify({ type: "message.new", conversation_partner_id: "a", seq: 1 })],
  ])("a push it cannot read (%s) still shows a generic notification that opens the app", (_name, text) => {
    expect(parsePayload(text)).toBeNull();
    expect(notificationFor(text)).toEqual({
      title: "New message",
      options: { body: "Open Pairly to read it", tag: "pairly", renotify: true, data: { url: "/", partnerId: null, seq: null } },
    });
  });

  it("partner ids are put in the URL encoded", () => {
    expect(conversationUrl("a b&c")).toBe("/?partner=a%20b%26c");
  });
});

describe("where a click leads", () => {
  const data = notificationFor(JSON.stringify(payloadOf(job, null, false))).options.data;
  const target = `${ORIGIN}/?partner=alice`;

  it("no window open: opens the conversation", () => {
    expect(clickAction(data, [], ORIGIN)).toEqual({ kind: "open", url: target });
  });

  it("a window already showing the conversation is focused, not reloaded", () => {
    const windows = [{ url: `${ORIGIN}/?partner=carol`, focused: true }, { url: target }];
    expect(clickAction(data, windows, ORIGIN)).toEqual({ kind: "focus", index: 1, navigate: null });
  });

  it("another window of the app is focused (the focused one first) and navigated to the conversation", () => {
    const windows = [{ url: `${ORIGIN}/` }, { url: `${ORIGIN}/?partner=carol`, focused: true }];
    expect(clickAction(data, windows, ORIGIN)).toEqual({ kind: "focus", index: 1, navigate: target });
    expect(clickAction(data, [{ url: `${ORIGIN}/admin` }], ORIGIN)).toEqual({ kind: "focus", index: 0, navigate: target });
  });

  it("windows of other origins are left alone", () => {
    expect(clickAction(data, [{ url: "https://elsewhere.example/", focused: true }], ORIGIN)).toEqual({ kind: "open", url: target });
  });

  it("a URL of another origin in the data never leaves the app", () => {
    expect(clickAction({ url: "https://evil.example/phish" }, [], ORIGIN)).toEqual({ kind: "open", url: `${ORIGIN}/` });
    expect(clickAction({ url: "//evil.example/x" }, [], ORIGIN)).toEqual({ kind: "open", url: `${ORIGIN}/` });
    expect(clickAction(null, [], ORIGIN)).toEqual({ kind: "open", url: `${ORIGIN}/` });
  });
});

describe("subscribing", () => {
  it("the server's VAPID key becomes the 65 bytes PushManager.subscribe takes", () => {
    const key = applicationServerKey(env.VAPID_PUBLIC_KEY);
    expect(key.byteLength).toBe(65);
    expect(key[0]).toBe(4);
  });

  it("anything else is refused before the browser is asked", () => {
    expect(() => applicationServerKey("AAAA")).toThrow(/VAPID public key/);
  });
});
