/**
 * A push service stand-in (vitest globalSetup, runs in Node): the push service is outside our system,
 * so the tests run their own. It listens on a free 127.0.0.1 port and records every request it gets;
 * tests inside workerd script its answers and read what it received over plain HTTP:
 *
 *   POST /push/<box>             a push; answered from the box's script (default 201)
 *   PUT  /__script/<box>         {"responses": [{"status", "headers"?}], "then"?: {"status", "headers"?}}
 *   GET  /__requests/<box>       [{"method", "path", "headers", "body", "at"}] (body base64, at in ms), oldest first
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

type Answer = { status: number; headers?: Record<string, string> };
type Script = { responses: Answer[]; then: Answer };
type Recorded = { method: string; path: string; headers: IncomingMessage["headers"]; body: string; at: number };

const CREATED: Answer = { status: 201 };

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export default async function setup(project: TestProject) {
  const scripts = new Map<string, Script>();
  const received = new Map<string, Recorded[]>();

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const [, area, box] = url.pathname.split("/");
    const body = await bodyOf(req);
    const answer = (a: Answer, text = "") => {
      res.writeHead(a.status, { "content-type": "application/json", ...a.headers });
      res.end(text);
    };
    if (!box) return answer({ status: 404 });
    if (area === "push" && req.method === "POST") {
      received.set(box, [
        ...(received.get(box) ?? []),
        { method: req.method, path: url.pathname, headers: req.headers, body: body.toString("base64"), at: Date.now() },
      ]);
      const script = scripts.get(box);
      return answer(script?.responses.shift() ?? script?.then ?? CREATED);
    }
    if (area === "__script" && req.method === "PUT") {
      const { responses = [], then = CREATED } = JSON.parse(body.toString("utf8")) as Partial<Script>;
      scripts.set(box, { responses, then });
      return answer({ status: 204 });
    }
    if (area === "__requests" && req.method === "GET") return answer({ status: 200 }, JSON.stringify(received.get(box) ?? []));
    return answer({ status: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("pushServiceUrl", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
