/**
 * The app's routes as its own OpenAPI document lists them, so hostile-input tests cover every route,
 * including ones added later, without a hand-kept list. Also: a digest of every table, to assert
 * that refused input changed nothing.
 */
import { env } from "cloudflare:workers";
import { call, json } from "./helpers";

export type Method = "get" | "post" | "put" | "delete";

export type Operation = {
  method: Method;
  /** The OpenAPI path, with `{param}` placeholders. */
  template: string;
  pathParams: string[];
  queryParams: string[];
  /** Declares a JSON request body. */
  jsonBody: boolean;
  /** Takes raw bytes (an attachment upload), not JSON: body keys mean nothing there. */
  rawBody: boolean;
  /** Under /api/admin: called as an active super admin, one audit row per call. */
  admin: boolean;
  /** Answers without a token (the OpenAPI operation declares no security). */
  public: boolean;
  /** The socket route: only an upgrade opens a socket, a plain GET answers 426. */
  socket: boolean;
};

type DocOperation = {
  security?: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, unknown> };
};

export async function operations(): Promise<Operation[]> {
  const res = await call("GET", "/api/openapi.json");
  const doc = await json<{ paths: Record<string, Record<string, DocOperation>> }>(res);
  const ops: Operation[] = [];
  for (const [template, byMethod] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(byMethod)) {
      const params = op.parameters ?? [];
      ops.push({
        method: method as Method,
        template,
        pathParams: params.filter((p) => p.in === "path").map((p) => p.name),
        queryParams: params.filter((p) => p.in === "query").map((p) => p.name),
        jsonBody: op.requestBody !== undefined,
        rawBody: op.requestBody !== undefined && !op.requestBody.content?.["application/json"],
        admin: template.startsWith("/api/admin/"),
        public: !op.security?.length,
        socket: template.endsWith("/ws"),
      });
    }
  }
  return ops;
}

/** Routes that change something when called with valid input; everything else only reads. */
export const isWrite = (op: Operation) => op.method !== "get";

export const fillPath = (template: string, values: (name: string) => string) =>
  template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values(name)));

/** Tables the audit log owns: admin calls legitimately write there (counted separately). */
const isAuditTable = (name: string) => name.startsWith("audit");

/**
 * SHA-256 of every row of every table (FTS shadow tables included), audit tables aside. Two equal
 * digests mean no row was added, removed or changed anywhere.
 */
/** A digest of every table's rows (audit tables aside); `except` leaves more out (what a test checks itself). */
export async function digestOfTables(except: string[] = []): Promise<Record<string, string>> {
  const { results } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT IN ('d1_migrations') ORDER BY name",
  ).all<{ name: string }>();
  const digest: Record<string, string> = {};
  for (const { name } of results) {
    if (isAuditTable(name) || except.includes(name)) continue;
    // sqlite_sequence holds the audit log's AUTOINCREMENT counter, which admin calls move.
    const where = name === "sqlite_sequence" ? " WHERE name NOT LIKE 'audit%'" : "";
    const rows = await env.DB.prepare(`SELECT * FROM "${name}"${where}`).raw();
    const text = JSON.stringify(rows.map((r) => JSON.stringify(r)).sort());
    const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    digest[name] = `${rows.length}:${[...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
  return digest;
}

/** What opening a socket writes, besides nothing: the room visit, and its object's count of sockets (checked apart). */
export const SOCKET_WRITES = ["room_visits", "socket_presence"];

/** The scopes (a conversation id, `inbox:<user>`) that have a row in socket_presence, sorted. */
export async function presenceScopes(): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT scope FROM socket_presence ORDER BY scope").all<{ scope: string }>();
  return results.map((r) => r.scope);
}

export async function auditRowsBy(adminId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE admin_id = ?").bind(adminId).first<{ n: number }>();
  return row?.n ?? 0;
}

/** The contract's error shape, exactly: a code, a message, and per-field details when given. */
export function isContractError(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== "error") return false;
  const error = (body as { error: unknown }).error;
  if (typeof error !== "object" || error === null) return false;
  const e = error as Record<string, unknown>;
  const extra = Object.keys(e).filter((k) => !["code", "message", "details"].includes(k));
  return (
    extra.length === 0 &&
    typeof e.code === "string" &&
    /^[a-z_]+$/.test(e.code) &&
    typeof e.message === "string" &&
    (e.details === undefined || (typeof e.details === "object" && e.details !== null && !Array.isArray(e.details)))
  );
}
