import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";

type Document = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;
type Config = Parameters<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>[0];

const CONFIG: Config = {
  openapi: "3.1.0",
  info: {
    title: "Pairly Messaging API",
    version: "2.0.0",
    description: [
      "Realtime 1:1 messaging with credits, receipts and moderation. Errors always have the shape",
      '`{"error": {"code", "message", "details"?}}`. Bodies over 64 KiB answer 413 before parsing; unknown JSON',
      "fields answer 400. A resource the caller may not see answers 404 exactly like one that does not exist;",
      "a participant acting outside their role (the receiver deleting, the sender marking delivered) gets 403.",
      "Timestamps are ISO-8601 UTC with milliseconds. Cursors are opaque strings.",
      "An interactive reference of this document is served at `GET /api/docs`.",
    ].join("\n"),
    // `identifier` (an SPDX expression) is OpenAPI 3.1; the generator's types stop at 3.0's fields.
    license: { name: "Proprietary", identifier: "LicenseRef-Pairly-Proprietary" } as Config["info"]["license"],
  },
  // Relative: the document describes whichever deployment serves it (local, staging, production).
  servers: [{ url: "/", description: "The Worker that serves this document" }],
};

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"] as const;

const pascal = (word: string) =>
  word
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join("");

/**
 * A stable operationId from the method and path (SDK generators name their methods by it), so no
 * route has to spell one out: `POST /api/v2/messages/send` → `postMessagesSend`,
 * `GET /api/v2/messages/conversation/{partner_id}` → `getMessagesConversationByPartnerId`. The `api`
 * prefix and version segments are left out; a route may still set its own `operationId`.
 */
export function operationIdOf(method: string, path: string): string {
  const words = path
    .split("/")
    .filter((s) => s && s !== "api" && !/^v\d+$/.test(s))
    .map((s) => (s.startsWith("{") ? `By${pascal(s.slice(1, -1))}` : pascal(s)));
  return method.toLowerCase() + words.join("");
}

/** Adds the derived operationIds; two operations deriving the same id fail loudly rather than collide in an SDK. */
export function withOperationIds(doc: Document): Document {
  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (!op) continue;
      op.operationId ??= operationIdOf(method, path);
      const where = `${method.toUpperCase()} ${path}`;
      const other = seen.get(op.operationId);
      if (other) throw new Error(`operationId ${op.operationId} of ${where} is already used by ${other}`);
      seen.set(op.operationId, where);
    }
  }
  return doc;
}

const BOOKMARK_PARAMETER = {
  name: "x-d1-bookmark",
  in: "header" as const,
  required: false,
  description:
    "D1 read replication (Sessions API): the `x-d1-bookmark` of an earlier response. The request is then served " +
    "by a replica at least that fresh, so a client reads its own writes. Without it, reads may come from any replica " +
    "and writes start at the primary. Every response that touched the database answers a newer bookmark in the same header.",
  schema: { type: "string" as const, pattern: "^[A-Za-z0-9-]{1,256}$" },
};

/** Every operation under /api (and /healthz) runs in one D1 session: each may take the bookmark header. */
export function withBookmarkParameter(doc: Document): Document {
  doc.components ??= {};
  doc.components.parameters = { ...doc.components.parameters, D1Bookmark: BOOKMARK_PARAMETER };
  for (const item of Object.values(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (op) op.parameters = [...(op.parameters ?? []), { $ref: "#/components/parameters/D1Bookmark" }];
    }
  }
  return doc;
}

/** GET /api/openapi.json: the document generated from the routes' zod schemas, with operationIds and the bookmark header. */
export const openApiDocument = (app: OpenAPIHono<AppEnv>): Document =>
  withBookmarkParameter(withOperationIds(app.getOpenAPI31Document(CONFIG)));
