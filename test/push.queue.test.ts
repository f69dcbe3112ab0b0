/**
 * The real queue (Miniflare runs it from wrangler.toml; the test config lowers max_retries to 2):
 * a send's job travels producer → queue → consumer → push service stand-in on its own, with its
 * delay, retries and dead-lettering done by the platform. Each test waits for the consumer's own log
 * line of the outcome it expects, so "nothing more came" is asserted only once the work is done.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import { BASE, newUser, seedCredits, tokenFor } from "./helpers";
import { type Device, subscribed, subscriptionIdOf } from "./push";

afterEach(() => vi.restoreAllMocks());

/** Sends through the Worker with no coalescing delay, so the job is due at once. */
async function sendNow(from: string, to: string, content: string) {
  const res = await app.request(
    `${BASE}/api/v2/messages/send`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(from)}`, "content-type": "application/json" },
      body: JSON.stringify({ receiver_id: to, content }),
    },
    { ...env, PUSH_COALESCE_SECONDS: "0" },
  );
  expect(res.status).toBe(201);
  return (await res.json()) as { seq: number };
}

/** Resolves once the consumer logged a line of `event` about this subscription that matches `fields`. */
function logged(level: "log" | "warn" | "error", event: string, subscriptionId: string, fields: Record<string, unknown>) {
  const spy = vi.spyOn(console, level);
  return (timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const look = () => {
        for (const [line] of spy.mock.calls) {
          const parsed = typeof line === "string" && line.startsWith("{") ? (JSON.parse(line) as Record<string, unknown>) : null;
          const hit = parsed?.event === event && parsed.subscription_id === subscriptionId;
          if (hit && Object.entries(fields).every(([k, v]) => parsed[k] === v)) return resolve(parsed);
        }
        if (Date.now() > deadline) return reject(new Error(`no ${event} ${JSON.stringify(fields)} logged for ${subscriptionId}`));
        setTimeout(look, 50);
      };
      look();
    });
}

async function offline() {
  const alice = newUser("alice");
  const bob = newUser("bob");
  await seedCredits(alice, 5);
  const device: Device = await subscribed(bob);
  return { alice, bob, device, subscriptionId: (await subscriptionIdOf(device.endpoint)) ?? "" };
}

describe("through the real queue", () => {
  it("a message to an offline user arrives at their push service, decryptable, once", async () => {
    const { alice, bob, device, subscriptionId } = await offline();
    const sentLine = logged("log", "push.deliver", subscriptionId, { outcome: "sent" });
    const sent = await sendNow(alice, bob, "through the queue");
    expect(await sentLine()).toMatchObject({ status: 201, seq: sent.seq });
    const received = await device.received();
    expect(received).toHaveLength(1);
    expect(JSON.parse(await device.decrypt(received[0]?.body ?? ""))).toEqual({
      type: "message.new",
      sender_id: alice,
      conversation_partner_id: alice,
      seq: sent.seq,
    });
  });

  it("503 with Retry-After, then 201: the queue brings the job back after the delay and it is delivered", async () => {
    const { alice, bob, device, subscriptionId } = await offline();
    await device.answer([{ status: 503, headers: { "retry-after": "2" } }]);
    const retryLine = logged("warn", "push.deliver", subscriptionId, { outcome: "retry", status: 503, delay_seconds: 2 });
    const sentLine = logged("log", "push.deliver", subscriptionId, { outcome: "sent", attempt: 2 });
    await sendNow(alice, bob, "try again");
    await retryLine();
    await sentLine();
    const [first, second, ...more] = await device.received();
    expect(more).toEqual([]);
    // The platform kept the job for at least the 2 s the push service asked for.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(1900);
    expect(await subscriptionIdOf(device.endpoint)).toBe(subscriptionId);
  });

  it("a push service that keeps failing: after max_retries the job lands in the dead-letter queue, logged there", async () => {
    const { alice, bob, device, subscriptionId } = await offline();
    await device.answer([], { status: 503, headers: { "retry-after": "0" } });
    const dead = logged("error", "push.dead_letter", subscriptionId, { kind: "deliver" });
    await sendNow(alice, bob, "never arrives");
    expect(await dead(30_000)).toMatchObject({ queue: "pairly-push-dlq", receiver_id: bob });
    // The first attempt and the 2 retries of the test config; the dead letter sends nothing.
    expect(await device.received()).toHaveLength(3);
    expect(await subscriptionIdOf(device.endpoint)).toBe(subscriptionId);
  });
});
