/**
 * From a send to what the push service receives, with the consumer driven by the test: sends go
 * through the Worker with the push queue held (test/push.ts `heldQueue`), and each held job is handed
 * to the Worker's queue handler (`createMessageBatch`), so every outcome is known when it returns.
 * The real queue (delays, retries, dead letters) runs in push.queue.test.ts.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { conversationIdOf } from "../src/lib/ids";
import { topicOf } from "../src/services/push";
import { as, call, createAdmin, newUser, seedCredits, tokenFor } from "./helpers";
import {
  consume,
  type Device,
  envWith,
  type Held,
  heldQueue,
  newDevice,
  sendVia,
  subscribed,
  subscriptionCount,
  subscriptionIdOf,
  verifyVapid,
} from "./push";
import { openSocket, type TestSocket } from "./sockets";

afterEach(() => vi.restoreAllMocks());

/** A sender with credits and a receiver with one subscribed device, plus a held queue. */
async function offlinePair(overrides: Partial<Env> = {}) {
  const alice = newUser("alice");
  const bob = newUser("bob");
  await seedCredits(alice, 50);
  const device = await subscribed(bob);
  const held = heldQueue();
  return { alice, bob, device, held, testEnv: envWith(held, overrides) };
}

/** The held notify jobs, consumed; then the deliveries they fanned out, consumed. */
async function drain(testEnv: Env, held: Held) {
  const notified = await consume(testEnv, held.take("notify"));
  const deliveries = held.take("deliver");
  const delivered = deliveries.length ? await consume(testEnv, deliveries) : { ids: [], acked: [], retried: [] };
  return { notified, deliveries, delivered };
}

const payloadsOf = async (device: Device) =>
  Promise.all((await device.received()).map(async (r) => JSON.parse(await device.decrypt(r.body)) as Record<string, unknown>));

/** Closes a test socket and waits for the object's close handshake, so the object no longer counts it. */
async function closed(socket: TestSocket) {
  const done = new Promise((resolve) => socket.ws.addEventListener("close", resolve));
  socket.close();
  await done;
}

