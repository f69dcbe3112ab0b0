import { mkdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  apiAs,
  bubble,
  expectNoConsoleErrors,
  grant,
  openWindow,
  person,
  SCREENSHOTS,
  sideBySide,
  signIn,
  until,
  useHarness,
} from "./harness";
import { photo } from "./media";

useHarness();

describe("two people chatting", () => {
  it("exchange messages and see ticks Sent → Delivered → Read, typing, presence and unread badges change live", async () => {
    const [alice, bob] = [person("alice"), person("bob")];
    await Promise.all([grant(alice, 10), grant(bob, 10)]);
    const a = await openWindow("alice", { width: 640 });
    const b = await openWindow("bob", { width: 640 });

    await signIn(a.page, alice);
    await a.page.getByText("10 credits").waitFor();
    await a.page.getByLabel("Partner id").fill(bob);
    await a.page.getByRole("button", { name: "Start" }).click();
    await a.page.getByText(`Say hello to ${bob}`).waitFor();

    // Bob is not signed in anywhere: the message is stored and stays "Sent".
    const composer = a.page.getByRole("textbox", { name: "Message" });
    await composer.fill("Hi! Loved your hiking photos");
    await composer.press("Enter");
    await bubble(a.page, "Loved your hiking photos").getByRole("status", { name: "Sent" }).waitFor();
    await a.page.getByText("9 credits").waitFor();

    // Bob signs in: the conversation is listed with its unread count.
    await signIn(b.page, bob);
    const fromAlice = b.page.getByRole("list", { name: "Conversations" }).getByRole("listitem").filter({ hasText: alice });
    await fromAlice.getByText("1 unread").waitFor();

    // A second message reaches Bob's screen at once: "Delivered", and his badge counts it live.
    await composer.fill("Are you free this weekend?");
    await a.page.getByRole("button", { name: "Send" }).click();
    await bubble(a.page, "free this weekend").getByRole("status", { name: "Delivered" }).waitFor();
    await fromAlice.getByText("2 unread").waitFor();
    expect(await bubble(a.page, "Loved your hiking photos").getByRole("status", { name: "Sent" }).count()).toBe(1);

    // Bob opens it and sees both: both turn "Read" on Alice's screen, and Bob's badge goes.
    await b.page.getByRole("button", { name: alice, exact: true }).click();
    await bubble(b.page, "free this weekend").waitFor();
    await bubble(a.page, "Loved your hiking photos").getByRole("status", { name: "Read" }).waitFor();
    await bubble(a.page, "free this weekend").getByRole("status", { name: "Read" }).waitFor();
    await fromAlice.getByText(/unread/).waitFor({ state: "hidden" });

    // Presence and typing come from the conversation socket.
    await a.page.getByRole("status", { name: "online" }).waitFor();
    const reply = b.page.getByRole("textbox", { name: "Message" });
    await reply.pressSequentially("Yes! Saturday");
    await a.page.getByText(`${bob} is typing`).waitFor();
    await reply.press("Shift+Enter");
    await reply.pressSequentially("morning?");
    expect(await reply.inputValue()).toBe("Yes! Saturday\nmorning?");
    await reply.press("Enter");
    await bubble(a.page, "Saturday").waitFor();
    await a.page.getByText(`${bob} is typing`).waitFor({ state: "hidden" });
    await bubble(b.page, "Saturday").getByRole("status", { name: "Read" }).waitFor();
    expect(await bubble(a.page, "Saturday").locator(".content").textContent()).toBe("Yes! Saturday\nmorning?");

    // Alice's list shows the latest message first for her too.
    const list = a.page.getByRole("list", { name: "Conversations" });
    await list.getByRole("listitem").filter({ hasText: "morning?" }).waitFor();

    // Deleting her own message leaves a tombstone in place on both screens.
    await bubble(a.page, "free this weekend").hover();
    await bubble(a.page, "free this weekend").getByRole("button", { name: "Delete" }).click();
    await a.page.getByText("You deleted this message").waitFor();
    await b.page.getByText("This message was deleted").waitFor();
    expect(await bubble(b.page, "free this weekend").count()).toBe(0);

    // A photo with a caption: Bob has replied, so it reaches him unblurred, in the box its size reserves.
    const [chooser] = await Promise.all([
      a.page.waitForEvent("filechooser"),
      a.page.getByRole("button", { name: "Attach a photo or file" }).click(),
    ]);
    await chooser.setFiles({ name: "ridge.jpg", mimeType: "image/jpeg", buffer: await photo(a.page) });
    await composer.fill("The view from the ridge");
    await composer.press("Enter");
    const pictured = bubble(b.page, "The view from the ridge");
    await pictured.getByRole("img", { name: "ridge.jpg" }).waitFor();
    await until(
      b.page,
      () => pictured.locator("img").evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 480),
      "the photo",
    );
    expect(await pictured.getByRole("button", { name: "Tap to view" }).count()).toBe(0);
    await bubble(a.page, "The view from the ridge").getByRole("status", { name: "Read" }).waitFor();

    if (SCREENSHOTS) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await sideBySide(a.page, b.page, `${SCREENSHOTS}/chat.png`);
    }
    expectNoConsoleErrors();
  });

  it("a failed send shows why, and Retry reuses its client_message_id so it is charged once", async () => {
    const [carol, dave] = [person("carol"), person("dave")];
    const c = await openWindow("carol", { allow: [/status of 402/] });
    const sent: string[] = [];
    c.page.on("request", (req) => {
      if (req.method() === "POST" && req.url().endsWith("/api/v2/messages/send"))
        sent.push(JSON.parse(req.postData() ?? "{}").client_message_id);
    });
    await signIn(c.page, carol);
    await c.page.getByText("0 credits").waitFor();
    await c.page.getByLabel("Partner id").fill(dave);
    await c.page.getByRole("button", { name: "Start" }).click();
    await c.page.getByRole("textbox", { name: "Message" }).fill("Still on for Friday?");
    await c.page.getByRole("button", { name: "Send" }).click();

    const item = bubble(c.page, "Still on for Friday?");
    await item.getByRole("status", { name: "Failed" }).waitFor();
    await item.getByText("Not enough credits to send: you have 0 credits").waitFor();

    await grant(carol, 1);
    await item.getByRole("button", { name: "Retry" }).click();
    await item.getByRole("status", { name: "Sent" }).waitFor();
    expect(await item.getByRole("button", { name: "Retry" }).count()).toBe(0);
    expect(await bubble(c.page, "Still on for Friday?").count()).toBe(1);

    expect(sent).toHaveLength(2);
    expect(sent[1]).toBe(sent[0]);
    expect(await apiAs(carol, "GET", "/api/v2/credits/balance")).toMatchObject({ balance: 0 });
    const ledger = await apiAs(carol, "GET", "/api/v2/credits/transactions");
    expect(ledger.transactions.map((t: { amount: number }) => t.amount).sort()).toEqual([-1, 1]);
    const seen = await apiAs(dave, "GET", `/api/v2/messages/conversation/${carol}`);
    expect(seen.messages.map((m: { content: string }) => m.content)).toEqual(["Still on for Friday?"]);
    expectNoConsoleErrors();
  });

  it("a reply whose response is lost after the server stored it shows once and is charged once", async () => {
    const [erin, finn] = [person("erin"), person("finn")];
    await grant(erin, 3);
    const e = await openWindow("erin");
    await signIn(e.page, erin);
    await e.page.getByLabel("Partner id").fill(finn);
    await e.page.getByRole("button", { name: "Start" }).click();
    await e.page.getByText(`Say hello to ${finn}`).waitFor();
    let dropped = false;
    await e.page.route("**/api/v2/messages/send", async (route) => {
      if (dropped) return route.continue();
      dropped = true;
      await route.fetch(); // the server stores and charges it...
      await route.abort("connectionreset"); // ...and the answer never reaches the browser
    });
    await e.page.getByRole("textbox", { name: "Message" }).fill("Lost in the mail?");
    await e.page.getByRole("button", { name: "Send" }).click();
    const item = bubble(e.page, "Lost in the mail?");
    // The conversation socket brings the stored copy, so it is not left "Failed".
    await item.getByRole("status", { name: "Sent" }).waitFor();
    expect(await bubble(e.page, "Lost in the mail?").count()).toBe(1);
    expect(await apiAs(erin, "GET", "/api/v2/credits/balance")).toMatchObject({ balance: 2 });
    e.allowed.push(/net::ERR_CONNECTION_RESET/);
    expectNoConsoleErrors();
  });

  it("loads older pages when scrolled to the top, keeping day separators and order", async () => {
    const [gina, hank] = [person("gina"), person("hank")];
    await Promise.all([grant(gina, 30), grant(hank, 30)]);
    for (let i = 1; i <= 50; i++) {
      const [from, to] = i % 2 ? [gina, hank] : [hank, gina];
      await apiAs(from, "POST", "/api/v2/messages/send", {
        receiver_id: to,
        content: `message number ${i}`,
        client_message_id: `seed-${i}`,
      });
    }
    // Gina has read them all (elsewhere), so the conversation opens at the bottom, not at an unread divider.
    const history = await apiAs(gina, "GET", `/api/v2/messages/conversation/${hank}?limit=100`);
    const toGina = history.messages.filter((m: { receiver_id: string }) => m.receiver_id === gina).map((m: { id: string }) => m.id);
    await apiAs(gina, "POST", "/api/v2/messages/mark-read", { message_ids: toGina });
    const g = await openWindow("gina", { width: 375, height: 740 });
    await signIn(g.page, gina);
    await g.page.getByRole("button", { name: hank, exact: true }).click();
    const log = g.page.getByRole("log", { name: "Messages" });
    await log.getByText("message number 50", { exact: true }).waitFor();
    expect(await log.getByText("message number 1", { exact: true }).count()).toBe(0);
    expect(await log.locator(".message").count()).toBe(30);

    await log.evaluate((el) => el.scrollTo({ top: 0 }));
    await log.getByText("message number 1", { exact: true }).waitFor();
    await log.getByText(`This is the beginning of your conversation with ${hank}.`).waitFor();
    const texts = await log.locator(".message .content").allInnerTexts();
    expect(texts).toEqual(Array.from({ length: 50 }, (_, i) => `message number ${i + 1}`));
    expect(await log.locator(".day").count()).toBe(1);
    // The phone layout: one screen at a time, with a way back to the list.
    await g.page.getByRole("button", { name: "Back to conversations" }).click();
    await g.page.getByRole("list", { name: "Conversations" }).waitFor();
    expectNoConsoleErrors();
  });
});
