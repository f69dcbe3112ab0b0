import { createRouter } from "../openapi";
import { adminCreditRoutes } from "./credits";

/** Every route here sits behind requireAdmin (app.ts) and declares its own permission and audit action. */
export const adminRoutes = createRouter().route("/", adminCreditRoutes);
