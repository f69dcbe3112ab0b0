import { mkdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { admin, apiAs, bubble, expectNoConsoleErrors, grant, openWindow, person, SCREENSHOTS, signIn, useHarness } from "./harness";
import { photo, sendPhoto } from "./media";

useHarness();

const SECTIONS = ["Search", "Reports", "Overview", "Audit log", "Admins"];
const headings = async (page: import("playwright-core").Page) => {
  await page.getByText("Loading your permissions…").waitFor({ state: "hidden" });
  const shown: string[] = [];
  for (const name of SECTIONS) if (await page.getByRole("heading", { name, exact: true }).count()) shown.push(name);
  return shown;
};

describe("the admin console", () => {
  it("a moderator blocks a message and the receiver's screen hides it without a reload", async () => {
    const [kate, liam] = [person("kate"), person("liam")];
    await grant(kate, 3);
    const word = `crypto${Math.random().toString(36).slice(2, 8)}`;
    await apiAs(kate, "POST", "/api/v2/messages/send", { receiver_id: liam, content: `Send me ${word} and I will double it` });

    const l = await openWindow("liam");
    await signIn(l.page, liam);
    await l.page.getByRole("button", { name: kate, exact: true }).click();
    await bubble(l.page, word).waitFor();

    const mod = await openWindow("moderator");
    await signIn(mod.page, await admin("moderator"), "/admin");
    expect(await headings(mod.page)).toEqual(["Search", "Reports"]);
    await mod.page.getByLabel("Search text").fill(word);
    await mod.page.getByRole("button", { name: "Search", exact: true }).click();
    const row = mod.page.getByRole("row").filter({ hasText: word });
    await row.waitFor();
    await row.getByRole("button", { name: "Moderate" }).click();
    const dialog = mod.page.getByRole("dialog", { name: "Moderate message" });
    await dialog.getByLabel("Moderation status").selectOption("blocked");
    await dialog.getByLabel("Reason").fill("scam");
    await dialog.getByRole("button", { name: "Apply" }).click();
    await dialog.waitFor({ state: "hidden" });
    await row.getByText("blocked", { exact: true }).waitFor();
    await row.getByText("scam").waitFor();

    await l.page.getByText("Message hidden by moderation").first().waitFor();
    expect(await bubble(l.page, word).count()).toBe(0);
    // Escape closes a dialog.
    await row.getByRole("button", { name: "Moderate" }).click();
    await dialog.waitFor();
    await mod.page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expectNoConsoleErrors();
  });

  it("an analyst sees the chart and exports CSV, but has no Moderate button", async () => {
    const a = await openWindow("analyst");
    await signIn(a.page, await admin("analyst"), "/admin");
    expect(await headings(a.page)).toEqual(["Overview"]);
    await a.page.getByRole("img", { name: "Messages per day" }).waitFor();
    expect(await a.page.getByRole("button", { name: "Moderate" }).count()).toBe(0);
    const [download] = await Promise.all([a.page.waitForEvent("download"), a.page.getByRole("link", { name: "Export CSV" }).click()]);
    expect(download.suggestedFilename()).toMatch(/^pairly-messages-.*\.csv$/);
    const csv = readFileSync(await download.path(), "utf8");
    expect(csv.split("\r\n")[0]).toContain("content");
    expectNoConsoleErrors();
  });

  it("a support agent sees Search but no Overview and no Moderate button", async () => {
    const [mia, noah] = [person("mia"), person("noah")];
    await grant(mia, 1);
    await apiAs(mia, "POST", "/api/v2/messages/send", { receiver_id: noah, content: "hello from mia" });
    const s = await openWindow("support");
    await signIn(s.page, await admin("support"), "/admin");
    expect(await headings(s.page)).toEqual(["Search", "Reports"]);
    await s.page.getByLabel("Sender").fill(mia);
    await s.page.getByRole("button", { name: "Search", exact: true }).click();
    await s.page.getByRole("row").filter({ hasText: "hello from mia" }).waitFor();
    expect(await s.page.getByRole("button", { name: "Moderate" }).count()).toBe(0);
    expectNoConsoleErrors();
  });

  it("a super admin sees every section, verifies the audit chain and manages admins", async () => {
    const root = await admin("super_admin");
    const p = await openWindow("super admin");
    await signIn(p.page, root, "/admin");
    expect(await headings(p.page)).toEqual(["Search", "Reports", "Overview", "Audit log", "Admins"]);
    await p.page.getByRole("button", { name: "Verify chain" }).click();
    await p.page.getByText(/Chain intact: \d+ rows checked/).waitFor();

    const newcomer = person("ops");
    await p.page.getByLabel("New admin id").fill(newcomer);
    await p.page.getByLabel("Email").fill(`${newcomer}@pairly.test`);
    await p.page.getByLabel("Role", { exact: true }).selectOption("analyst");
    await p.page.getByRole("button", { name: "Create admin" }).click();
    const row = p.page.getByRole("row").filter({ hasText: newcomer });
    await row.waitFor();
    await row.getByLabel(`Role of ${newcomer}`).selectOption("moderator");
    await p.page.getByText(`${newcomer} is now moderator.`).waitFor();
    await row.getByRole("button", { name: `Deactivate ${newcomer}` }).click();
    await row.getByText("inactive").waitFor();
    expect(await apiAs(root, "GET", "/api/admin/admins")).toMatchObject({
      admins: expect.arrayContaining([expect.objectContaining({ id: newcomer, role: "moderator", active: false })]),
    });

    await p.page.getByLabel("Action", { exact: true }).fill("admins.upsert");
    await p.page.getByRole("button", { name: "Show entries" }).click();
    await p.page.getByRole("row").filter({ hasText: newcomer }).first().waitFor();

    if (SCREENSHOTS) {
      const [mia, noah] = [person("mia"), person("noah")];
      await grant(mia, 1);
      await sendPhoto(mia, noah, await photo(p.page), "hello from the lake");
      await p.page.getByLabel("Search text").fill("hello");
      await p.page.getByRole("button", { name: "Search", exact: true }).click();
      await p.page.getByText(/messages? match/).waitFor();
      await p.page.getByRole("img", { name: "photo.jpg" }).waitFor();
      await p.page.evaluate(() => window.scrollTo(0, 0));
      mkdirSync(SCREENSHOTS, { recursive: true });
      await p.page.screenshot({ path: `${SCREENSHOTS}/console.png` });
    }
    expectNoConsoleErrors();
  });
});
