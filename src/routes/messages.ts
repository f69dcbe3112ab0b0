import { createRoute } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { noBody } from "../middleware/body";
import {
  MarkReadBody,
  MarkReadResult,
  Message,
  MessageIdParam,
  MessagePage,
  PageQuery,
  PartnerIdParam,
  SendMessageBody,
  UnreadCount,
  UnreadQuery,
  UserStats,
} from "../schemas/messages";
import { conversationHistory, deleteMessage, sendMessage, statsOf, unreadFor } from "../services/messages";
import { applyReceipts, markDeliveredOne } from "../services/receipts";
import { toMessageView } from "../services/views";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "./openapi";

const tags = ["messages"];
const deps = (c: { var: AppEnv["Variables"]; env: Env }) => ({ db: c.var.db, env: c.env });

const send = createRoute({
  method: "post",
  path: "/send",
  tags,
  security: bearer,
  summary: "Send a message (charges MESSAGE_COST credits, atomically)",
  description:
    "The charge, the ledger row and the message (with its `seq`) are one atomic write. A retry with the same " +
    "`client_message_id` returns the original message with 200 and charges nothing (also when the sender is " +
    "rate-limited, and when retries race). The same `client_message_id` with another `receiver_id` or `content` " +
    "(compared after trimming) is not a retry: 409 `conflict`, nothing written or charged, with " +
    "`details.conflicting_fields` and the original's `message_id`. Other fields are not compared (a retry may carry " +
    "fresh metadata). `content` is trimmed and must then be 1-4000 characters (Unicode code points). " +
    "Safety, checked inside the same atomic write (never charged): a suspended sender gets 403 with " +
    '`details.reason = "suspended"`; an unmatched pair, or a receiver who blocks the sender, 404 (as any user the sender ' +
    'may not reach); a sender who blocks the receiver 409 with `details.reason = "blocking"`; with FIRST_CONTACT_LIMIT set, ' +
    'until the receiver has replied, 403 with `details.reason = "first_contact"` and `details.rule` `limit` (past the ' +
    "limit) or `content` (not plain text: attachments, another type, a link or contact details). A retry of a stored " +
    "message still answers it (200). Send limits: more than SEND_BURST_LIMIT (default 30) messages in any 10 seconds, " +
    "or SEND_MINUTE_LIMIT (default 60) in any 60 seconds, answers 429 `rate_limited` with `Retry-After` 10 or 60 and " +
    "`details.retry_after_seconds` (sliding windows over the messages the sender has stored, counted inside the same " +
    "atomic write, so racing sends never pass them; refused sends do not count).",
  request: { body: jsonBody(SendMessageBody) },
  responses: {
    201: jsonOf(Message, "Sent"),
    200: jsonOf(Message, "A retry of an earlier send with the same client_message_id: the original message"),
    ...errors(...BODY_ERRORS, "insufficient_credits", "forbidden", "not_found", "conflict", "rate_limited"),
  },
});

const history = createRoute({
  method: "get",
  path: "/conversation/{partner_id}",
  tags,
  security: bearer,
  summary: "Conversation history with a partner, newest first",
  description:
    "Keyset paging: pass `next_cursor` as `before`. `skip` skips that many messages after the cursor (offset paging). " +
    "404 while the caller blocks the partner (until they unblock), and for both once either unmatched.",
  request: { params: PartnerIdParam, query: PageQuery },
  responses: { 200: jsonOf(MessagePage, "A page of messages"), ...errors("validation_failed", "not_found") },
});

const markDelivered = createRoute({
  method: "post",
  path: "/mark-delivered/{message_id}",
  tags,
  security: bearer,
  summary: "Mark a received message delivered (receiver only, idempotent)",
  description: "Never moves a read message back. Answers with the message as it now is. The sender gets 403; anyone else 404.",
  middleware: [noBody()] as const,
  request: { params: MessageIdParam },
  responses: { 200: jsonOf(Message, "The message"), ...errors("validation_failed", "payload_too_large", "forbidden", "not_found") },
});

const markRead = createRoute({
  method: "post",
  path: "/mark-read",
  tags,
  security: bearer,
  summary: "Mark received messages read (1-100 ids)",
  description: "`marked_count` counts the caller's messages that changed; ids that are not the caller's received messages are ignored.",
  request: { body: jsonBody(MarkReadBody) },
  responses: { 200: jsonOf(MarkReadResult, "How many changed"), ...errors(...BODY_ERRORS) },
});

const unread = createRoute({
  method: "get",
  path: "/unread-count",
  tags,
  security: bearer,
  summary: "Unread messages, overall or from one sender",
  description: "Messages from partners the caller blocks, or unmatched, are not counted.",
  request: { query: UnreadQuery },
  responses: { 200: jsonOf(UnreadCount, "The count"), ...errors("validation_failed") },
});

const remove = createRoute({
  method: "delete",
  path: "/{message_id}",
  tags,
  security: bearer,
  summary: "Soft-delete a message you sent (tombstone)",
  description:
    "Idempotent. The message keeps its `seq`; its content, attachments and metadata are never returned again. The receiver gets 403; anyone else 404.",
  middleware: [noBody()] as const,
  request: { params: MessageIdParam },
  responses: { 200: jsonOf(Message, "The tombstone"), ...errors("validation_failed", "payload_too_large", "forbidden", "not_found") },
});

const stats = createRoute({
  method: "get",
  path: "/stats",
  tags,
  security: bearer,
  summary: "The caller's messaging statistics",
  responses: { 200: jsonOf(UserStats, "Counts"), ...errors() },
});

export const messageRoutes = createRouter()
  .openapi(send, async (c) => {
    const { message, replayed } = await sendMessage(deps(c), c.var.userId, c.req.valid("json"));
    return c.json(toMessageView(message, c.var.userId), replayed ? 200 : 201);
  })
  .openapi(history, async (c) => {
    const page = await conversationHistory(deps(c), c.var.userId, c.req.valid("param").partner_id, c.req.valid("query"));
    return c.json(
      { messages: page.items.map((m) => toMessageView(m, c.var.userId)), next_cursor: page.nextCursor, has_more: page.hasMore },
      200,
    );
  })
  .openapi(markDelivered, async (c) => {
    const message = await markDeliveredOne(c.var.db, c.env, c.req.valid("param").message_id, c.var.userId);
    return c.json(toMessageView(message, c.var.userId), 200);
  })
  .openapi(markRead, async (c) => {
    const changed = await applyReceipts(c.var.db, c.env, "read", c.req.valid("json").message_ids, c.var.userId);
    return c.json({ success: true as const, marked_count: changed.length }, 200);
  })
  .openapi(unread, async (c) => c.json({ unread_count: await unreadFor(deps(c), c.var.userId, c.req.valid("query").sender_id) }, 200))
  .openapi(stats, async (c) => {
    const s = await statsOf(deps(c), c.var.userId);
    return c.json(
      { sent: s.sent, received: s.received, unread: s.unread, credits_spent: s.creditsSpent, conversations: s.conversations },
      200,
    );
  })
  .openapi(remove, async (c) => {
    const message = await deleteMessage(deps(c), c.var.userId, c.req.valid("param").message_id);
    return c.json(toMessageView(message, c.var.userId), 200);
  });