describe("a message to a receiver with no open socket", () => {
  it("reaches their device as one Web Push request the device can decrypt, signed with our VAPID key", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    const sent = await sendVia(testEnv, alice, bob, "secret words");

    expect(held.held.map((h) => h.delaySeconds)).toEqual([3600]); // PUSH_COALESCE_SECONDS of the test config
    const { notified, deliveries, delivered } = await drain(testEnv, held);
    expect(notified.acked).toEqual(notified.ids);
    expect(deliveries).toHaveLength(1);
    expect(delivered.acked).toEqual(delivered.ids);

    const [push, ...more] = await device.received();
    expect(more).toEqual([]);
    expect(push?.method).toBe("POST");
    expect(JSON.parse(await device.decrypt(push?.body ?? ""))).toEqual({
      type: "message.new",
      sender_id: alice,
      conversation_partner_id: alice,
      seq: sent.seq,
    });
    const h = push?.headers ?? {};
    expect(h["content-encoding"]).toBe("aes128gcm");
    expect(h["content-type"]).toBe("application/octet-stream");
    expect(h.ttl).toBe(String(24 * 3600));
    expect(h.urgency).toBe("normal");
    expect(h.topic).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(h.topic).toBe(await topicOf(bob, conversationIdOf(alice, bob)));

    const { k, header, claims } = await verifyVapid(h.authorization, device.endpoint);
    expect(k).toBe(env.VAPID_PUBLIC_KEY);
    expect(header).toEqual({ typ: "JWT", alg: "ES256" });
    expect(claims.aud).toBe(new URL(device.endpoint).origin);
    expect(claims.sub).toBe(env.VAPID_SUBJECT);
    const now = Math.floor(Date.now() / 1000);
    expect(claims.exp).toBeGreaterThan(now);
    expect((claims.exp ?? 0) - now).toBeLessThanOrEqual(24 * 3600);
  });

  it("carries no content unless PUSH_PREVIEW=true, and then only the first 200 characters; logs never carry it", async () => {
    const plain = await offlinePair();
    await sendVia(plain.testEnv, plain.alice, plain.bob, "meet me at the usual place");
    await drain(plain.testEnv, plain.held);
    const [withoutPreview] = await payloadsOf(plain.device);
    expect(withoutPreview).not.toHaveProperty("content");

    const preview = await offlinePair({ PUSH_PREVIEW: "true" });
    const long = `${"é".repeat(150)}${"🙂".repeat(100)}`;
    const log = vi.spyOn(console, "log");
    await sendVia(preview.testEnv, preview.alice, preview.bob, long);
    await drain(preview.testEnv, preview.held);
    const [withPreview] = await payloadsOf(preview.device);
    expect(withPreview?.content).toBe(`${"é".repeat(150)}${"🙂".repeat(50)}`);
    const lines = log.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"event":"push.'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line).not.toContain("é");
  });

  it("is not queued while the receiver has a conversation socket open, and is once it closed", async () => {
    const { alice, bob, held, testEnv } = await offlinePair();
    const bobRoom = await openSocket(bob, { partner: alice });
    const aliceRoom = await openSocket(alice, { partner: bob });
    await sendVia(testEnv, alice, bob, "you are here");
    expect((await bobRoom.nextOf("message.new")).message.content).toBe("you are here");
    expect(held.held).toEqual([]);

    await closed(bobRoom);
    await sendVia(testEnv, alice, bob, "now you are not");
    expect(held.take("notify")).toMatchObject([{ kind: "notify", senderId: alice, receiverId: bob, seq: 2 }]);
    aliceRoom.close();
  });

  it("is not queued while the receiver has an inbox socket open, and is once it closed", async () => {
    const { alice, bob, held, testEnv } = await offlinePair();
    const inbox = await openSocket(bob);
    await sendVia(testEnv, alice, bob, "seen in the list");
    expect((await inbox.nextOf("message.new")).message.content).toBe("seen in the list");
    expect(held.held).toEqual([]);

    await closed(inbox);
    await sendVia(testEnv, alice, bob, "not seen");
    expect(held.take("notify")).toHaveLength(1);
  });

  it("is queued even while the sender's own sockets (room and inbox) are open", async () => {
    const { alice, bob, held, testEnv } = await offlinePair();
    const room = await openSocket(alice, { partner: bob });
    const inbox = await openSocket(alice);
    await sendVia(testEnv, alice, bob);
    expect(held.take("notify")).toHaveLength(1);
    room.close();
    inbox.close();
  });

  it("is not pushed to a receiver without subscriptions (and writes no push state)", async () => {
    const alice = newUser("alice");
    const carol = newUser("carol");
    await seedCredits(alice, 5);
    const held = heldQueue();
    const testEnv = envWith(held);
    await sendVia(testEnv, alice, carol);
    const { notified, deliveries } = await drain(testEnv, held);
    expect(notified.acked).toEqual(notified.ids);
    expect(deliveries).toEqual([]);
    const state = await env.DB.prepare("SELECT COUNT(*) AS n FROM push_state WHERE receiver_id = ?").bind(carol).first<{ n: number }>();
    expect(state?.n).toBe(0);
  });
});

