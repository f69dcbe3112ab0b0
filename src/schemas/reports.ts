import { z } from "@hono/zod-openapi";
import { REPORT_REASONS, REPORT_RESOLUTIONS, REPORT_STATUSES } from "../db/schema";
import { FromBound, Limit, OpaqueId, Page, Timestamp, ToBound, UserId } from "./common";
import { Message, MessageStatus, MessageType, ModerationStatus } from "./messages";
import { Suspension } from "./safety";

export const ReportReason = z.enum(REPORT_REASONS).openapi("ReportReason");
export const ReportStatus = z.enum(REPORT_STATUSES).openapi("ReportStatus");
export const ReportResolution = z.enum(REPORT_RESOLUTIONS).openapi("ReportResolution");

/** Messages a report may name besides the last 50 (they are added to the snapshot). */
export const MAX_NAMED_MESSAGES = 50;

export const ReportBody = z
  .strictObject({
    user_id: UserId.openapi({ description: "Who is reported" }),
    reason: ReportReason,
    details: z.string().trim().min(1).max(2000).optional(),
    message_ids: z
      .array(OpaqueId)
      .max(MAX_NAMED_MESSAGES)
      .optional()
      .default([])
      .openapi({ description: "Messages of the conversation with the reported user to keep in the snapshot, besides its last 50" }),
    block: z.boolean().optional().default(false).openapi({ description: "Also block the reported user, in the same write" }),
  })
  .openapi("ReportBody");
export type ReportBody = z.infer<typeof ReportBody>;

export const ReportCreated = z.object({ report_id: z.string(), status: z.literal("open") }).openapi("ReportCreated");

export const SnapshotMessage = z
  .object({
    id: z.string(),
    seq: z.number().int(),
    sender_id: z.string(),
    receiver_id: z.string(),
    content: z.string().nullable().openapi({ description: "The text as sent (deleted and blocked included); null once redacted" }),
    message_type: MessageType,
    status: MessageStatus,
    moderation_status: ModerationStatus,
    moderation_reason: z.string().nullable(),
    attachments: Message.shape.attachments,
    metadata: z.record(z.string(), z.unknown()),
    is_deleted: z.boolean(),
    deleted_at: Timestamp.nullable(),
    created_at: Timestamp,
    named: z.boolean().openapi({ description: "One of the report's message_ids" }),
  })
  .openapi("SnapshotMessage");

export const AdminReport = z
  .object({
    id: z.string(),
    reporter_id: z.string(),
    user_id: z.string().openapi({ description: "The reported user" }),
    conversation_id: z.string(),
    reason: ReportReason,
    details: z.string().nullable(),
    message_ids: z.array(z.string()),
    also_blocked: z.boolean(),
    status: ReportStatus,
    resolution: ReportResolution.nullable(),
    resolution_note: z.string().nullable(),
    resolved_by: z.string().nullable(),
    resolved_at: Timestamp.nullable(),
    created_at: Timestamp,
    snapshot: z.array(SnapshotMessage).openapi({ description: "The conversation as it was when reported, oldest first" }),
    snapshot_redacted_at: Timestamp.nullable().openapi({
      description: "Set once the report was resolved REPORT_RETENTION_DAYS ago: the snapshot's content is gone",
    }),
    user_suspension: Suspension.openapi({ description: "The reported user's suspension now" }),
  })
  .openapi("AdminReport");
export type AdminReport = z.infer<typeof AdminReport>;

export const ReportQuery = z.object({
  status: ReportStatus.optional(),
  user_id: UserId.optional().openapi({ description: "The reported user" }),
  reporter_id: UserId.optional(),
  reason: ReportReason.optional(),
  from: FromBound.optional(),
  to: ToBound.optional(),
  page: Page,
  limit: Limit,
});
export type ReportQuery = z.infer<typeof ReportQuery>;

export const ReportPage = z
  .object({ reports: z.array(AdminReport), total: z.number().int(), page: z.number().int(), limit: z.number().int() })
  .openapi("ReportPage");

export const ReportIdParam = z.object({ report_id: OpaqueId.openapi({ param: { name: "report_id", in: "path" } }) });

export const ResolveBody = z
  .strictObject({ resolution: ReportResolution, note: z.string().trim().min(1).max(2000) })
  .openapi("ResolveReportBody");
export type ResolveBody = z.infer<typeof ResolveBody>;
