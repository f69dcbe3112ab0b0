import { describe, expect, it } from "vitest";
import { admin, apiAs, bubble, expectNoConsoleErrors, grant, openWindow, person, signIn, useHarness } from "./harness";

useHarness();

const conversationItem = (page: import("playwright-core").Page, partner: string) =>
  page.getByRole("list", { name: "Conversations" }).getByRole("button", { name: partner, exact: true });

describe("safety in the chat and the console", () => {
  it("A blocks B: the conversation disappears from A's screen at once, and B's next message never shows there", async () => {
    const [ana, ben] = [person("ana"), person("ben")];
    await Promise.all([grant(ana, 5), grant(ben, 5)]);
    await apiAs(ben, "POST", "/api/v2/messages/send", { receiver_id: ana, content: "Hi Ana, nice profile" });
    const a = await openWindow("ana", { width: 640 });
    // Ben's refused send (404) and, when the block came before his socket, its refused upgrade (404).
    const b = await openWindow("ben", { width: 640, allow: [/status of 404/, /Unexpected response code: 404/] });
    await signIn(a.page, ana);
    await signIn(b.page, ben);
    await conversationItem(a.page, ben).click();
    await bubble(a.page, "nice profile").waitFor();
    await conversationItem(b.page, ana).click();
    await bubble(b.page, "Hi Ana, nice profile").waitFor();

    await a.page.getByRole("button", { name: "Block", exact: true }).click();
    await a.page.getByText(`You blocked ${ben}.`).waitFor();
    await conversationItem(a.page, ben).waitFor({ state: "detached" });
    expect(await a.page.getByRole("log", { name: "Messages" }).count()).toBe(0);

    // Ben is told nothing but that his message cannot go out.
    const composer = b.page.getByRole("textbox", { name: "Message" });
    await composer.fill("Why did you stop answering?");
    await composer.press("Enter");
    const failed = bubble(b.page, "Why did you stop answering?");
    await failed.getByRole("status", { name: "Failed" }).waitFor();
    await failed.getByText(`Not sent: ${ana} cannot be reached.`).waitFor();
    expect(await b.page.getByText("Reconnecting").count()).toBe(0);
    // By now the send was refused by the server; nothing of it ever reached Ana's screen.
    expect(await a.page.getByText("Why did you stop answering?").count()).toBe(0);
    expect(await conversationItem(a.page, ben).count()).toBe(0);
    const stored = await apiAs(ben, "GET", `/api/v2/messages/conversation/${ana}`);
    expect(stored.messages.map((m: { content: string }) => m.content)).toEqual(["Hi Ana, nice profile"]);

    // Opening Ben again shows the block, with Unblock; unblocking brings the history back.
    await a.page.getByLabel("Partner id").fill(ben);
    await a.page.getByRole("button", { name: "Start" }).click();
    await a.page.getByText(`You blocked ${ben}`, { exact: true }).waitFor();
    await a.page.getByRole("button", { name: "Unblock" }).click();
    await bubble(a.page, "nice profile").waitFor();
    await conversationItem(a.page, ben).waitFor();
    expectNoConsoleErrors();
  });

  it("a report made in the client appears in the console's queue with its snapshot, and resolving it suspends the user", async () => {
    const [cleo, dan] = [person("cleo"), person("dan")];
    await grant(cleo, 5);
    await apiAs(cleo, "POST", "/api/v2/messages/send", { receiver_id: dan, content: "Send me your bank details, I will double it" });
    const d = await openWindow("dan");
    await signIn(d.page, dan);
    await conversationItem(d.page, cleo).click();
    await bubble(d.page, "Send me your bank details").waitFor();
    await d.page.getByRole("button", { name: "Report" }).click();
    const dialog = d.page.getByRole("dialog", { name: `Report ${cleo}` });
    await dialog.getByLabel("Reason").selectOption("scam");
    await dialog.getByLabel("Details (optional)").fill("asks for money");
    await dialog.getByRole("button", { name: "Send report" }).click();
    await d.page.getByText(`Thanks. Your report about ${cleo} was sent.`).waitFor();
    await dialog.waitFor({ state: "hidden" });
    expect(await conversationItem(d.page, cleo).count()).toBe(1); // a report alone does not block

    const moderator = await admin("moderator");
    const m = await openWindow("moderator");
    await signIn(m.page, moderator, "/admin");
    await m.page.getByRole("heading", { name: "Reports", exact: true }).waitFor();
    const row = m.page.getByRole("row").filter({ hasText: cleo }).filter({ hasText: dan });
    await row.getByText("scam").waitFor();
    await row.getByRole("button", { name: "View snapshot" }).click();
    const snapshot = m.page.getByRole("dialog", { name: /^Snapshot of report/ });
    await snapshot.getByText("Send me your bank details, I will double it").waitFor();
    await snapshot.getByText("asks for money", { exact: false }).waitFor();
    await m.page.keyboard.press("Escape");
    await snapshot.waitFor({ state: "hidden" });

    await row.getByRole("button", { name: "Resolve" }).click();
    const resolve = m.page.getByRole("dialog", { name: /^Resolve report/ });
    await resolve.getByLabel("Resolution").selectOption("user_suspended");
    await resolve.getByLabel("Note").fill("money scam");
    await resolve.getByRole("button", { name: "Resolve" }).click();
    await resolve.waitFor({ state: "hidden" });
    // The queue shows open reports by default: the resolved one leaves it; with "resolved" it is there, suspended.
    await row.waitFor({ state: "detached" });
    await m.page.getByLabel("Status").selectOption("resolved");
    await m.page.getByRole("button", { name: "Show reports" }).click();
    await row.getByText("user_suspended").waitFor();
    await row.getByText("suspended", { exact: true }).waitFor();
    await row.getByRole("button", { name: "Unsuspend" }).waitFor();
    expectNoConsoleErrors();
  });

  it("Unmatch asks first; then the conversation disappears from both screens live", async () => {
    const [eve, fred] = [person("eve"), person("fred")];
    await Promise.all([grant(eve, 3), grant(fred, 3)]);
    await apiAs(fred, "POST", "/api/v2/messages/send", { receiver_id: eve, content: "Coffee sometime?" });
    const e = await openWindow("eve", { width: 640 });
    const f = await openWindow("fred", { width: 640 });
    await signIn(e.page, eve);
    await signIn(f.page, fred);
    await conversationItem(e.page, fred).click();
    await conversationItem(f.page, eve).click();
    await bubble(f.page, "Coffee sometime?").waitFor();

    await e.page.getByRole("button", { name: "Unmatch" }).click();
    const confirm = e.page.getByRole("dialog", { name: `Unmatch ${fred}?` });
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "hidden" });
    expect(await conversationItem(e.page, fred).count()).toBe(1); // nothing happened

    await e.page.getByRole("button", { name: "Unmatch" }).click();
    await confirm.getByRole("button", { name: "Unmatch" }).click();
    await conversationItem(e.page, fred).waitFor({ state: "detached" });
    await conversationItem(f.page, eve).waitFor({ state: "detached" });
    await f.page.getByText("Pick a conversation").waitFor();
    expect(await f.page.getByText("Coffee sometime?").count()).toBe(0);
    expectNoConsoleErrors();
  });
});