describe("coalescing: one notification per conversation burst", () => {
  it("a burst of 20 messages makes one push, for the last of them, whatever order the jobs run in", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    for (let i = 1; i <= 20; i++) await sendVia(testEnv, alice, bob, `message ${i}`);
    const jobs = held.take("notify");
    expect(jobs.map((j) => j.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const shuffled = [...jobs].sort(() => Math.random() - 0.5);
    const first = await consume(testEnv, shuffled.slice(0, 10));
    const second = await consume(testEnv, shuffled.slice(10));
    expect([...first.acked, ...second.acked]).toHaveLength(20);
    const deliveries = held.take("deliver");
    expect(deliveries.map((d) => d.seq)).toEqual([20]);
    await consume(testEnv, deliveries);
    expect(await payloadsOf(device)).toMatchObject([{ seq: 20 }]);
  });

  it("a job the queue delivers twice pushes once", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    await sendVia(testEnv, alice, bob);
    const [job] = held.take("notify");
    if (!job) throw new Error("no job");
    await consume(testEnv, [job]);
    const again = await consume(testEnv, [job, job]);
    expect(again.acked).toEqual(again.ids);
    const deliveries = held.take("deliver");
    expect(deliveries).toHaveLength(1);
    await consume(testEnv, deliveries);
    expect(await device.received()).toHaveLength(1);
  });

  it("a later burst pushes again under the same topic, so the device replaces the first notification", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    await sendVia(testEnv, alice, bob, "first");
    await drain(testEnv, held);
    await sendVia(testEnv, alice, bob, "second");
    await sendVia(testEnv, alice, bob, "third");
    await drain(testEnv, held);
    const received = await device.received();
    expect(await payloadsOf(device)).toMatchObject([{ seq: 1 }, { seq: 3 }]);
    expect(received[1]?.headers.topic).toBe(received[0]?.headers.topic);

    // Another conversation of bob's has its own topic.
    const dave = newUser("dave");
    await seedCredits(dave, 1);
    await sendVia(testEnv, dave, bob, "hi from dave");
    await drain(testEnv, held);
    const topics = new Set((await device.received()).map((r) => r.headers.topic));
    expect(topics.size).toBe(2);
  });

  it("a reply from the receiver in the meantime means no push: they are there", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    await seedCredits(bob, 1);
    await sendVia(testEnv, alice, bob, "are you there?");
    // Bob answers from a client without sockets (plain HTTP, through the Worker's own env).
    expect((await as(bob).post("/api/v2/messages/send", { receiver_id: alice, content: "yes" })).status).toBe(201);
    const { notified, deliveries } = await drain(testEnv, held);
    expect(notified.acked).toEqual(notified.ids);
    expect(deliveries).toEqual([]);
    expect(await device.received()).toEqual([]);
  });
});

describe("nothing is pushed for a message that is no longer news", () => {
  async function sentAndThen(change: (ids: { alice: string; bob: string; messageId: string }) => Promise<unknown>) {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    const sent = await sendVia(testEnv, alice, bob, "soon not news");
    await change({ alice, bob, messageId: sent.id });
    const { notified, deliveries } = await drain(testEnv, held);
    expect(notified.acked).toEqual(notified.ids);
    expect(deliveries).toEqual([]);
    expect(await device.received()).toEqual([]);
  }

  it("when a device of the receiver already acknowledged it (delivered)", async () => {
    await sentAndThen(({ bob, messageId }) => as(bob).post(`/api/v2/messages/mark-delivered/${messageId}`));
  });

  it("when the receiver already read it", async () => {
    await sentAndThen(({ bob, messageId }) => as(bob).post("/api/v2/messages/mark-read", { message_ids: [messageId] }));
  });

  it("when the sender deleted it", async () => {
    await sentAndThen(({ alice, messageId }) => as(alice).del(`/api/v2/messages/${messageId}`));
  });

  it("when moderation blocked it", async () => {
    const mod = await createAdmin("moderator");
    await sentAndThen(({ messageId }) =>
      as(mod).post(`/api/admin/messages/${messageId}/moderate`, { moderation_status: "blocked", reason: "abuse" }),
    );
  });

  it("when it changed after the fan-out: the delivery checks again", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    const sent = await sendVia(testEnv, alice, bob);
    await consume(testEnv, held.take("notify"));
    await as(bob).post("/api/v2/messages/mark-read", { message_ids: [sent.id] });
    const delivered = await consume(testEnv, held.take("deliver"));
    expect(delivered.acked).toEqual(delivered.ids);
    expect(await device.received()).toEqual([]);
  });
});

