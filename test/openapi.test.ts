import { describe, expect, it } from "vitest";
import { operationIdOf } from "../src/routes/openapi-document";
import { call, json } from "./helpers";

describe("the OpenAPI document", () => {
  it("is committed as test/__snapshots__/openapi.json, exactly as served (Redocly lints that file in CI; `npm test -- -u` refreshes it)", async () => {
    const res = await call("GET", "/api/openapi.json");
    expect(res.status).toBe(200);
    await expect(`${JSON.stringify(await json(res), null, 2)}\n`).toMatchFileSnapshot("./__snapshots__/openapi.json");
  });

  it("gives every operation a unique operationId derived from its method and path", async () => {
    const doc = await json(await call("GET", "/api/openapi.json"));
    const ids: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>)) {
      for (const [method, op] of Object.entries(item)) {
        expect(op.operationId, `${method} ${path}`).toBe(operationIdOf(method, path));
        ids.push(op.operationId);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths["/api/v2/messages/send"].post.operationId).toBe("postMessagesSend");
    expect(doc.paths["/api/v2/messages/conversation/{partner_id}"].get.operationId).toBe("getMessagesConversationByPartnerId");
    expect(doc.paths["/api/admin/me"].get.operationId).toBe("getAdminMe");
  });

  it("declares the public routes public (an empty security list) and names a server and a license", async () => {
    const doc = await json(await call("GET", "/api/openapi.json"));
    expect(doc.paths["/healthz"].get.security).toEqual([]);
    expect(doc.paths["/api/dev/token"].post.security).toEqual([]);
    expect(doc.servers).toEqual([expect.objectContaining({ url: "/" })]);
    expect(doc.info.license).toMatchObject({ name: expect.any(String) });
  });
});

describe("GET /api/docs", () => {
  it("serves the interactive reference without a token, with its scripts from this origin only", async () => {
    const res = await call("GET", "/api/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).toContain("/api/openapi.json");
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(sources).toEqual(["/vendor/swagger-ui/swagger-ui.css", "/vendor/swagger-ui/swagger-ui-bundle.js"]);
  });
});
