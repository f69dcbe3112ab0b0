import { z } from "@hono/zod-openapi";
import { Timestamp } from "./common";

export const AttachmentId = z
  .string()
  .regex(/^att_[0-9a-f]{32}$/, "not an attachment id this API issued")
  .openapi({ example: "att_9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d" });

/** No control characters: the name ends up in a Content-Disposition header. */
const FileName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\p{Cc}]+$/u, "must not contain control characters");

export const CreateAttachmentBody = z
  .strictObject({
    mime_type: z
      .string()
      .max(255)
      .transform((t) => t.trim().toLowerCase())
      .openapi({ example: "image/jpeg", description: "One of the allowed types (ATTACHMENT_TYPES)" }),
    size_bytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31)
      .openapi({ description: "The exact length of the bytes the PUT will send" }),
    name: FileName.optional().openapi({ description: "The file name shown and used for downloads" }),
  })
  .openapi("CreateAttachmentBody");
export type CreateAttachmentBody = z.infer<typeof CreateAttachmentBody>;

export const CreatedAttachment = z
  .object({
    attachment_id: AttachmentId,
    upload_url: z.string().openapi({ description: "PUT the raw bytes here (absolute URL), with Content-Type = mime_type" }),
    expires_at: Timestamp.openapi({ description: "The PUT must start before this" }),
  })
  .openapi("CreatedAttachment");

export const UploadedAttachment = z
  .object({
    attachment_id: AttachmentId,
    mime_type: z.string(),
    size_bytes: z.number().int(),
    width: z.number().int().optional().openapi({ description: "Images: read from the file's headers" }),
    height: z.number().int().optional(),
  })
  .openapi("UploadedAttachment");

/** A message's upload as stored and shown; `url` is the download route (relative to the API's origin). */
export const StoredAttachment = z
  .object({
    attachment_id: AttachmentId,
    url: z.string().openapi({ example: "/api/v2/attachments/att_9b1deb4d3b7d4bad9bdd2b0d7b3dcb6d" }),
    mime_type: z.string(),
    size_bytes: z.number().int(),
    name: z.string(),
    width: z.number().int().optional(),
    height: z.number().int().optional(),
  })
  .openapi("StoredAttachment");

/** In a send: an upload of the sender's that no message carries yet. */
export const AttachmentRef = z.strictObject({ attachment_id: AttachmentId }).openapi("AttachmentRef");
export type AttachmentRef = z.infer<typeof AttachmentRef>;

const hasAttachmentId = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v) && "attachment_id" in v;

/**
 * A send's attachment: `{attachment_id}` when the item names one, else the earlier https link form.
 * Chosen by that key rather than tried in turn (a plain union), so a link missing a field is told
 * which field, not "matches neither".
 */
export function uploadOrLink<L extends z.ZodType>(link: L) {
  return z
    .unknown()
    .transform((value, ctx): AttachmentRef | z.output<L> => {
      const parsed = hasAttachmentId(value) ? AttachmentRef.safeParse(value) : link.safeParse(value);
      if (parsed.success) return parsed.data as AttachmentRef | z.output<L>;
      for (const issue of parsed.error.issues) ctx.issues.push({ ...issue, input: value } as (typeof ctx.issues)[number]);
      return z.NEVER;
    })
    .openapi({ oneOf: [{ $ref: "#/components/schemas/AttachmentRef" }, { $ref: "#/components/schemas/Attachment" }] });
}

export const AttachmentParam = z.object({
  attachment_id: AttachmentId.openapi({ param: { name: "attachment_id", in: "path" } }),
});

export const DownloadQuery = z.object({
  ticket: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .openapi({ description: "A ticket from POST /api/v2/attachments/{attachment_id}/ticket, instead of the Authorization header" }),
});

export const AttachmentTicket = z
  .object({
    attachment_id: AttachmentId,
    url: z.string().openapi({ description: "The download URL with its ticket (absolute): usable as an <img>/<video> src" }),
    expires_at: Timestamp,
  })
  .openapi("AttachmentTicket");
