/**
 * From a send to what the push service receives, with the consumer driven by the test: sends go
 * through the Worker with the push queue held (test/push.ts `heldQueue`), and each held job is handed
 * to the Worker's queue handler (`createMessageBatch`), so every outcome is known when it returns.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { topicOf } from "../src/services/push";
import { newUser, seedCredits } from "./helpers";
import { consume, envWith, heldQueue, sendVia, subscribed, verifyVapid } from "./push";

/** A sender with credits and a receiver with one subscribed device, plus a held queue. */
async function offlinePair(credits = 30) {
  const alice = newUser("alice");
  const bob = newUser("bob");
  await seedCredits(alice, credits);
  const device = await subscribed(bob);
  const held = heldQueue();
  return { alice, bob, device, held, testEnv: envWith(held) };
}

/** The notify jobs of the sends so far, consumed; then the deliveries they fanned out, consumed. */
async function drain(testEnv: Env, held: ReturnType<typeof heldQueue>) {
  const notified = await consume(testEnv, held.take("notify"));
  const deliveries = held.take("deliver");
  const delivered = deliveries.length ? await consume(testEnv, deliveries) : null;
  return { notified, deliveries, delivered };
}

describe("a message to a receiver with no open socket", () => {
  it("reaches their device as one Web Push request the device can decrypt, signed with our VAPID key", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    const sent = await sendVia(testEnv, alice, bob, "secret words");

    const [job] = held.held;
    expect(held.held).toHaveLength(1);
    expect(job?.delaySeconds).toBe(3600); // PUSH_COALESCE_SECONDS of the test config
    const { notified, deliveries, delivered } = await drain(testEnv, held);
    expect(notified.acked).toEqual(notified.ids);
    expect(deliveries).toHaveLength(1);
    expect(delivered?.acked).toEqual(delivered?.ids);

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
    expect(h.topic).toBe(await topicOf(bob, [alice, bob].sort().join(":")));
    expect(h.topic).not.toContain(bob);

    const { k, header, claims } = await verifyVapid(h.authorization, device.endpoint);
    expect(k).toBe(env.VAPID_PUBLIC_KEY);
    expect(header).toEqual({ typ: "JWT", alg: "ES256" });
    expect(claims.aud).toBe(new URL(device.endpoint).origin);
    expect(claims.sub).toBe(env.VAPID_SUBJECT);
    const now = Math.floor(Date.now() / 1000);
    expect(claims.exp).toBeGreaterThan(now);
    expect((claims.exp ?? 0) - now).toBeLessThanOrEqual(24 * 3600);
  });
});
