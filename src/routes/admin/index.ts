import { createRouter } from "../openapi";
import { adminAccountRoutes } from "./admins";
import { adminAttachmentRoutes } from "./attachments";
import { adminAuditRoutes } from "./audit";
import { adminCreditRoutes } from "./credits";
import { adminMeRoutes } from "./me";
import { adminMessageRoutes } from "./messages";
import { adminReportRoutes } from "./reports";
import { adminUserRoutes } from "./users";

/** Every route here sits behind requireAdmin (app.ts) and declares its own permission and audit action. */
export const adminRoutes = createRouter()
  .route("/", adminMessageRoutes)
  .route("/", adminCreditRoutes)
  .route("/", adminAuditRoutes)
  .route("/", adminAccountRoutes)
  .route("/", adminMeRoutes)
  .route("/", adminAttachmentRoutes)
  .route("/", adminReportRoutes)
  .route("/", adminUserRoutes);
