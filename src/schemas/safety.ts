import { z } from "@hono/zod-openapi";
import { Cursor, FromBound, Limit, Timestamp, UserId } from "./common";

export const BlockBody = z.strictObject({ user_id: UserId }).openapi("BlockBody");

export const Block = z.object({ user_id: z.string(), created_at: Timestamp }).openapi("Block");

export const BlockPage = z
  .object({ blocks: z.array(Block), next_cursor: z.string().nullable(), has_more: z.boolean() })
  .openapi("BlockPage");

export const BlockQuery = z.object({ limit: Limit, before: Cursor.optional() });

export const Unblocked = z.object({ user_id: z.string(), blocked: z.literal(false) }).openapi("Unblocked");

export const UserIdParam = z.object({ user_id: UserId.openapi({ param: { name: "user_id", in: "path" } }) });

export const PartnerParam = z.object({ partner_id: UserId.openapi({ param: { name: "partner_id", in: "path" } }) });

export const Unmatched = z.object({ partner_id: z.string(), unmatched_at: Timestamp }).openapi("Unmatched");

export const SuspendBody = z
  .strictObject({
    reason: z.string().trim().min(1).max(1000),
    until: FromBound.optional().openapi({
      type: "string",
      description:
        "When the suspension ends by itself: a date (its start, UTC) or a date-time with an offset, in the future. Omitted: until unsuspended.",
    }),
  })
  .openapi("SuspendBody");
export type SuspendBody = z.infer<typeof SuspendBody>;

export const Suspension = z
  .object({
    user_id: z.string(),
    suspended: z.boolean(),
    reason: z.string().nullable(),
    until: Timestamp.nullable(),
    created_at: Timestamp.nullable(),
  })
  .openapi("Suspension");

export const Erasure = z
  .object({
    user_id: z.string(),
    removed: z.number().int().openapi({ description: "Messages this erasure has removed so far" }),
    remaining: z.number().int().openapi({ description: "Messages of the user still to remove" }),
    status: z.enum(["running", "done"]),
  })
  .openapi("Erasure");
