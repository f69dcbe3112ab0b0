import { createRoute } from "@hono/zod-openapi";
import { ConversationPage, PageQuery } from "../schemas/messages";
import { listConversations } from "../services/messages";
import { toMessageView } from "../services/views";
import { bearer, createRouter, errors, jsonOf } from "./openapi";

const list = createRoute({
  method: "get",
  path: "/conversations",
  tags: ["messages"],
  security: bearer,
  summary: "The caller's conversations, most recent activity first",
  description:
    "Each has the partner, the last message (as the caller may see it), the caller's unread count from that partner " +
    "and the time of the last message. Keyset paging with `before` = `next_cursor`, plus `skip`. Conversations with a " +
    "partner the caller blocks are left out until they unblock; unmatched ones are gone for both.",
  request: { query: PageQuery },
  responses: { 200: jsonOf(ConversationPage, "A page of conversations"), ...errors("validation_failed") },
});

export const conversationRoutes = createRouter().openapi(list, async (c) => {
  const userId = c.var.userId;
  const page = await listConversations({ db: c.var.db, env: c.env }, userId, c.req.valid("query"));
  return c.json(
    {
      conversations: page.items.map((r) => ({
        partner_id: r.partnerId,
        last_message: r.lastMessage && toMessageView(r.lastMessage, userId),
        unread_count: r.unreadCount,
        last_activity_at: r.lastActivityAt,
      })),
      next_cursor: page.nextCursor,
      has_more: page.hasMore,
    },
    200,
  );
});
