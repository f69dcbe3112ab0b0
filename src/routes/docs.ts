import { swaggerUI } from "@hono/swagger-ui";
import { Hono } from "hono";
import type { AppEnv } from "../env";

/** Swagger UI's files are ours (web/dist/vendor, copied from swagger-ui-dist at build): no CDN at run time. */
const VENDOR = "/vendor/swagger-ui";

const page = () => `
  <div id="swagger-ui"></div>
  <link rel="stylesheet" href="${VENDOR}/swagger-ui.css" />
  <script src="${VENDOR}/swagger-ui-bundle.js"></script>
  <script>
    window.onload = () => {
      window.ui = SwaggerUIBundle({ dom_id: "#swagger-ui", url: "/api/openapi.json", deepLinking: true, displayOperationId: true, persistAuthorization: false });
    };
  </script>`;

/** GET /api/docs: the interactive reference of GET /api/openapi.json (public, like the document). */
export const docsRoutes = new Hono<AppEnv>().get(
  "/",
  swaggerUI({ url: "/api/openapi.json", title: "Pairly Messaging API", manuallySwaggerUIHtml: page }),
);
