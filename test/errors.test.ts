import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import { as, BASE, balanceOf, call, count, json, newUser, pair, send, tokenFor } from "./helpers";

const SEND = "/api/v2/messages/send";

describe("one error shape for every failure", () => {
  it("an unknown route → 404 not_found", async () => {
    const res = await as(newUser()).get("/api/v2/nothing-here");
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { code: "not_found", message: expect.any(String) } });
    expect((await call("GET", "/nowhere")).status).toBe(404);
  });

  it("malformed JSON → 400 validation_failed, nothing written", async () => {
    const { alice, bob } = await pair(2);
    const res = await as(alice).post(SEND, `{"receiver_id": "${bob}", "content": `);
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ error: { code: "validation_failed", details: expect.any(Object) } });
    expect(await balanceOf(alice)).toBe(2);
  });

  it("a JSON body that is not an object → 400", async () => {
    const res = await as(newUser()).post(SEND, "[1,2,3]");
    expect(res.status).toBe(400);
    expect((await json(res)).error.code).toBe("validation_failed");
  });

  it("a body that is not declared as JSON → 415 in the same shape", async () => {
    const { alice, bob } = await pair(2);
    const res = await as(alice).post(SEND, JSON.stringify({ receiver_id: bob, content: "x" }), { "content-type": "text/plain" });
    expect(res.status).toBe(415);
    expect(await json(res)).toMatchObject({ error: { code: "unsupported_media_type" } });
    expect(await balanceOf(alice)).toBe(2);
  });

  it("a body over 64 KiB → 413 before parsing (Content-Length)", async () => {
    const { alice, bob } = await pair(2);
    const big = JSON.stringify({ receiver_id: bob, content: "x".repeat(70 * 1024) });
    const res = await as(alice).post(SEND, big);
    expect(res.status).toBe(413);
    expect(await json(res)).toEqual({ error: { code: "payload_too_large", message: expect.any(String) } });
    expect(await count("SELECT 1 FROM messages WHERE sender_id = ?", alice)).toBe(0);
  });

  it("a chunked body over 64 KiB → 413 too (counted while streaming)", async () => {
    const { alice } = await pair(2);
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await exports.default.fetch(`${BASE}${SEND}`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(alice)}`, "content-type": "application/json" },
      body: stream,
    });
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe("payload_too_large");
  });

  it("unknown JSON fields → 400 naming each field", async () => {
    const { alice, bob } = await pair(2);
    const res = await as(alice).post(SEND, { receiver_id: bob, content: "x", sender_id: bob, moderation_status: "approved" });
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error.details).toMatchObject({ sender_id: ["unknown field"], moderation_status: ["unknown field"] });
    expect(await balanceOf(alice)).toBe(2);
  });

  it("a 500 says only 'internal' and the request id: no stack, no SQL", async () => {
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    const failing = {
      prepare() {
        throw new Error("D1_ERROR: no such table: credit_balances: SELECT balance FROM credit_balances WHERE user_id = ?");
      },
      getBookmark: () => null,
    };
    const broken = { ...env, DB: { ...failing, withSession: () => failing } } as unknown as Env;
    const res = await app.request(
      `${BASE}/api/v2/credits/balance`,
      { headers: { authorization: `Bearer ${await tokenFor(newUser())}` } },
      broken,
    );
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: "internal", message: expect.any(String) } });
    expect(text).not.toMatch(/SELECT|D1_ERROR|credit_balances|at\s+\S+:\d+/);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(spy).toHaveBeenCalled(); // the details go to the log instead
    spy.mockRestore();
  });

  it("every response carries a request id of the server's own, whatever the client sent", async () => {
    const plain = await call("GET", "/healthz");
    expect(plain.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    for (const sent of ["client-abc-123", "bad id with spaces"]) {
      const res = await call("GET", "/healthz", { headers: { "x-request-id": sent } });
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get("x-request-id")).not.toBe(plain.headers.get("x-request-id"));
    }
  });

  it("secure headers and CORS are set", async () => {
    const res = await call("GET", "/api/v2/credits/balance", { headers: { origin: "https://app.example" } });
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    const preflight = await exports.default.fetch(`${BASE}${SEND}`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
  });
});

describe("service endpoints", () => {
  it("GET /healthz checks D1", async () => {
    const res = await call("GET", "/healthz");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ ok: true });
  });

  const d1Down = () => new Error("D1_ERROR: Network connection lost: SELECT 1");
  const unreachable = () => Promise.reject(d1Down());
  it.each([
    [
      "refuses to prepare any statement",
      {
        prepare() {
          throw d1Down();
        },
      },
    ],
    [
      "fails every statement it runs",
      {
        prepare() {
          return { bind: () => ({ run: unreachable, all: unreachable, raw: unreachable, first: unreachable }) };
        },
      },
    ],
  ])("GET /healthz answers 503 {ok: false} when D1 %s, and 200 again with the real D1", async (_name, DB) => {
    // The app reads through a Sessions API session: the broken binding hands out itself.
    const session = { ...DB, getBookmark: () => null };
    const broken = { ...env, DB: { ...DB, withSession: () => session } } as unknown as Env;
    const res = await app.request(`${BASE}/healthz`, {}, broken);
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ ok: false });
    expect(text).not.toMatch(/D1_ERROR|SELECT/);
    // The same request through the same app, only the binding differs.
    const healthy = await app.request(`${BASE}/healthz`, {}, env);
    expect(healthy.status).toBe(200);
    expect(await json(healthy)).toEqual({ ok: true });
  });

  it("GET / answers with a page", async () => {
    const res = await call("GET", "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
  });

  it("GET /api/openapi.json documents every contract path from the same schemas", async () => {
    const res = await call("GET", "/api/openapi.json");
    expect(res.status).toBe(200);
    const doc = await json(res);
    expect(doc.openapi).toMatch(/^3\.1/);
    for (const path of [
      "/api/v2/messages/send",
      "/api/v2/messages/conversation/{partner_id}",
      "/api/v2/messages/conversations",
      "/api/v2/messages/mark-delivered/{message_id}",
      "/api/v2/messages/mark-read",
      "/api/v2/messages/unread-count",
      "/api/v2/messages/{message_id}",
      "/api/v2/messages/stats",
      "/api/v2/messages/ws",
      "/api/v2/credits/balance",
      "/api/v2/credits/transactions",
      "/api/admin/credits/grant",
      "/api/admin/messages/search",
      "/api/admin/messages/conversation/{user1_id}/{user2_id}",
      "/api/admin/messages/{message_id}/moderate",
      "/api/admin/messages/stats/overview",
      "/api/admin/messages/export",
      "/api/admin/messages/{message_id}/hard-delete",
      "/api/admin/audit-logs",
      "/api/admin/audit-logs/verify",
      "/api/admin/admins",
      "/api/admin/admins/{admin_id}",
      "/api/admin/admins/{admin_id}/deactivate",
      "/api/dev/token",
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.components.schemas.SendMessageBody.additionalProperties).toBe(false);
    // Every authenticated operation declares the bearer scheme and the one error body.
    for (const [path, ops] of Object.entries(
      doc.paths as Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>,
    )) {
      if (path === "/healthz" || path.startsWith("/api/dev/")) continue;
      for (const [method, op] of Object.entries(ops)) {
        // The bearer scheme; an attachment download may use a ticket instead (a second, alternative entry).
        expect(op.security, `${method} ${path}`).toContainEqual({ bearer: [] });
        expect(op.responses, `${method} ${path}`).toHaveProperty("401");
      }
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    // Every operation that reads a body (or refuses one) documents 413; JSON bodies also 415 and 400.
    type Op = { requestBody?: unknown; responses: Record<string, unknown> };
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Op>>)) {
      for (const [method, op] of Object.entries(ops)) {
        if (method === "get") continue;
        expect(op.responses, `${method} ${path}`).toHaveProperty("413");
        expect(op.responses, `${method} ${path}`).toHaveProperty("400");
        if (op.requestBody) expect(op.responses, `${method} ${path}`).toHaveProperty("415");
      }
    }
    // The public sign-in route does not claim a 401 it never answers.
    expect(doc.paths["/api/dev/token"].post.responses).not.toHaveProperty("401");
  });
});

describe("routes that take no body", () => {
  it.each([
    ["an unknown field", JSON.stringify({ status: "read" }), { status: ["unknown field"] }],
    ["not JSON", "please", { body: ["must be empty"] }],
    ["an array", "[1]", { body: ["must be empty"] }],
  ])("mark-delivered with %s → 400, and the message is not touched", async (_name, body, details) => {
    const { alice, bob } = await pair(1);
    const m = await send(alice, bob);
    const res = await exports.default.fetch(`${BASE}/api/v2/messages/mark-delivered/${m.id}`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(bob)}`, "content-type": "application/json" },
      body,
    });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ error: { code: "validation_failed", message: expect.any(String), details } });
    const history = await json(await as(alice).get(`/api/v2/messages/conversation/${bob}`));
    expect(history.messages[0]).toMatchObject({ id: m.id, status: "sent", delivered_at: null });
  });

  it("an empty body or {} is fine; DELETE with fields is refused and deletes nothing", async () => {
    const { alice, bob } = await pair(2);
    const m = await send(alice, bob);
    expect((await as(bob).post(`/api/v2/messages/mark-delivered/${m.id}`, {})).status).toBe(200);
    const del = await exports.default.fetch(`${BASE}/api/v2/messages/${m.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${await tokenFor(alice)}`, "content-type": "application/json" },
      body: JSON.stringify({ hard: true }),
    });
    expect(del.status).toBe(400);
    expect((await json(del)).error.details).toEqual({ hard: ["unknown field"] });
    expect(await count("SELECT 1 FROM messages WHERE id = ? AND is_deleted = 0", m.id)).toBe(1);
    expect((await as(alice).del(`/api/v2/messages/${m.id}`)).status).toBe(200);
  });
});
