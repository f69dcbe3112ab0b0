/**
 * First contact (issue 11, FIRST_CONTACT_LIMIT): until the receiver has replied once, the sender may
 * have at most that many messages in the conversation, text only, without links or contact details.
 * The counts are read inside the send's batch (racing sends never pass the limit); the content check
 * is the detector's verdict (test/contact-details.test.ts). The setting is read per request, so these
 * tests send through the app with it set.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { firstContactLimitOf } from "../src/services/safety";
import { uploaded } from "./attachments";
import { BASE, balanceOf, count, json, newUser, seedCredits, tokenFor } from "./helpers";
import { png } from "./media";
import { balancesOffLedger, SEND } from "./safety";

const LIMIT = 3;

async function sendWithLimit(from: string, to: string, body: Record<string, unknown> = {}, limit = String(LIMIT)) {
  const res = await app.request(
    `${BASE}${SEND}`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(from)}`, "content-type": "application/json" },
      body: JSON.stringify({ receiver_id: to, content: "hello", ...body }),
    },
    { ...env, FIRST_CONTACT_LIMIT: limit, SEND_BURST_LIMIT: "1000", SEND_MINUTE_LIMIT: "1000" },
  );
  return { status: res.status, body: await json(res) };
}

async function twoUsers() {
  const [a, b] = [newUser("a"), newUser("b")];
  await Promise.all([seedCredits(a, 20), seedCredits(b, 20)]);
  return { a, b };
}

describe("first contact", () => {
  it(`allows ${LIMIT} messages until the receiver replies; the next is 403 first_contact, uncharged; a reply lifts the rule for both`, async () => {
    const { a, b } = await twoUsers();
    for (let i = 1; i <= LIMIT; i++) expect((await sendWithLimit(a, b, { content: `hi ${i}` })).status).toBe(201);
    const before = await balanceOf(a);
    const refused = await sendWithLimit(a, b, { content: "please answer" });
    expect(refused).toEqual({
      status: 403,
      body: {
        error: {
          code: "forbidden",
          message: "Until they reply you can send 3 messages",
          details: { reason: "first_contact", rule: "limit", limit: 3 },
        },
      },
    });
    expect(await balanceOf(a)).toBe(before);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(LIMIT);

    // B's reply is never limited (A wrote first), and it lifts the rule for A: links, photos, anything.
    expect((await sendWithLimit(b, a, { content: "hey! call me +1 415 555 0100" })).status).toBe(201);
    expect((await sendWithLimit(a, b, { content: "great, see www.example.com" })).status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await sendWithLimit(a, b, { content: `more ${i}` })).status).toBe(201);
    expect(await balancesOffLedger()).toEqual([]);
  });

  it("is text only until the reply: links, contact details, photos and other types are 403 first_contact (rule content), uncharged", async () => {
    const { a, b } = await twoUsers();
    const attachment = await uploaded(a, "image/png", png(2, 2));
    const refusedBodies = [
      { content: "add me on insta: jane_doe" },
      { content: "jane at gmail dot com" },
      { content: "my number is (415) 555-0100" },
      { content: "https://example.com" },
      { content: "look", message_type: "image", attachments: [{ attachment_id: attachment }] },
      { content: "a link", attachments: [{ url: "https://example.org/x.pdf", mime_type: "application/pdf", size_bytes: 10 }] },
    ];
    const before = await balanceOf(a);
    for (const body of refusedBodies) {
      const res = await sendWithLimit(a, b, body);
      expect(res, JSON.stringify(body)).toMatchObject({
        status: 403,
        body: { error: { details: { reason: "first_contact", rule: "content" } } },
      });
    }
    expect(await balanceOf(a)).toBe(before);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(0);
    // The upload was not taken by the refused send: it is still the sender's to send later.
    expect(await count("SELECT 1 FROM attachments WHERE id = ? AND state = 'uploaded'", attachment)).toBe(1);
    expect((await sendWithLimit(a, b, { content: "Hi! Loved your hiking photos" })).status).toBe(201);
  });

  it(`racing sends never pass the limit: 10 at once give exactly ${LIMIT} messages and ${LIMIT} charges`, async () => {
    const { a, b } = await twoUsers();
    const statuses = (await Promise.all(Array.from({ length: 10 }, (_, i) => sendWithLimit(a, b, { content: `race ${i}` })))).map(
      (r) => r.status,
    );
    expect(statuses.filter((s) => s === 201)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 403)).toHaveLength(10 - LIMIT);
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", a)).toBe(LIMIT);
    expect(await balanceOf(a)).toBe(20 - LIMIT);
    const members = await count("SELECT 1 FROM conversation_members WHERE user_id = ? AND sent_count = ?", a, LIMIT);
    expect(members).toBe(1);
  });

  it("a retry of a stored first message still answers the original (200) at the limit", async () => {
    const { a, b } = await twoUsers();
    const first = await sendWithLimit(a, b, { content: "hi there", client_message_id: "first" });
    for (let i = 1; i < LIMIT; i++) await sendWithLimit(a, b, { content: `hi ${i}` });
    const retry = await sendWithLimit(a, b, { content: "hi there", client_message_id: "first" });
    expect(retry.status).toBe(200);
    expect(retry.body.id).toBe(first.body.id);
  });

  it("is off by default (empty or 0): the test configuration sends ten messages and a link unanswered", async () => {
    expect(env.FIRST_CONTACT_LIMIT ?? "").toBe("");
    const { a, b } = await twoUsers();
    for (let i = 0; i < 10; i++) expect((await sendWithLimit(a, b, { content: `hi ${i}` }, "")).status).toBe(201);
    expect((await sendWithLimit(a, b, { content: "example.com" }, "0")).status).toBe(201);
    expect(firstContactLimitOf({ ...env, FIRST_CONTACT_LIMIT: " 5 " })).toBe(5);
    expect(() => firstContactLimitOf({ ...env, FIRST_CONTACT_LIMIT: "three" })).toThrow(/FIRST_CONTACT_LIMIT/);
  });
});