describe("each device on its own", () => {
  it("every subscription of the receiver gets the push, and one device's 503 retries only that device", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    const flaky = await subscribed(bob);
    const third = await subscribed(bob);
    await flaky.answer([{ status: 503, headers: { "retry-after": "7" } }]);
    await sendVia(testEnv, alice, bob);
    await consume(testEnv, held.take("notify"));
    const deliveries = held.take("deliver");
    expect(deliveries).toHaveLength(3);

    const first = await consume(testEnv, deliveries);
    expect(first.acked).toHaveLength(2);
    expect(first.retried).toHaveLength(1);
    expect(first.retried[0]?.delaySeconds).toBe(7);
    const retriedJob = deliveries[first.ids.indexOf(first.retried[0]?.msgId ?? "")];
    expect(retriedJob?.subscriptionId).toBe(await subscriptionIdOf(flaky.endpoint));

    // The queue hands the same job back; this time the push service takes it.
    const second = await consume(testEnv, retriedJob ? [retriedJob] : [], 2);
    expect(second.acked).toEqual(second.ids);
    expect(await device.received()).toHaveLength(1);
    expect(await third.received()).toHaveLength(1);
    const attempts = await flaky.received();
    expect(attempts).toHaveLength(2);
    for (const a of attempts) expect(JSON.parse(await flaky.decrypt(a.body))).toMatchObject({ seq: 1 });
  });
});

describe("what the push service answers", () => {
  /** One message's delivery to a device scripted to answer `answers`, at the given attempt. */
  async function deliverOnce(answers: { status: number; headers?: Record<string, string> }[], attempt = 1) {
    const pair = await offlinePair();
    await pair.device.answer(answers);
    await sendVia(pair.testEnv, pair.alice, pair.bob);
    await consume(pair.testEnv, pair.held.take("notify"));
    const deliveries = pair.held.take("deliver");
    return { ...pair, deliveries, result: await consume(pair.testEnv, deliveries, attempt) };
  }

  it("410 Gone removes the subscription (and only that one); the next message skips it", async () => {
    const { alice, bob, device, held, testEnv, result } = await deliverOnce([{ status: 410 }]);
    expect(result.acked).toEqual(result.ids);
    expect(await subscriptionIdOf(device.endpoint)).toBeUndefined();

    const other = await subscribed(bob);
    await sendVia(testEnv, alice, bob);
    await drain(testEnv, held);
    expect(await device.received()).toHaveLength(1);
    expect(await other.received()).toHaveLength(1);
  });

  it("404 Not Found removes the subscription too", async () => {
    const { device, bob, result } = await deliverOnce([{ status: 404 }]);
    expect(result.acked).toEqual(result.ids);
    expect(await subscriptionIdOf(device.endpoint)).toBeUndefined();
    expect(await subscriptionCount(bob)).toBe(0);
  });

  it("503 then 201: retried after Retry-After, then delivered", async () => {
    const { device, deliveries, result, testEnv } = await deliverOnce([{ status: 503, headers: { "retry-after": "30" } }]);
    expect(result.acked).toEqual([]);
    expect(result.retried).toEqual([{ msgId: result.ids[0], delaySeconds: 30 }]);
    const again = await consume(testEnv, deliveries, 2);
    expect(again.acked).toEqual(again.ids);
    expect((await device.received()).map((r) => r.path)).toHaveLength(2);
    expect(await subscriptionIdOf(device.endpoint)).toBeDefined();
  });

  it("429 with an HTTP-date Retry-After waits until that date", async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    const { result } = await deliverOnce([{ status: 429, headers: { "retry-after": at } }]);
    const delay = result.retried[0]?.delaySeconds ?? 0;
    expect(delay).toBeGreaterThanOrEqual(100);
    expect(delay).toBeLessThanOrEqual(121);
  });

  it("a 5xx without Retry-After backs off exponentially (attempt 3: 40 s ± 20 %)", async () => {
    const { result } = await deliverOnce([{ status: 500 }], 3);
    const delay = result.retried[0]?.delaySeconds ?? 0;
    expect(delay).toBeGreaterThanOrEqual(32);
    expect(delay).toBeLessThanOrEqual(48);
  });

  it("a push service that cannot be reached is retried", async () => {
    const pair = await offlinePair();
    // Nothing listens on port 9 of this machine (discard): the connection is refused.
    const res = await as(pair.bob).post("/api/v2/push/subscriptions", {
      endpoint: "http://127.0.0.1:9/push/unreachable",
      keys: pair.device.keys,
    });
    expect(res.status).toBe(201);
    await sendVia(pair.testEnv, pair.alice, pair.bob);
    await consume(pair.testEnv, pair.held.take("notify"));
    const result = await consume(pair.testEnv, pair.held.take("deliver"));
    expect(result.retried).toHaveLength(1);
    expect(result.acked).toHaveLength(1); // the stand-in device took its copy
  });

  it("another 4xx (the push service refuses the request) is not retried and keeps the subscription", async () => {
    const { device, result } = await deliverOnce([{ status: 403 }]);
    expect(result.acked).toEqual(result.ids);
    expect(result.retried).toEqual([]);
    expect(await subscriptionIdOf(device.endpoint)).toBeDefined();
  });
});

