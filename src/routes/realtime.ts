import { createRoute, z } from "@hono/zod-openapi";
import { CLOSE_SUSPENDED, closeForGood, TRUSTED } from "../durable-objects/sockets";
import { AppError } from "../errors";
import { conversationIdOf } from "../lib/ids";
import { WS_PROTOCOL } from "../middleware/auth";
import { UserId } from "../schemas/common";
import { inboxOf, roomOf } from "../services/realtime";
import { isSuspendedNow } from "../services/safety";
import { bearer, createRouter, errors } from "./openapi";

const WsQuery = z.object({
  partner_id: UserId.optional().openapi({ description: "Open the conversation socket with this user; omit for the inbox socket" }),
  since: z
    .string()
    .regex(/^\d{1,15}$/, "must be a whole number")
    .optional()
    .openapi({
      description: "Conversation sockets: the highest seq the client has; missed messages and receipt changes are replayed first",
    }),
});

const ws = createRoute({
  method: "get",
  path: "/ws",
  tags: ["realtime"],
  security: bearer,
  summary: "WebSocket: a conversation (?partner_id=) or the caller's inbox",
  description: [
    "Authenticated before the upgrade. Either send `Authorization: Bearer <JWT>`, or (browsers, which cannot set",
    `headers on a WebSocket) offer two subprotocols: \`new WebSocket(url, ["${WS_PROTOCOL}", "bearer." + token])\`;`,
    `the server answers with \`Sec-WebSocket-Protocol: ${WS_PROTOCOL}\`. Without valid auth: 401 and no socket.`,
    "",
    "Server events: `message.new {message}`, `message.status {message_id, status, delivered_at, read_at}`,",
    "`message.deleted {message_id}`, `message.moderated {message_id, moderation_status, message}`,",
    "`typing {user_id, state}`, `presence {user_id, online}`, `unread {unread_count}` (inbox), `sync {last_seq}`,",
    "`resync {reason, last_seq}`, `error {code, message}`, `pong`. Inbox sockets get `message.new`, `unread`, and",
    "`message.deleted` / `message.moderated` for their user's messages (list previews change with them).",
    "An inbox socket starts with `sync {conversations: [{partner_id, last_seq, unread_count}], unread_count, has_more}`",
    "(the 50 most recently active conversations; `has_more` when there are others), then `unread`, then live events.",
    "Inbox `message.new` events may arrive out of seq order (racing sends) or not at all (a lost notification):",
    "keep `last_seq` per partner, order by `seq`, and refetch a conversation whose seq jumps by more than one.",
    "Live `message.new` events arrive in seq order without gaps (a missed notification is filled from the database;",
    "if that fails the socket gets `resync`). A deleted message is never announced (only `message.deleted`).",
    "Without `since`, the first event is `sync {last_seq}`: the conversation's newest seq when the socket joined;",
    "live messages follow with higher seqs only. A client holding less than `last_seq` (messages were committed",
    "between its HTTP fetch and its connect) refetches them or reconnects with `since`; nothing is replayed without it.",
    "Client frames (JSON text, at most 4 KiB, rate-limited per socket): `typing {state: start|stop}`,",
    "`ack {message_ids}`, `read {message_ids}`, `ping`.",
    "A socket lives as long as the token that opened it: past the token's `exp` it is closed with code 4001 at its",
    "next event; reconnect with a fresh token and `since`.",
    "Limits: at most 5 sockets per user per conversation, and 10 joins per user per conversation in a sliding minute;",
    "past either the upgrade succeeds and the socket is closed at once with code 4029 (the reason names the limit).",
    "Close codes: 1000 normal, 1011 the server could not read the conversation (reconnect with `since`),",
    "4001 token expired, 4029 too many sockets or joins (back off), 4403 the account is suspended (every socket of the",
    "user closes at once, and new ones are closed with it right after the upgrade: reading over HTTP still works),",
    "4404 the conversation was blocked or unmatched (do not reconnect). Right before a 4403 or 4404 close the socket",
    "gets `error {code: forbidden|not_found, message, close_code}`, so a client behind a proxy that delivers the close",
    "code late (or as 1006) still knows not to reconnect.",
    "",
    "Safety: a conversation that either participant blocks, or that was unmatched, refuses the upgrade with 404 (as",
    "for a conversation that is not the caller's); open sockets on it close with 4404. Inbox sockets get",
    "`conversation.removed {partner_id, reason: blocked|unmatched}` when a conversation leaves the user's list (a block",
    "only on the blocker's devices, an unmatch on both users') and `conversation.restored {partner_id}` after an unblock.",
    "",
    "Resume: `&since=<seq>` replays every message with a higher seq (current status), then the current state of",
    "older messages whose receipts, deletion or moderation changed after message `since` was created (read from",
    "the database, so nothing depends on a notification having arrived; hard deletes come from the room's log of",
    "its last 1000 changes), then `sync {last_seq}`, then live events. Replayed state may repeat what the client",
    "already saw live: apply it idempotently. More than 500 missed or changed messages, a pruned log entry the",
    "client may have missed, or a `since` ahead of the conversation: `resync`, and the client refetches over HTTP.",
  ].join("\n"),
  request: { query: WsQuery },
  responses: {
    101: { description: "Switching protocols: the socket is open" },
    ...errors("validation_failed", "upgrade_required", "not_found"),
  },
});

/** An accepted socket closed at once: browsers can read a close code (and an event), not the status of a refused upgrade. */
function suspendedSocket(protocol: string | null): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  closeForGood(server, CLOSE_SUSPENDED);
  return new Response(null, { status: 101, webSocket: client, headers: protocol ? { "Sec-WebSocket-Protocol": protocol } : {} });
}

export const realtimeRoutes = createRouter().openapi(ws, async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new AppError("upgrade_required", "This endpoint only accepts WebSocket upgrades", undefined, { Upgrade: "websocket" });
  }
  const userId = c.var.userId;
  const { partner_id: partnerId, since } = c.req.valid("query");
  if (partnerId === userId)
    throw new AppError("validation_failed", "You cannot open a conversation with yourself", {
      partner_id: ["must not be your own user id"],
    });
  if (!partnerId && since !== undefined)
    throw new AppError("validation_failed", "`since` applies to conversation sockets", { since: ["needs partner_id"] });

  const offered =
    c.req
      .header("sec-websocket-protocol")
      ?.split(",")
      .map((p) => p.trim()) ?? [];
  // A fresh request: nothing the client sent (headers included) reaches the object but what we set here.
  const headers = new Headers({ Upgrade: "websocket", [TRUSTED.user]: userId, [TRUSTED.expires]: String(c.var.tokenExpiresAt) });
  if (offered.includes(WS_PROTOCOL)) headers.set(TRUSTED.protocol, WS_PROTOCOL);
  const url = new URL("https://do.internal/connect");
  if (since !== undefined) url.searchParams.set("since", since);

  if (partnerId) {
    // The room decides whether this user may join (blocks, unmatch, suspension), in its join's own D1
    // transaction: one read per connect, and none that an upgrade racing a change could slip past.
    const conversationId = conversationIdOf(userId, partnerId);
    headers.set(TRUSTED.scope, conversationId);
    return roomOf(c.env, conversationId).fetch(url, { headers });
  }
  if (await isSuspendedNow(c.var.db, userId)) return suspendedSocket(headers.get(TRUSTED.protocol));
  headers.set(TRUSTED.scope, `inbox:${userId}`);
  return inboxOf(c.env, userId).fetch(url, { headers });
});
