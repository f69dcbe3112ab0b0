import { z } from "@hono/zod-openapi";
import { bytesOfBase64Url } from "../lib/web-push";
import { Timestamp } from "./common";

/** base64url of exactly `bytes` bytes (browsers send it unpadded; a padded copy is accepted and stored unpadded). */
const base64UrlOf = (bytes: number, what: string) =>
  z
    .string()
    .max(128)
    .refine((s) => bytesOfBase64Url(s)?.byteLength === bytes, `must be base64url of ${what} (${bytes} bytes)`)
    .transform((s) => s.replace(/=+$/, ""));

export const PushEndpoint = z
  .url({ protocol: /^https?$/, error: "must be an https URL" })
  .max(2048)
  .openapi({ description: "The push service URL from `PushSubscription.endpoint`", example: "https://fcm.googleapis.com/fcm/send/abc" });

export const SubscribeBody = z
  .strictObject({
    endpoint: PushEndpoint,
    keys: z.strictObject({
      p256dh: base64UrlOf(65, "an uncompressed P-256 point").refine(
        (s) => bytesOfBase64Url(s)?.[0] === 0x04,
        "must be an uncompressed point (0x04 …)",
      ),
      auth: base64UrlOf(16, "the auth secret"),
    }),
    expirationTime: z
      .number()
      .nonnegative()
      .nullable()
      .optional()
      .openapi({ description: "As `PushSubscription.toJSON()` gives it (ms since the epoch, or null); no push is sent past it" }),
  })
  .openapi("PushSubscribeBody", {
    description: "What `PushSubscription.toJSON()` returns; send it as is.",
  });
export type SubscribeBody = z.infer<typeof SubscribeBody>;

export const UnsubscribeBody = z.strictObject({ endpoint: PushEndpoint }).openapi("PushUnsubscribeBody");
export type UnsubscribeBody = z.infer<typeof UnsubscribeBody>;

export const VapidPublicKey = z
  .object({
    public_key: z
      .string()
      .openapi({ description: "base64url uncompressed P-256 point: `applicationServerKey` for `PushManager.subscribe`" }),
  })
  .openapi("VapidPublicKey");

export const PushSubscriptionView = z
  .object({ endpoint: z.string(), created_at: Timestamp, expires_at: Timestamp.nullable() })
  .openapi("PushSubscription");

export const UnsubscribeResult = z
  .object({ endpoint: z.string(), removed: z.boolean().openapi({ description: "false when the caller had no such subscription" }) })
  .openapi("PushUnsubscribeResult");

/** What the encrypted push message says (`content` only with PUSH_PREVIEW=true). */
export type PushPayload = {
  type: "message.new";
  sender_id: string;
  conversation_partner_id: string;
  seq: number;
  content?: string;
};

const JobFields = {
  messageId: z.string(),
  conversationId: z.string(),
  seq: z.number().int().positive(),
  senderId: z.string(),
  receiverId: z.string(),
};

/** Queue jobs. `notify`: a message reached no socket of its receiver; `deliver`: one push to one subscription. */
export const NotifyJob = z.object({ kind: z.literal("notify"), ...JobFields });
export const DeliverJob = z.object({ kind: z.literal("deliver"), subscriptionId: z.string(), ...JobFields });
export const PushJob = z.discriminatedUnion("kind", [NotifyJob, DeliverJob]);
export type NotifyJob = z.infer<typeof NotifyJob>;
export type DeliverJob = z.infer<typeof DeliverJob>;
export type PushJob = z.infer<typeof PushJob>;
