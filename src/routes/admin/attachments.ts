import { createRoute } from "@hono/zod-openapi";
import { requirePermission } from "../../middleware/permissions";
import { AttachmentParam } from "../../schemas/attachments";
import { openAdminDownload } from "../../services/attachments";
import { downloadResponse } from "../attachments";
import { bearer, createRouter, errors } from "../openapi";

const BYTES = { schema: { type: "string" as const, format: "binary" } };

const download = createRoute({
  method: "get",
  path: "/attachments/{attachment_id}",
  tags: ["admin"],
  security: bearer,
  summary: "A message's attachment, for moderators (moderation.view)",
  description:
    "The bytes of any sent message's attachment, deleted and blocked messages included (never an unsent upload), with the same " +
    "headers and Range support as the participants' route. Admin message views point their attachments' `url` here. Audited.",
  middleware: [
    requirePermission("moderation.view", "attachments.view", (p) => ({ targetType: "attachment", targetId: p.attachment_id })),
  ] as const,
  request: { params: AttachmentParam },
  responses: {
    200: { description: "The whole file", content: { "*/*": BYTES } },
    206: { description: "The requested range (Content-Range)", content: { "*/*": BYTES } },
    ...errors("validation_failed", "forbidden", "not_found", "range_not_satisfiable", "rate_limited"),
  },
});

export const adminAttachmentRoutes = createRouter().openapi(download, async (c) =>
  downloadResponse(c, await openAdminDownload({ db: c.var.db, env: c.env }, c.req.valid("param").attachment_id, c.req.header("range"))),
);
