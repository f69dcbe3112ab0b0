import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { corsOriginsOf } from "./config";
import type { AppEnv } from "./env";
import { onError, onNotFound } from "./errors";
import { isAttachmentUpload, usesDownloadTicket } from "./middleware/attachments";
import { requireUser } from "./middleware/auth";
import { limitBody } from "./middleware/body";
import { BOOKMARK_HEADER, withDbSession } from "./middleware/db-session";
import { requireAdmin } from "./middleware/permissions";
import { adminRoutes } from "./routes/admin";
import { attachmentRoutes } from "./routes/attachments";
import { blockRoutes } from "./routes/blocks";
import { conversationRoutes } from "./routes/conversations";
import { creditRoutes } from "./routes/credits";
import { devRoutes } from "./routes/dev";
import { docsRoutes } from "./routes/docs";
import { healthRoutes } from "./routes/health";
import { messageRoutes } from "./routes/messages";
import { createRouter, validationError } from "./routes/openapi";
import { openApiDocument } from "./routes/openapi-document";
import { pushRoutes } from "./routes/push";
import { realtimeRoutes } from "./routes/realtime";
import { reportRoutes } from "./routes/reports";
import { unmatchRoutes } from "./routes/unmatch";
import { webRoutes } from "./routes/web";

/** One CORS middleware per configured origin list (the setting lives in env, known per request). */
const corsByOrigins = new Map<string, MiddlewareHandler>();
function corsFor(origins: string): MiddlewareHandler {
  let handler = corsByOrigins.get(origins);
  if (!handler) {
    handler = cors({
      origin: corsOriginsOf(origins),
      allowHeaders: ["Authorization", "Content-Type", "X-Request-Id", BOOKMARK_HEADER],
      exposeHeaders: ["X-Request-Id", "Retry-After", "Content-Disposition", "X-Export-Next-Cursor", "Link", BOOKMARK_HEADER],
      maxAge: 600,
    });
    corsByOrigins.set(origins, handler);
  }
  return handler;
}

/**
 * Local sign-in (only with DEV_AUTH), the one /api router without a token. It is mounted before the
 * authenticated API, so its routes answer first; any other path under /api meets requireUser.
 */
function devApi() {
  const api = createRouter();
  api.use(limitBody);
  return api.route("/", devRoutes);
}

/**
 * The user API: every route authenticated (by the parent) and every body limited before parsing, but
 * an attachment upload, which streams up to its type's limit and is checked by its own route.
 */
function userApi() {
  const api = createRouter();
  api.use((c, next) => (isAttachmentUpload(c.req) ? next() : limitBody(c, next)));
  return api
    .route("/messages", messageRoutes)
    .route("/messages", conversationRoutes)
    .route("/messages", realtimeRoutes)
    .route("/credits", creditRoutes)
    .route("/push", pushRoutes)
    .route("/attachments", attachmentRoutes)
    .route("/blocks", blockRoutes)
    .route("/conversations", unmatchRoutes)
    .route("/reports", reportRoutes);
}

/**
 * The admin API: an active admin row read from D1 on every call, and an audit row for every call.
 * Bodies are limited by each route after its permission check (requirePermission), so an oversized
 * body is a 403 to whoever lacks the permission and an audited 413 otherwise.
 */
function adminApi() {
  const api = createRouter();
  api.use(requireAdmin());
  return api.route("/", adminRoutes);
}

/**
 * Everything under /api that is not public. requireUser is this router's first middleware, so it runs
 * before anything else for every path under it, routes or not (a stranger learns nothing but 401), and
 * a route can only be added inside one of the guarded routers below. The one exception is an
 * attachment download carrying `?ticket=` (an `<img>` cannot send a header): its route checks the ticket.
 */
function authenticatedApi() {
  const api = createRouter();
  const authenticate = requireUser();
  api.use((c, next) => (usesDownloadTicket(c.req) ? next() : authenticate(c, next)));
  return api.route("/v2", userApi()).route("/admin", adminApi());
}

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target);
    },
  });
  app.onError(onError);
  app.notFound(onNotFound);

  // Always our own id, never the client's (audit rows and logs carry it; a client's is kept in its audit row's details).
  app.use(requestId({ headerName: "" }), (c, next) => {
    c.header("X-Request-Id", c.var.requestId);
    return next();
  });
  app.use(secureHeaders({ crossOriginResourcePolicy: "cross-origin" }));
  app.use("/api/*", (c, next) => corsFor(c.env.CORS_ORIGINS ?? "*")(c, next));
  app.use(withDbSession());

  app.route("/", healthRoutes);
  app.route("/", webRoutes);
  // The document is generated from the registry when requested, so it lists the routers mounted below.
  app.get("/api/openapi.json", (c) => c.json(openApiDocument(app)));
  app.route("/api/docs", docsRoutes);
  app.route("/api/dev", devApi());
  app.route("/api", authenticatedApi());

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  return app;
}

export const app = createApp();
