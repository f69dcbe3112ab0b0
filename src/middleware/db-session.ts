import { createMiddleware } from "hono/factory";
import { dbOf } from "../db/client";
import type { AppEnv } from "../env";
import { AppError } from "../errors";

/** Request and response header carrying a D1 Sessions bookmark (read replication). */
export const BOOKMARK_HEADER = "x-d1-bookmark";

/** Bookmarks are opaque to us; bound what we hand to D1 (local D1 accepts any string, Cloudflare's would not). */
const BOOKMARK = /^[A-Za-z0-9-]{1,256}$/;

/**
 * Every request reads and writes D1 through one Sessions API session. Reads (GET, HEAD) may be served
 * by any replica (`first-unconstrained`); writes start at the primary (`first-primary`). A client that
 * sends back the `x-d1-bookmark` of its last response is served at least as fresh as that response,
 * from any replica, so it reads its own writes. Durable Objects, the queue consumer and the scheduled
 * jobs use the binding directly, which always talks to the primary.
 */
export const withDbSession = () =>
  createMiddleware<AppEnv>(async function withDbSession(c, next) {
    const given = c.req.header(BOOKMARK_HEADER);
    if (given !== undefined && !BOOKMARK.test(given)) {
      throw new AppError("validation_failed", "Invalid D1 bookmark", { [BOOKMARK_HEADER]: ["not a bookmark this API issued"] });
    }
    const reads = c.req.method === "GET" || c.req.method === "HEAD";
    const session = c.env.DB.withSession(given ?? (reads ? "first-unconstrained" : "first-primary"));
    // Drizzle only calls prepare() and batch(), which a session has; its types want the whole binding.
    c.set("db", dbOf(session as unknown as D1Database));
    await next();
    const bookmark = session.getBookmark();
    // A 101 (WebSocket) answer is the object's own response, whose headers cannot change.
    if (bookmark && c.res.status !== 101) c.header(BOOKMARK_HEADER, bookmark);
  });
