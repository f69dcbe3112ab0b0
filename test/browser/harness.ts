/**
 * What every browser test shares: the suite's server (or the file's own), one Chromium per file, people who sign in through
 * the UI, API calls for the setup a test is not about, a screenshot of every page when a test fails,
 * and the rule that no page logs an error.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect, inject } from "vitest";
import { launch, watchConsole } from "./browser";
import { PORT, Server } from "./server";

/** The server the file's tests talk to: the suite's shared one, or the file's own (assigned before its tests run). */
export let server: Server;
let browser: Browser;
type Opened = { name: string; context: BrowserContext; page: Page; problems: string[]; allowed: RegExp[] };
let opened: Opened[] = [];

/** `ownServer`: a server for this file alone (on the next port), for a file that stops and restarts it. */
export function useHarness({ ownServer = false } = {}) {
  beforeAll(async () => {
    if (ownServer) {
      server = new Server(PORT + 1);
      await server.start();
    } else {
      const shared = inject("browserServer");
      server = new Server(shared.port, shared.persist);
    }
    browser = await launch();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === "fail") {
      const dir = join("test-results", "browser");
      mkdirSync(dir, { recursive: true });
      for (const o of opened) {
        await o.page
          .screenshot({ path: join(dir, `${ctx.task.name.replace(/[^\w]+/g, "-").slice(0, 80)}-${o.name}.png`), fullPage: true })
          .catch(() => {});
      }
    }
    for (const o of opened) await o.context.close().catch(() => {});
    opened = [];
  });
  afterAll(async () => {
    await browser?.close();
    if (ownServer) await server.dispose();
  });
}

/** A unique user id per test run: the database outlives no run, but tests in a file share it. */
export const person = (name: string) => `${name}_${Math.random().toString(36).slice(2, 7)}`;

/** A browser window of its own (its own sessionStorage): one person. `allow` lists console errors the test provokes on purpose. */
export async function openWindow(name: string, opts: { width?: number; height?: number; allow?: RegExp[] } = {}) {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const o: Opened = { name, context, page, problems: watchConsole(page), allowed: opts.allow ?? [] };
  opened.push(o);
  return o;
}

/** No page logged an error other than the ones the test provoked. */
export function expectNoConsoleErrors() {
  for (const o of opened)
    expect(
      o.problems.filter((p) => !o.allowed.some((a) => a.test(p))),
      o.name,
    ).toEqual([]);
}

export async function signIn(page: Page, userId: string, path = "/") {
  await page.goto(`${server.url}${path}`);
  await page.getByLabel("User id").fill(userId);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
}

export async function tokenOf(userId: string): Promise<string> {
  const res = await fetch(`${server.url}/api/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id: userId }),
  });
  return ((await res.json()) as { token: string }).token;
}

export async function apiAs(userId: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${await tokenOf(userId)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

let root: string | null = null;
/** The first super admin is a row inserted by SQL (as the README's deploy recipe does); the others are made over the API. */
export async function admin(role: "support" | "moderator" | "analyst" | "admin" | "super_admin"): Promise<string> {
  if (!root) {
    root = person("root");
    const now = new Date().toISOString();
    server.sql(
      `INSERT INTO admins (id, email, role, active, created_at, updated_at) VALUES ('${root}', '${root}@pairly.test', 'super_admin', 1, '${now}', '${now}')`,
    );
  }
  if (role === "super_admin") return root;
  const id = person(role);
  await apiAs(root, "PUT", `/api/admin/admins/${id}`, { email: `${id}@pairly.test`, role });
  return id;
}

export async function grant(userId: string, amount: number) {
  return apiAs(await admin("super_admin"), "POST", "/api/admin/credits/grant", { user_id: userId, amount, reason: "browser test" });
}

/** One of the caller's messages in the open conversation, found by its text. */
export const bubble = (page: Page, text: string) => page.getByRole("log", { name: "Messages" }).locator(".message", { hasText: text });

/** Waits until `check` holds (Playwright's own polling, no sleeps). */
export async function until(page: Page, check: () => boolean | Promise<boolean>, what: string) {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(100);
  }
}

/** Two pages side by side in one 1280×800 picture (for the README), composed by Chromium itself. */
export async function sideBySide(left: Page, right: Page, path: string) {
  const [a, b] = await Promise.all([left.screenshot(), right.screenshot()]);
  const { page } = await openWindow("composer", { width: 1280, height: 800 });
  const img = (buf: Buffer) => `<img src="data:image/png;base64,${buf.toString("base64")}" style="width:640px;height:800px;display:block">`;
  await page.setContent(`<body style="margin:0;display:flex;background:#888">${img(a)}${img(b)}</body>`);
  await page.screenshot({ path });
}

export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? "web/screenshots" : null;
