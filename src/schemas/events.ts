import { z } from "@hono/zod-openapi";
import type { MessageRow } from "../db/schema";
import { OpaqueId } from "./common";
import type { Message, MessageStatus, ModerationStatus } from "./messages";

/** Client → server frames. Anything else gets an `error` event and changes nothing. */
const MessageIds = z.array(OpaqueId).min(1).max(100);
export const ClientEvent = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("typing"), state: z.enum(["start", "stop"]) }),
  z.strictObject({ type: z.literal("ack"), message_ids: MessageIds }),
  z.strictObject({ type: z.literal("read"), message_ids: MessageIds }),
  z.strictObject({ type: z.literal("ping") }),
]);
export type ClientEvent = z.infer<typeof ClientEvent>;

/** One conversation as an inbox socket's `sync` lists it: enough to tell what the client is missing. */
export type InboxConversation = { partner_id: string; last_seq: number; unread_count: number };

/** Server → client events, exactly as the contract names them (plus `sync`, `resync`, `pong`, `message.moderated`). */
export type ServerEvent =
  | { type: "message.new"; message: Message }
  | {
      type: "message.status";
      message_id: string;
      status: z.infer<typeof MessageStatus>;
      delivered_at: string | null;
      read_at: string | null;
    }
  | { type: "message.deleted"; message_id: string }
  | { type: "message.moderated"; message_id: string; moderation_status: z.infer<typeof ModerationStatus>; message: Message }
  | { type: "typing"; user_id: string; state: "start" | "stop" }
  | { type: "presence"; user_id: string; online: boolean }
  | { type: "unread"; unread_count: number }
  | { type: "sync"; last_seq: number }
  | { type: "sync"; conversations: InboxConversation[]; unread_count: number; has_more: boolean }
  | { type: "resync"; reason: string; last_seq: number }
  /** `close_code` when the socket is about to be closed for good with it (4403, 4404): do not reconnect. */
  | { type: "error"; code: string; message: string; close_code?: number }
  /** Inbox: a conversation left the user's list (they blocked the partner, or either unmatched). */
  | { type: "conversation.removed"; partner_id: string; reason: "blocked" | "unmatched" }
  /** Inbox: a conversation is back on the user's list (they unblocked the partner). */
  | { type: "conversation.restored"; partner_id: string }
  | { type: "pong" };

/** What the Worker tells a conversation room after a D1 commit; the room renders it per viewer. */
export type RoomEvent = { type: "message.new" | "message.status" | "message.deleted" | "message.moderated"; message: MessageRow };
