import { createRoute, z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { createRouter, jsonOf } from "./openapi";

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["health"],
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
  } catch {
    return c.json({ ok: false as const }, 503);
  }
});
