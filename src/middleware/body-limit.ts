import { bodyLimit } from "hono/body-limit";

export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Checked from Content-Length, or by counting a chunked stream, before anything parses the body.
 * It runs after authentication (a stranger learns nothing but 401) and, on admin routes, after the
 * route's permission check, so a 413 is audited under the route's own action.
 */
export const limitBody = bodyLimit({ maxSize: BODY_LIMIT_BYTES });
