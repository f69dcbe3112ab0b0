/**
 * D1 read replication plumbing (Sessions API). Local D1 has no replicas and accepts any bookmark
 * (platform facts), so these tests prove what the Worker does with sessions and bookmarks, not that a
 * replica lags: which constraint each request starts from, that the bookmark travels both ways, and
 * that a malformed one is refused before anything is read or written.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { BASE, count, json, newUser, seedCredits, tokenFor } from "./helpers";

/** The real binding, recording the constraint or bookmark of every session the app opens. */
function recordingDb() {
  const opened: string[] = [];
  const DB = new Proxy(env.DB, {
    get(target, key) {
      if (key === "withSession") {
        return (constraint: string) => {
          opened.push(constraint);
          return target.withSession(constraint);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { opened, env: { ...env, DB } as Env };
}

async function request(method: string, path: string, user: string, o: { body?: unknown; bookmark?: string; env?: Env } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${await tokenFor(user)}` };
  if (o.body !== undefined) headers["content-type"] = "application/json";
  if (o.bookmark !== undefined) headers["x-d1-bookmark"] = o.bookmark;
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  return app.request(`${BASE}${path}`, { method, headers, body }, o.env ?? env);
}

describe("D1 Sessions: the bookmark travels with every request", () => {
  it("reads start from any replica, writes from the primary, and a bookmark given back anchors the session", async () => {
    const alice = newUser("alice");
    const bob = newUser("bob");
    await seedCredits(alice, 2);
    const rec = recordingDb();
    const sent = await request("POST", "/api/v2/messages/send", alice, { body: { receiver_id: bob, content: "hi" }, env: rec.env });
    expect(sent.status).toBe(201);
    const written = sent.headers.get("x-d1-bookmark");
    expect(written).toBeTruthy();

    const fresh = await request("GET", `/api/v2/messages/conversation/${alice}`, bob, { env: rec.env });
    expect(fresh.status).toBe(200);
    const anchored = await request("GET", `/api/v2/messages/conversation/${alice}`, bob, { bookmark: written ?? "", env: rec.env });
    expect(anchored.status).toBe(200);
    expect((await json(anchored)).messages.map((m: { content: string }) => m.content)).toEqual(["hi"]);
    expect(rec.opened).toEqual(["first-primary", "first-unconstrained", written]);
    // Bookmarks only move forward: what the anchored read answers is at least what it was given.
    expect((anchored.headers.get("x-d1-bookmark") ?? "") >= (written ?? "")).toBe(true);
  });

  it("every API response that touched D1 carries a bookmark; the browser may read it (CORS)", async () => {
    const alice = newUser("alice");
    const res = await request("GET", "/api/v2/credits/balance", alice, {});
    expect(res.headers.get("x-d1-bookmark")).toMatch(/^[A-Za-z0-9-]+$/);
    const health = await app.request(`${BASE}/healthz`, {}, env);
    expect(health.headers.get("x-d1-bookmark")).toBeTruthy();
    const preflight = await app.request(
      `${BASE}/api/v2/messages/send`,
      {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "x-d1-bookmark",
        },
      },
      env,
    );
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("x-d1-bookmark");
    const simple = await app.request(
      `${BASE}/api/v2/credits/balance`,
      { headers: { origin: "https://app.example", authorization: `Bearer ${await tokenFor(alice)}` } },
      env,
    );
    expect(simple.headers.get("access-control-expose-headers")?.toLowerCase()).toContain("x-d1-bookmark");
  });

  it.each([["a space in it"], ["x".repeat(257)], ["bookmark;drop"], [""]])(
    "a malformed bookmark (%j) is a 400 and nothing is written",
    async (bookmark) => {
      const alice = newUser("alice");
      const bob = newUser("bob");
      await seedCredits(alice, 2);
      const rec = recordingDb();
      const res = await request("POST", "/api/v2/messages/send", alice, {
        body: { receiver_id: bob, content: "hi" },
        bookmark,
        env: rec.env,
      });
      expect(res.status).toBe(400);
      expect(await json(res)).toMatchObject({
        error: { code: "validation_failed", details: { "x-d1-bookmark": ["not a bookmark this API issued"] } },
      });
      expect(rec.opened).toEqual([]);
      expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(0);
    },
  );
});
