import { createRoute } from "@hono/zod-openapi";
import { exportMaxQueriesOf } from "../../config";
import { noBody } from "../../middleware/body";
import { requirePermission } from "../../middleware/permissions";
import {
  AdminConversation,
  AdminPageQuery,
  ConversationParams,
  ExportQuery,
  HardDeleteResult,
  MessageIdParam,
  ModerateBody,
  ModerateResult,
  Overview,
  OverviewQuery,
  SearchQuery,
  SearchResult,
} from "../../schemas/admin";
import { overview } from "../../services/analytics";
import { adminConversation, hardDeleteMessage, moderateMessage } from "../../services/moderation";
import { exportStream, planExport, searchMessages } from "../../services/search";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "../openapi";

const tags = ["admin"];

/** The same export request, starting at `cursor` (a path and query: relative to this origin). */
function nextPartUrl(current: string, cursor: string): string {
  const url = new URL(current);
  url.searchParams.set("cursor", cursor);
  return `${url.pathname}${url.search}`;
}
const messageTarget = (p: Record<string, string>) => ({ targetType: "message", targetId: p.message_id });

const search = createRoute({
  method: "get",
  path: "/messages/search",
  tags,
  security: bearer,
  summary: "Search messages (moderation.view)",
  description:
    "All filters combine (AND). `q` is full-text (FTS5): every word must match, `word*` matches a prefix. " +
    "Deleted messages only with `include_deleted=true`. Newest first; `content` is cut to 200 characters. Audited.",
  middleware: [requirePermission("moderation.view", "messages.search")] as const,
  request: { query: SearchQuery },
  responses: { 200: jsonOf(SearchResult, "A page of matches and the total"), ...errors("validation_failed", "forbidden", "rate_limited") },
});

const conversation = createRoute({
  method: "get",
  path: "/messages/conversation/{user1_id}/{user2_id}",
  tags,
  security: bearer,
  summary: "Any two users' conversation, deleted and blocked included (moderation.view)",
  description: "Newest first; keyset paging with `before` = `next_cursor`, plus `skip`. Audited.",
  middleware: [
    requirePermission("moderation.view", "messages.conversation_view", (p) => ({
      targetType: "conversation",
      targetId: `${p.user1_id}:${p.user2_id}`,
    })),
  ] as const,
  request: { params: ConversationParams, query: AdminPageQuery },
  responses: { 200: jsonOf(AdminConversation, "A page of the conversation"), ...errors("validation_failed", "forbidden", "rate_limited") },
});

const moderate = createRoute({
  method: "post",
  path: "/messages/{message_id}/moderate",
  tags,
  security: bearer,
  summary: "Set a message's moderation status (moderation.action)",
  description:
    "`reason` is required for `flagged` and `blocked`. The change and its audit row are one write; the conversation's " +
    "sockets then get `message.moderated` (a blocked message's content is hidden from its receiver at once).",
  middleware: [requirePermission("moderation.action", "messages.moderate", messageTarget)] as const,
  request: { params: MessageIdParam, body: jsonBody(ModerateBody) },
  responses: {
    200: jsonOf(ModerateResult, "Moderated"),
    ...errors(...BODY_ERRORS, "forbidden", "rate_limited", "not_found"),
  },
});

const stats = createRoute({
  method: "get",
  path: "/messages/stats/overview",
  tags,
  security: bearer,
  summary: "Messaging overview for a range (analytics.view)",
  description:
    "Totals by status, type and moderation state, per-day volume (every day, zeros included), active senders, delivery and read rates, for [from, to] (default: the last 30 days, at most 366).",
  middleware: [requirePermission("analytics.view", "messages.stats")] as const,
  request: { query: OverviewQuery },
  responses: { 200: jsonOf(Overview, "The overview"), ...errors("validation_failed", "forbidden", "rate_limited") },
});

