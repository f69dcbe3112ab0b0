import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { corsOriginsOf } from "./config";
import { dbOf } from "./db/client";
import type { AppEnv } from "./env";
import { onError, onNotFound } from "./errors";
import { isAttachmentUpload, usesDownloadTicket } from "./middleware/attachments";
import { requireUser } from "./middleware/auth";
import { limitBody } from "./middleware/body";
import { requireAdmin } from "./middleware/permissions";
import { adminRoutes } from "./routes/admin";
import { attachmentRoutes } from "./routes/attachments";
import { conversationRoutes } from "./routes/conversations";
import { creditRoutes } from "./routes/credits";
import { devRoutes } from "./routes/dev";
import { healthRoutes } from "./routes/health";
import { messageRoutes } from "./routes/messages";
import { validationError } from "./routes/openapi";
import { realtimeRoutes } from "./routes/realtime";
import { webRoutes } from "./routes/web";

const withDb = createMiddleware<AppEnv>(async function withDb(c, next) {
  c.set("db", dbOf(c.env.DB));
  await next();
});

/** One CORS middleware per configured origin list (the setting lives in env, known per request). */
const corsByOrigins = new Map<string, MiddlewareHandler>();
function corsFor(origins: string): MiddlewareHandler {
  let handler = corsByOrigins.get(origins);
  if (!handler) {
    handler = cors({
      origin: corsOriginsOf(origins),
      allowHeaders: ["Authorization", "Content-Type", "X-Request-Id"],
      exposeHeaders: ["X-Request-Id", "Retry-After", "Content-Disposition"],
      maxAge: 600,
    });
    corsByOrigins.set(origins, handler);
  }
  return handler;
}

/** Public: health, the web client, the OpenAPI document and (only with DEV_AUTH) local sign-in. */
const isPublic = (path: string) => path === "/api/openapi.json" || path.startsWith("/api/dev/");

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
  app.onError(onError);
  app.notFound(onNotFound);

  app.use(requestId());
  app.use(secureHeaders({ crossOriginResourcePolicy: "cross-origin" }));
  app.use("/api/*", (c, next) => corsFor(c.env.CORS_ORIGINS ?? "*")(c, next));
  app.use(withDb);
  const authenticate = requireUser();
  app.use("/api/*", async (c, next) => (isPublic(c.req.path) || usesDownloadTicket(c.req) ? next() : authenticate(c, next)));
  app.use("/api/admin/*", requireAdmin());
  // Admin routes limit the body themselves, after their permission check (requirePermission); an
  // attachment upload streams up to its type's limit, checked by its own route.
  app.use(async (c, next) => (c.req.path.startsWith("/api/admin/") || isAttachmentUpload(c.req) ? next() : limitBody(c, next)));

  app.route("/", healthRoutes);
  app.route("/", webRoutes);
  app.route("/api/dev", devRoutes);
  app.route("/api/v2/messages", messageRoutes);
  app.route("/api/v2/messages", conversationRoutes);
  app.route("/api/v2/messages", realtimeRoutes);
  app.route("/api/v2/credits", creditRoutes);
  app.route("/api/v2/attachments", attachmentRoutes);
  app.route("/api/admin", adminRoutes);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  app.doc31("/api/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Pairly Messaging API",
      version: "2.0.0",
      description: [
        "Realtime 1:1 messaging with credits, receipts and moderation. Errors always have the shape",
        '`{"error": {"code", "message", "details"?}}`. Bodies over 64 KiB answer 413 before parsing; unknown JSON',
        "fields answer 400. A resource the caller may not see answers 404 exactly like one that does not exist;",
        "a participant acting outside their role (the receiver deleting, the sender marking delivered) gets 403.",
        "Timestamps are ISO-8601 UTC with milliseconds. Cursors are opaque strings.",
      ].join("\n"),
    },
  });
  return app;
}

export const app = createApp();
