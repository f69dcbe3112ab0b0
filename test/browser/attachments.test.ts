import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { admin, apiAs, bubble, expectNoConsoleErrors, grant, openWindow, person, signIn, until, useHarness } from "./harness";
import { pdf, photo, video, voiceNote } from "./media";

useHarness();

const messages = (page: Page) => page.getByRole("log", { name: "Messages" });

async function startWith(page: Page, partner: string) {
  await page.getByLabel("Partner id").fill(partner);
  await page.getByRole("button", { name: "Start" }).click();
  await page.getByRole("heading", { name: partner }).waitFor();
}

/** Picks a file through the composer's paperclip, as a person would. */
async function attach(page: Page, file: { name: string; mimeType: string; buffer: Buffer }) {
  const [chooser] = await Promise.all([
    page.waitForEvent("filechooser"),
    page.getByRole("button", { name: "Attach a photo or file" }).click(),
  ]);
  await chooser.setFiles(file);
  await page.locator(".draft").getByText(file.name).waitFor();
}

const loaded = (page: Page, selector: string) =>
  page.locator(selector).evaluateAll((els) => els.map((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth));

describe("photos, voice notes and files", () => {
  it("A sends a photo; B sees it blurred, taps to view it; a moderator blocks it and it disappears from B's screen live", async () => {
    const [alice, bob] = [person("alice"), person("bob")];
    await grant(alice, 5);
    const a = await openWindow("alice");
    await signIn(a.page, alice);
    await startWith(a.page, bob);

    // A slow uplink, so the upload's progress is on screen long enough to see.
    const picture = await photo(a.page);
    const cdp = await a.context.newCDPSession(a.page);
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: picture.length,
    });
    await attach(a.page, { name: "hike.jpg", mimeType: "image/jpeg", buffer: picture });
    await a.page.getByRole("button", { name: "Send" }).click();
    const progress = messages(a.page).getByRole("progressbar", { name: "Uploading" });
    await progress.waitFor();
    await progress.waitFor({ state: "hidden" });
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const sent = messages(a.page)
      .locator(".message.mine")
      .filter({ has: a.page.getByRole("img", { name: "hike.jpg" }) });
    await sent.getByRole("status", { name: "Sent" }).waitFor();
    // No caption was typed: the photo stands alone (its stored content is the label "Photo").
    expect(await sent.locator(".content").count()).toBe(0);
    const [stored] = (await apiAs(alice, "GET", `/api/v2/messages/conversation/${bob}`)).messages;
    expect(stored).toMatchObject({ message_type: "image", content: "Photo", metadata: { label_only: true } });
    expect(stored.attachments[0]).toMatchObject({ mime_type: "image/jpeg", size_bytes: picture.length, width: 480, height: 360 });

    // Bob has never replied to Alice: the photo comes blurred, with its final size reserved.
    const b = await openWindow("bob");
    await signIn(b.page, bob);
    await b.page.getByRole("button", { name: alice, exact: true }).click();
    const reveal = messages(b.page).getByRole("button", { name: "Tap to view" });
    await reveal.waitFor();
    expect(await messages(b.page).getByRole("img", { name: "hike.jpg" }).count()).toBe(0);
    const box = await b.page.locator(".media.photo").boundingBox();
    expect(box && Math.round(box.width) / Math.round(box.height)).toBeCloseTo(480 / 360, 1);

    await reveal.click();
    const shown = messages(b.page).getByRole("img", { name: "hike.jpg" });
    await shown.waitFor();
    await until(b.page, async () => (await loaded(b.page, ".media.photo img"))[0] === 480, "the photo to load");
    expect(await reveal.count()).toBe(0);
    const src = (await shown.getAttribute("src")) ?? "";
    expect(src).toMatch(new RegExp(`/api/v2/attachments/${stored.attachments[0].attachment_id}\\?ticket=`));

    // The moderator sees the photo in the console (fetched with the token, shown from a blob URL) and blocks it.
    const mod = await openWindow("moderator");
    await signIn(mod.page, await admin("moderator"), "/admin");
    await mod.page.getByLabel("Sender").fill(alice);
    await mod.page.getByRole("button", { name: "Search", exact: true }).click();
    const row = mod.page.getByRole("row").filter({ hasText: bob });
    const inConsole = row.getByRole("img", { name: "hike.jpg" });
    await inConsole.waitFor();
    await until(mod.page, async () => (await loaded(mod.page, "img.admin-media"))[0] === 480, "the console's copy to load");
    expect(await inConsole.getAttribute("src")).toMatch(/^blob:/);
    // The conversation view shows it too.
    await row.getByRole("button", { name: "Conversation" }).click();
    const thread = mod.page.getByRole("dialog", { name: `Conversation between ${alice} and ${bob}` });
    await thread.getByRole("img", { name: "hike.jpg" }).waitFor();
    await mod.page.keyboard.press("Escape");
    await thread.waitFor({ state: "hidden" });
    await row.getByRole("button", { name: "Moderate" }).click();
    const dialog = mod.page.getByRole("dialog", { name: "Moderate message" });
    await dialog.getByLabel("Moderation status").selectOption("blocked");
    await dialog.getByLabel("Reason").fill("explicit photo");
    await dialog.getByRole("button", { name: "Apply" }).click();
    await row.getByText("blocked", { exact: true }).waitFor();

    // Bob's open screen loses the photo without a reload: no media element, no ticket URL left in the page.
    await messages(b.page).getByText("Message hidden by moderation").waitFor();
    expect(await messages(b.page).getByRole("img").count()).toBe(0);
    expect(await b.page.locator("[src*='ticket=']").count()).toBe(0);
    expect(await b.page.content()).not.toContain("ticket=");
    // The URL Bob's browser had is refused now too.
    expect((await fetch(src)).status).toBe(404);
    // Alice still has her own photo, marked as blocked.
    await sent.getByText("Blocked by moderation").waitFor();
    expectNoConsoleErrors();
  });

  it("a voice note, a video and a PDF: native controls served in ranges, a named download, nothing blurred once she has replied", async () => {
    const [cara, dan] = [person("cara"), person("dan")];
    await Promise.all([grant(cara, 5), grant(dan, 5)]);
    await apiAs(cara, "POST", "/api/v2/messages/send", { receiver_id: dan, content: "Hey Dan!" });
    const d = await openWindow("dan", { width: 375, height: 740 });
    await signIn(d.page, dan);
    await d.page.getByRole("button", { name: cara, exact: true }).click();
    await bubble(d.page, "Hey Dan!").waitFor();

    const note = await voiceNote(d.page);
    // As MediaRecorder names it (with its codec): the client declares and uploads it as audio/webm.
    await attach(d.page, { name: "hello.webm", mimeType: "audio/webm;codecs=opus", buffer: note });
    await d.page.getByRole("textbox", { name: "Message" }).fill("Listen to this");
    await d.page.getByRole("textbox", { name: "Message" }).press("Enter");
    await bubble(d.page, "Listen to this").getByRole("status", { name: "Sent" }).waitFor();
    await attach(d.page, { name: "waterfall.webm", mimeType: "video/webm", buffer: await video(d.page) });
    await d.page.getByRole("textbox", { name: "Message" }).fill("The waterfall");
    await d.page.getByRole("textbox", { name: "Message" }).press("Enter");
    await bubble(d.page, "The waterfall").getByRole("status", { name: "Sent" }).waitFor();
    const menu = pdf("Trail map");
    await attach(d.page, { name: "trail-map.pdf", mimeType: "application/pdf", buffer: menu });
    await d.page.getByRole("button", { name: "Send" }).click();
    await messages(d.page).locator(".message.mine", { hasText: "trail-map.pdf" }).getByRole("status", { name: "Sent" }).waitFor();

    const c = await openWindow("cara", { width: 375, height: 740 });
    const ranges: number[] = [];
    c.page.on("response", (res) => {
      if (res.url().includes("/api/v2/attachments/") && res.request().method() === "GET") ranges.push(res.status());
    });
    await signIn(c.page, cara);
    await c.page.getByRole("button", { name: dan, exact: true }).click();

    // The voice note plays from the server in ranges (206), so it can seek; it is never blurred.
    const audio = bubble(c.page, "Listen to this").locator("audio[controls]");
    await audio.waitFor();
    await until(c.page, async () => (await audio.evaluate((el: HTMLAudioElement) => el.readyState)) >= 1, "the voice note's metadata");
    const clip = bubble(c.page, "The waterfall").locator("video[controls]");
    await until(c.page, async () => (await clip.evaluate((el: HTMLVideoElement) => el.readyState)) >= 1, "the video's metadata");
    expect(await clip.evaluate((el: HTMLVideoElement) => el.videoWidth)).toBe(320);
    expect(ranges).toContain(206);
    expect(await c.page.getByRole("button", { name: "Tap to view" }).count()).toBe(0);

    // The PDF is a download link with its name and size; it downloads the same bytes under that name.
    const file = messages(c.page).getByRole("link", { name: /trail-map\.pdf/ });
    await file.getByText(/^PDF · \d+ B$/).waitFor();
    const [download] = await Promise.all([c.page.waitForEvent("download"), file.click()]);
    expect(download.suggestedFilename()).toBe("trail-map.pdf");
    const saved = await download.createReadStream();
    const chunks: Buffer[] = [];
    for await (const chunk of saved) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(menu)).toBe(true);
    expectNoConsoleErrors();
  });

  it("a photo whose send failed (no credits) is sent by Retry without uploading it again, and charged once", async () => {
    const [eve, finn] = [person("eve"), person("finn")];
    const e = await openWindow("eve", { allow: [/status of 402/] });
    const calls: string[] = [];
    e.page.on("request", (req) => {
      const path = new URL(req.url()).pathname;
      if (path.startsWith("/api/v2/attachments") || path === "/api/v2/messages/send")
        calls.push(`${req.method()} ${path.replace(/att_\w+/, "{id}")}`);
    });
    await signIn(e.page, eve);
    await startWith(e.page, finn);
    await attach(e.page, { name: "sunset.png", mimeType: "image/png", buffer: await photo(e.page, "image/png", 320, 240) });
    await e.page.getByRole("textbox", { name: "Message" }).fill("Sunset from the top");
    await e.page.getByRole("button", { name: "Send" }).click();
    const item = bubble(e.page, "Sunset from the top");
    await item.getByRole("status", { name: "Failed" }).waitFor();
    await item.getByText("Not enough credits to send").waitFor();
    await grant(eve, 1);
    await item.getByRole("button", { name: "Retry" }).click();
    await item.getByRole("status", { name: "Sent" }).waitFor();
    expect(calls).toEqual([
      "POST /api/v2/attachments",
      "PUT /api/v2/attachments/{id}",
      "POST /api/v2/messages/send",
      "POST /api/v2/messages/send",
    ]);
    expect(await apiAs(eve, "GET", "/api/v2/credits/balance")).toMatchObject({ balance: 0 });
    const seen = await apiAs(finn, "GET", `/api/v2/messages/conversation/${eve}`);
    expect(seen.messages).toHaveLength(1);
    expect(seen.messages[0]).toMatchObject({ content: "Sunset from the top", message_type: "image", metadata: {} });
    expectNoConsoleErrors();
  });
});