const exportRoute = createRoute({
  method: "get",
  path: "/messages/export",
  tags,
  security: bearer,
  summary: "Export messages as CSV or NDJSON, streamed (analytics.export)",
  description:
    "Takes the search filters. Streams keyset pages, so any size exports in constant memory. CSV follows RFC 4180 (CRLF, quoted " +
    "fields); cells a spreadsheet would run as a formula get a leading apostrophe. Full content, deleted only with `include_deleted`. " +
    "A long export comes in parts (each response runs at most EXPORT_MAX_QUERIES database queries): a part that is not the last " +
    'carries `X-Export-Next-Cursor` and `Link: <…&cursor=…>; rel="next"`, decided before the first byte; request it with the same ' +
    "filters and `cursor`. Across the parts every row comes exactly once; each CSV part starts with the header row. " +
    "No such header: this is the last part. A part that fails midway ends as an aborted body, never as a short file.",
  middleware: [requirePermission("analytics.export", "messages.export")] as const,
  request: { query: ExportQuery },
  responses: {
    200: {
      description: "The file (one part of it), as an attachment",
      headers: {
        "X-Export-Next-Cursor": { description: "Present when more rows follow: pass it as `cursor`", schema: { type: "string" } },
        Link: { description: 'The next part\'s URL, `rel="next"`, when more rows follow', schema: { type: "string" } },
      },
      content: { "text/csv": { schema: { type: "string" } }, "application/x-ndjson": { schema: { type: "string" } } },
    },
    ...errors("validation_failed", "forbidden", "rate_limited"),
  },
});

const hardDelete = createRoute({
  method: "delete",
  path: "/messages/{message_id}/hard-delete",
  tags,
  security: bearer,
  summary: "Permanently delete a message (super_admin)",
  description: "Removes the row and its search index entry; its seq stays unused. The audit row keeps the deleted row as `before`.",
  middleware: [requirePermission("super_admin", "messages.hard_delete", messageTarget), noBody()] as const,
  request: { params: MessageIdParam },
  responses: {
    200: jsonOf(HardDeleteResult, "Deleted"),
    ...errors("validation_failed", "payload_too_large", "forbidden", "rate_limited", "not_found"),
  },
});

export const adminMessageRoutes = createRouter()
  .openapi(search, async (c) => c.json(await searchMessages(c.var.db, c.req.valid("query")), 200))
  .openapi(conversation, async (c) => {
    const { user1_id, user2_id } = c.req.valid("param");
    return c.json(await adminConversation(c.var.db, user1_id, user2_id, c.req.valid("query")), 200);
  })
  .openapi(moderate, async (c) => {
    const m = await moderateMessage(c.var.db, c.env, c.var.audit, c.req.valid("param").message_id, c.req.valid("json"));
    return c.json({ success: true as const, message_id: m.id, moderation_status: m.moderationStatus }, 200);
  })
  .openapi(stats, async (c) => c.json(await overview(c.var.db, c.req.valid("query")), 200))
  .openapi(exportRoute, async (c) => {
    const { format, cursor, ...filters } = c.req.valid("query");
    const part = await planExport(c.var.db, filters, cursor, exportMaxQueriesOf(c.env));
    const stamp = new Date().toISOString().replaceAll(/[-:]/g, "").slice(0, 15);
    return c.body(exportStream(c.var.db, part, format), 200, {
      "Content-Type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
      "Content-Disposition": `attachment; filename="pairly-messages-${stamp}Z.${format === "csv" ? "csv" : "ndjson"}"`,
      "Cache-Control": "no-store",
      ...(part.next && { "X-Export-Next-Cursor": part.next, Link: `<${nextPartUrl(c.req.url, part.next)}>; rel="next"` }),
    });
  })
  .openapi(hardDelete, async (c) => {
    const id = c.req.valid("param").message_id;
    await hardDeleteMessage(c.var.db, c.env, c.var.audit, id);
    return c.json({ success: true as const, message_id: id }, 200);
  });
