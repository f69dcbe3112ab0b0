import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { logError } from "../lib/log";
import { createRouter, jsonOf } from "./openapi";

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["health"],
  security: [],
  summary: "Liveness and D1 reachability (no auth)",
  responses: {
    200: jsonOf(z.object({ ok: z.literal(true) }), "D1 answered"),
    503: jsonOf(z.object({ ok: z.literal(false) }), "D1 did not answer"),
  },
});

export const healthRoutes = createRouter().openapi(healthz, async (c) => {
  try {
    await c.var.db.run(sql`SELECT 1`);
    return c.json({ ok: true as const }, 200);
  } catch (err) {
    // The body stays bare (load balancers read the status); the reason goes to the log.
    logError("healthz.d1_failed", err, { requestId: c.get("requestId") });
    return c.json({ ok: false as const }, 503);
  }
});