describe("subscriptions that changed meanwhile", () => {
  it("a device that changed hands after the fan-out gets nothing for its former owner", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    await sendVia(testEnv, alice, bob);
    await consume(testEnv, held.take("notify"));
    const carol = newUser("carol");
    await subscribed(carol, device);
    const result = await consume(testEnv, held.take("deliver"));
    expect(result.acked).toEqual(result.ids);
    expect(await device.received()).toEqual([]);
  });

  it("an expired subscription gets nothing and is removed", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    const soon = await newDevice();
    const res = await as(bob).post("/api/v2/push/subscriptions", { ...soon, expirationTime: Date.now() + 60_000 });
    expect(res.status).toBe(201);
    await sendVia(testEnv, alice, bob);
    await consume(testEnv, held.take("notify"));
    const deliveries = held.take("deliver");
    expect(deliveries).toHaveLength(2);
    // Its expiry passes before the delivery runs.
    await env.DB.prepare("UPDATE push_subscriptions SET expires_at = ? WHERE endpoint = ?")
      .bind(new Date(Date.now() - 1000).toISOString(), soon.endpoint)
      .run();
    await consume(testEnv, deliveries);
    expect(await soon.received()).toEqual([]);
    expect(await device.received()).toHaveLength(1);
    expect(await subscriptionIdOf(soon.endpoint)).toBeUndefined();
  });
});

describe("failures of our own parts", () => {
  it("a fan-out whose queue write fails is retried and still pushes exactly once", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    await sendVia(testEnv, alice, bob);
    const jobs = held.take("notify");
    const broken = {
      ...testEnv,
      PUSH_QUEUE: { ...held.queue, sendBatch: async () => Promise.reject(new Error("queue down")) } as unknown as Queue,
    };
    const failed = await consume(broken, jobs);
    expect(failed.retried).toHaveLength(1);
    expect(failed.retried[0]?.delaySeconds).toBeGreaterThan(0);
    expect(held.held).toEqual([]);

    const retried = await consume(testEnv, jobs, 2);
    expect(retried.acked).toEqual(retried.ids);
    await consume(testEnv, held.take("deliver"));
    expect(await device.received()).toHaveLength(1);
  });

  it("a job that is not one of ours is acknowledged, never retried", async () => {
    const held = heldQueue();
    const result = await consume(envWith(held), [{ kind: "notify", seq: "x" } as never]);
    expect(result.acked).toEqual(result.ids);
    expect(result.retried).toEqual([]);
  });

  it("the dead-letter queue logs each dead job (ids, no payload) and acknowledges it", async () => {
    const { alice, bob, held, testEnv } = await offlinePair();
    await sendVia(testEnv, alice, bob, "private text");
    await consume(testEnv, held.take("notify"));
    const error = vi.spyOn(console, "error");
    const result = await consume(testEnv, held.take("deliver"), 1, "pairly-push-dlq");
    expect(result.acked).toEqual(result.ids);
    const lines = error.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("push.dead_letter"));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({ event: "push.dead_letter", kind: "deliver", receiver_id: bob, seq: 1 });
    expect(lines[0]).not.toContain("private text");
  });
});

