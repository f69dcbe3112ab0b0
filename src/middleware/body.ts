import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { AppError } from "../errors";

export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Checked from Content-Length, or by counting a chunked stream, before anything parses the body.
 * It runs after authentication (a stranger learns nothing but 401) and, on admin routes, after the
 * route's permission check, so a 413 is audited under the route's own action.
 */
export const limitBody = bodyLimit({ maxSize: BODY_LIMIT_BYTES });

/**
 * Routes that take no body (mark-delivered, deletes, deactivate). Nothing or `{}` is fine; any field
 * would be one we silently ignore, so it is refused like an unknown field anywhere else (400).
 */
export const noBody = () =>
  createMiddleware<AppEnv>(async function noBody(c, next) {
    const text = (await c.req.text()).trim();
    if (text && text !== "{}") {
      let fields: string[] = [];
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) fields = Object.keys(parsed);
      } catch {
        // not JSON: reported as a body that must be empty
      }
      const details = fields.length ? Object.fromEntries(fields.map((f) => [f, ["unknown field"]])) : { body: ["must be empty"] };
      throw new AppError("validation_failed", "This route takes no body", details);
    }
    await next();
  });
