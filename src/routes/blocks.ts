import { createRoute } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { noBody } from "../middleware/body";
import { Block, BlockBody, BlockPage, BlockQuery, Unblocked, UserIdParam } from "../schemas/safety";
import { block, listBlocks, toBlockView, unblock } from "../services/safety";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "./openapi";

const tags = ["safety"];
const deps = (c: { var: AppEnv["Variables"]; env: Env }) => ({ db: c.var.db, env: c.env });

const create = createRoute({
  method: "post",
  path: "/",
  tags,
  security: bearer,
  summary: "Block a user",
  description: [
    "One-sided and reversible. From this write on, the blocked user's sends to the caller answer 404 (as for a user",
    "they may not reach) and are never charged; the caller's own sends to them answer 409 until they unblock. Both",
    "users' sockets on the conversation close (4404) and new ones are refused (404); the conversation leaves the",
    "caller's list, unread counts, inbox events (`conversation.removed` on the caller's inbox sockets) and history",
    "(`GET /conversation/{partner_id}` answers 404). The blocked user is told nothing else: their list and history stay.",
    "201 when created, 200 when the caller already blocked them (the first block's time stands).",
  ].join(" "),
  request: { body: jsonBody(BlockBody) },
  responses: {
    201: jsonOf(Block, "Blocked"),
    200: jsonOf(Block, "Already blocked"),
    ...errors(...BODY_ERRORS, "conflict"),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/{user_id}",
  tags,
  security: bearer,
  summary: "Unblock a user",
  description:
    "Idempotent. Restores everything the block hid: the conversation, its history and unread counts (`conversation.restored` on the caller's inbox sockets), and sends both ways. An unmatched conversation stays ended.",
  middleware: [noBody()] as const,
  request: { params: UserIdParam },
  responses: { 200: jsonOf(Unblocked, "Not blocked (any more)"), ...errors("validation_failed", "payload_too_large") },
});

const list = createRoute({
  method: "get",
  path: "/",
  tags,
  security: bearer,
  summary: "The users the caller blocks, newest first",
  description: "Keyset paging: pass `next_cursor` as `before`.",
  request: { query: BlockQuery },
  responses: { 200: jsonOf(BlockPage, "A page of blocks"), ...errors("validation_failed") },
});

export const blockRoutes = createRouter()
  .openapi(create, async (c) => {
    const { block: row, created } = await block(deps(c), c.var.userId, c.req.valid("json").user_id);
    return c.json(toBlockView(row), created ? 201 : 200);
  })
  .openapi(remove, async (c) => c.json(await unblock(deps(c), c.var.userId, c.req.valid("param").user_id), 200))
  .openapi(list, async (c) => c.json(await listBlocks(deps(c), c.var.userId, c.req.valid("query")), 200));
