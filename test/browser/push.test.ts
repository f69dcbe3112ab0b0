import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiAs, bubble, expectNoConsoleErrors, grant, openWindow, person, server, signIn, until, useHarness } from "./harness";
import { PushReceiver, standInPushManager } from "./push-service";

useHarness();
const receiver = new PushReceiver();
beforeAll(() => receiver.start());
afterAll(() => receiver.stop());

const pushLog = (page: Page) => page.evaluate(() => JSON.parse(localStorage.getItem("pairly.test.push-log") ?? "[]") as string[]);

/** Every call the page makes to /api/v2/push, as "METHOD path [endpoint]". */
function pushCalls(page: Page) {
  const calls: string[] = [];
  page.on("request", (req) => {
    const path = new URL(req.url()).pathname;
    if (!path.startsWith("/api/v2/push")) return;
    const endpoint = req.postData() ? (JSON.parse(req.postData() ?? "{}") as { endpoint?: string }).endpoint : undefined;
    calls.push([req.method(), path, endpoint].filter(Boolean).join(" "));
  });
  return calls;
}

const subscriptionsCall = (method: string) => (res: { url(): string; request(): { method(): string } }) =>
  res.url().endsWith("/api/v2/push/subscriptions") && res.request().method() === method;

describe("notifications", () => {
  it("the worker is /sw.js, JavaScript, scope /; where the browser has no Push API, Enable notifications registers it and says so", async () => {
    const res = await fetch(`${server.url}/sw.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^(text|application)\/javascript\b/);
    expect(await res.text()).toContain("notificationclick");

    const uma = person("uma");
    // Playwright's contexts are off-the-record profiles, where Chromium has no Push API (it says so in the console).
    const u = await openWindow("uma", { allow: [/does not support the Push API in incognito mode/] });
    await u.context.grantPermissions(["notifications"], { origin: server.url });
    const calls = pushCalls(u.page);
    await signIn(u.page, uma);
    await u.page.getByRole("button", { name: "Enable notifications" }).click();
    await u.page.getByRole("alert").filter({ hasText: "could not reach its push service" }).waitFor();
    const registration = await u.page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration("/");
      return { scope: r?.scope, script: r?.active?.scriptURL, controlled: navigator.serviceWorker.controller?.scriptURL };
    });
    expect(registration).toEqual({ scope: `${server.url}/`, script: `${server.url}/sw.js`, controlled: `${server.url}/sw.js` });
    // The key was fetched; nothing was posted, and the button is there to try again.
    expect(calls).toEqual(["GET /api/v2/push/vapid-public-key"]);
    await u.page.getByRole("button", { name: "Enable notifications" }).waitFor();
    expectNoConsoleErrors();
  });

  it("with the app closed, Bob is notified of Alice's message and its link opens the conversation; sign-out removes the device", async () => {
    const [alice, bob] = [person("alice"), person("bob")];
    await grant(alice, 3);
    const device = await receiver.device();
    const b = await openWindow("bob");
    await b.context.grantPermissions(["notifications"], { origin: server.url });
    await standInPushManager(b.context, device);
    await signIn(b.page, bob);

    const posted = b.page.waitForResponse(subscriptionsCall("POST"));
    await b.page.getByRole("button", { name: "Enable notifications" }).click();
    const first = await posted;
    expect(first.status()).toBe(201);
    expect(first.request().postDataJSON()).toEqual({ endpoint: device.endpoint, keys: device.keys, expirationTime: null });
    await b.page.getByText("Notifications on").waitFor();

    // Opening the app again re-syncs: the same subscription is posted again (200: the server knew it).
    const again = b.page.waitForResponse(subscriptionsCall("POST"));
    await b.page.reload();
    expect((await again).status()).toBe(200);
    await b.page.getByText("Notifications on").waitFor();
    expect(await pushLog(b.page)).toEqual([`subscribe ${device.endpoint}`]);

    // Bob leaves the chat (no socket open; the console's sign-in page is a page of the same origin), Alice writes: the server pushes to his device, encrypted.
    await b.page.goto(`${server.url}/admin`);
    const sent = await apiAs(alice, "POST", "/api/v2/messages/send", { receiver_id: bob, content: "Are we still on for tonight?" });
    await until(b.page, () => device.received().length > 0, "the push");
    const [push] = device.received();
    expect(push?.headers["content-encoding"]).toBe("aes128gcm");
    const payload = await device.decrypt(push?.body as Buffer);
    expect(JSON.parse(payload)).toEqual({ type: "message.new", sender_id: alice, conversation_partner_id: alice, seq: sent.seq });

    // What a push service does next: hand the payload to Bob's service worker, which shows the notification.
    const cdp = await b.context.newCDPSession(b.page);
    const registrations: { registrationId: string; scopeURL: string }[] = [];
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
    await cdp.send("ServiceWorker.enable");
    await until(b.page, () => registrations.some((r) => r.scopeURL === `${server.url}/`), "the worker's registration");
    const registrationId = registrations.find((r) => r.scopeURL === `${server.url}/`)?.registrationId ?? "";
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: server.url, registrationId, data: payload });
    const shown = () =>
      b.page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistration("/");
        return ((await r?.getNotifications()) ?? []).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data }));
      });
    await until(b.page, async () => (await shown()).length > 0, "the notification");
    const url = `/?partner=${alice}`;
    expect(await shown()).toEqual([
      {
        title: `New message from ${alice}`,
        body: "Open Pairly to read it",
        tag: `conversation:${alice}`,
        data: { url, partnerId: alice, seq: sent.seq },
      },
    ]);

    // Its link opens the conversation (a click focuses or navigates a window there: test/web-push-worker.test.ts).
    await b.page.goto(`${server.url}${url}`);
    await b.page.getByRole("heading", { name: alice }).waitFor();
    await bubble(b.page, "still on for tonight").waitFor();

    // Signing out: the server forgets the device, then the browser drops the subscription.
    const deleted = b.page.waitForResponse(subscriptionsCall("DELETE"));
    await b.page.getByRole("button", { name: "Sign out" }).click();
    const gone = await deleted;
    expect(gone.request().postDataJSON()).toEqual({ endpoint: device.endpoint });
    expect(await gone.json()).toEqual({ endpoint: device.endpoint, removed: true });
    await b.page.getByLabel("User id").waitFor();
    expect(await pushLog(b.page)).toEqual([`subscribe ${device.endpoint}`, `unsubscribe ${device.endpoint}`]);
    expect(device.received()).toHaveLength(1);
    expectNoConsoleErrors();
  });

  it("a subscription made with another VAPID key (after a rotation) is dropped and made again on start", async () => {
    const cora = person("cora");
    const device = await receiver.device();
    const c = await openWindow("cora");
    await c.context.grantPermissions(["notifications"], { origin: server.url });
    await standInPushManager(c.context, device);
    await signIn(c.page, cora);
    const posted = c.page.waitForResponse(subscriptionsCall("POST"));
    await c.page.getByRole("button", { name: "Enable notifications" }).click();
    await posted;

    // The browser still holds the subscription, but it was made with a key the server no longer has.
    await c.page.evaluate(() => {
      const held = JSON.parse(localStorage.getItem("pairly.test.subscription") ?? "{}");
      localStorage.setItem("pairly.test.subscription", JSON.stringify({ ...held, key: [4, ...new Array(64).fill(7)] }));
    });
    const calls = pushCalls(c.page);
    const reposted = c.page.waitForResponse(subscriptionsCall("POST"));
    await c.page.reload();
    expect((await reposted).status()).toBe(201);
    await c.page.getByText("Notifications on").waitFor();
    expect(calls).toEqual([
      "GET /api/v2/push/vapid-public-key",
      `DELETE /api/v2/push/subscriptions ${device.endpoint}`,
      `POST /api/v2/push/subscriptions ${device.endpoint}`,
    ]);
    expect(await pushLog(c.page)).toEqual([
      `subscribe ${device.endpoint}`,
      `unsubscribe ${device.endpoint}`,
      `subscribe ${device.endpoint}`,
    ]);
    expectNoConsoleErrors();
  });
});
