import { Hono } from "hono";
import type { AppEnv } from "../env";

/**
 * The web client (`/`) and the admin console (`/admin`) are static assets built from web/ into
 * web/dist; the runtime serves them before the Worker runs (wrangler.toml [assets]). A request for
 * them that reaches the Worker anyway (through a binding, or `exports.default` in tests) gets the
 * same files from the ASSETS binding, so both paths answer the same page.
 */
const page = (path: string) => async (c: { req: { url: string }; env: Env }) => {
  const res = await c.env.ASSETS.fetch(new URL(path, c.req.url));
  return new Response(res.body, res); // the binding's headers are immutable; middleware adds its own
};

export const webRoutes = new Hono<AppEnv>().get("/", page("/")).get("/admin", page("/admin"));