describe("receivers without push devices cost no job", () => {
  it("a receiver without a device gets no job, from the first offline message on; subscribing queues again", async () => {
    const alice = newUser("alice");
    const bob = newUser("bob");
    await seedCredits(alice, 50);
    const held = heldQueue();
    const testEnv = envWith(held);

    await sendVia(testEnv, alice, bob, "first"); // bob's inbox reads D1 once: no subscription
    await sendVia(testEnv, alice, bob, "second");
    expect(held.held).toEqual([]); // no job at all while bob has no device

    const device = await subscribed(bob); // tells the inbox "some"
    const sent = await sendVia(testEnv, alice, bob, "third");
    expect(held.held.map((h) => h.body)).toEqual([expect.objectContaining({ kind: "notify", receiverId: bob, seq: sent.seq })]);
    await drain(testEnv, held);
    expect(await device.received()).toHaveLength(1);
  });

  it("a subscription stored while the inbox knew nothing is found by its first read", async () => {
    const alice = newUser("alice");
    const bob = newUser("bob");
    await seedCredits(alice, 50);
    // Stored straight into D1, so no "some" reaches the inbox: only its own read can find the device.
    const device = await subscribed(bob);
    await env.INBOX.getByName(bob).pushDevicesKnown("unknown", Date.now());
    const held = heldQueue();
    const testEnv = envWith(held);
    const sent = await sendVia(testEnv, alice, bob, "hello");
    expect(held.held.map((h) => h.body)).toEqual([expect.objectContaining({ kind: "notify", receiverId: bob, seq: sent.seq })]);
    await drain(testEnv, held);
    expect(await device.received()).toHaveLength(1);
  });

  it("once a job found no subscription, the inbox knows and later offline messages queue nothing", async () => {
    const alice = newUser("alice");
    const bob = newUser("bob");
    await seedCredits(alice, 50);
    const device = await subscribed(bob);
    const held = heldQueue();
    const testEnv = envWith(held);
    await sendVia(testEnv, alice, bob, "first");
    const job = held.take("notify");
    expect(job).toHaveLength(1);
    // The device goes away without an unsubscribe reaching the inbox (say, the row expired).
    await env.DB.prepare("DELETE FROM push_subscriptions WHERE user_id = ?").bind(bob).run();
    const first = await consume(testEnv, job); // finds no subscription: tells bob's inbox "none"
    expect(first.acked).toEqual(first.ids);
    await sendVia(testEnv, alice, bob, "second");
    expect(held.held).toEqual([]);
    expect(await device.received()).toHaveLength(0);
  });

  it("an empty read older than a subscription never turns the receiver's pushes off", async () => {
    const bob = newUser("bob");
    const inbox = env.INBOX.getByName(bob);
    const before = Date.now() - 1000;
    await subscribed(bob); // "some", as of now
    await inbox.pushDevicesKnown("none", before); // a consumer's read from before the subscription, arriving late
    const m = { id: "msg_x", conversationId: conversationIdOf("someone", bob), seq: 1, senderId: "someone", receiverId: bob };
    expect(await inbox.newMessage(m as never, true)).toEqual({ delivered: false, mayPush: true });
  });

  it("removing a subscription makes it unknown again, so the next offline message checks D1", async () => {
    const alice = newUser("alice");
    const bob = newUser("bob");
    await seedCredits(alice, 50);
    const phone = await subscribed(bob);
    const laptop = await subscribed(bob);
    const held = heldQueue();
    const testEnv = envWith(held);
    await env.INBOX.getByName(bob).pushDevicesKnown("none", Date.now() - 1); // stale, and older than what follows
    const unsubscribe = (endpoint: string) =>
      tokenFor(bob).then((token) => call("DELETE", "/api/v2/push/subscriptions", { token, body: { endpoint } }));
    expect(await (await unsubscribe(phone.endpoint)).json()).toEqual({ endpoint: phone.endpoint, removed: true });
    await sendVia(testEnv, alice, bob, "after unsubscribing one"); // the laptop is still there
    expect(held.take("notify")).toHaveLength(1);
    expect(await (await unsubscribe(laptop.endpoint)).json()).toEqual({ endpoint: laptop.endpoint, removed: true });
    await sendVia(testEnv, alice, bob, "after unsubscribing both"); // none left: no job
    expect(held.held).toEqual([]);
  });
});
