import { createRouter } from "../openapi";
import { adminAccountRoutes } from "./admins";
import { adminAttachmentRoutes } from "./attachments";
import { adminAuditRoutes } from "./audit";
import { adminCreditRoutes } from "./credits";
import { adminMeRoutes } from "./me";
import { adminMessageRoutes } from "./messages";

/** Every route here sits behind requireAdmin (app.ts) and declares its own permission and audit action. */
export const adminRoutes = createRouter()
  .route("/", adminMessageRoutes)
  .route("/", adminCreditRoutes)
  .route("/", adminAuditRoutes)
  .route("/", adminAccountRoutes)
  .route("/", adminMeRoutes)
  .route("/", adminAttachmentRoutes);
