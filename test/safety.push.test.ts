/**
 * Push and safety (issue 11): a sender the receiver blocked, who blocked the receiver, who unmatched
 * or was suspended after the send never causes a push. The queue is held and its jobs are handed to
 * the Worker's queue handler, as in test/push.delivery.test.ts.
 */
import { describe, expect, it } from "vitest";
import { createAdmin, newUser, seedCredits } from "./helpers";
import { consume, envWith, type Held, heldQueue, sendVia, subscribed } from "./push";
import { block, suspendAs, unblock, unmatch } from "./safety";

async function offlinePair() {
  const alice = newUser("alice");
  const bob = newUser("bob");
  await seedCredits(alice, 20);
  const device = await subscribed(bob);
  const held = heldQueue();
  return { alice, bob, device, held, testEnv: envWith(held) };
}

async function drain(testEnv: Env, held: Held) {
  const notified = await consume(testEnv, held.take("notify"));
  const deliveries = held.take("deliver");
  const delivered = deliveries.length ? await consume(testEnv, deliveries) : { ids: [], acked: [], retried: [] };
  return { notified, deliveries, delivered };
}

describe("blocked senders never push", () => {
  const cases: [string, (p: { alice: string; bob: string }) => Promise<unknown>][] = [
    ["the receiver blocked the sender after the send", ({ alice, bob }) => block(bob, alice)],
    ["the sender blocked the receiver after the send", ({ alice, bob }) => block(alice, bob)],
    ["either unmatched after the send", ({ alice, bob }) => unmatch(bob, alice)],
    ["the sender was suspended after the send", async ({ alice }) => suspendAs(await createAdmin("moderator"), alice)],
  ];
  for (const [when, change] of cases) {
    it(`no push when ${when}: the job is acknowledged and nothing reaches the device`, async () => {
      const { alice, bob, device, held, testEnv } = await offlinePair();
      await sendVia(testEnv, alice, bob, "hello?");
      await change({ alice, bob });
      const { notified, deliveries } = await drain(testEnv, held);
      expect(notified.acked).toEqual(notified.ids);
      expect(deliveries).toEqual([]);
      expect(await device.received()).toEqual([]);
    });
  }

  it("a block after the fan-out stops the delivery too (it checks again), and an unblock lets the next message push", async () => {
    const { alice, bob, device, held, testEnv } = await offlinePair();
    await sendVia(testEnv, alice, bob, "first");
    await consume(testEnv, held.take("notify"));
    await block(bob, alice);
    const delivered = await consume(testEnv, held.take("deliver"));
    expect(delivered.acked).toEqual(delivered.ids);
    expect(await device.received()).toEqual([]);

    await unblock(bob, alice);
    await sendVia(testEnv, alice, bob, "second");
    await drain(testEnv, held);
    expect(await device.received()).toHaveLength(1);
  });
});
