import { createRoute } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { PushSubscriptionView, SubscribeBody, UnsubscribeBody, UnsubscribeResult, VapidPublicKey } from "../schemas/push";
import { MAX_SUBSCRIPTIONS_PER_USER, subscribe, toSubscriptionView, unsubscribe, vapidPublicKey } from "../services/push";
import { BODY_ERRORS, bearer, createRouter, errors, jsonBody, jsonOf } from "./openapi";

const tags = ["push"];

const publicKey = createRoute({
  method: "get",
  path: "/vapid-public-key",
  tags,
  security: bearer,
  summary: "The server's VAPID public key, for PushManager.subscribe",
  description: "Pass `public_key` as `applicationServerKey` (browsers take the base64url string, or its bytes).",
  responses: { 200: jsonOf(VapidPublicKey, "The VAPID public key"), ...errors() },
});

const create = createRoute({
  method: "post",
  path: "/subscriptions",
  tags,
  security: bearer,
  summary: "Register this device's push subscription",
  description: [
    "Send `PushSubscription.toJSON()` as is. `endpoint` must be https (plain http to 127.0.0.1 or localhost only",
    "with DEV_AUTH=true); `keys.p256dh` must be a base64url P-256 point (65 bytes, on the curve) and `keys.auth` 16",
    "base64url bytes. 201 for a new subscription, 200 when the caller had it already (it counts as just seen). An",
    "endpoint another user registered moves to the caller: the device changed hands. A user keeps at most",
    `${MAX_SUBSCRIPTIONS_PER_USER} subscriptions: registering one more removes the one least recently registered or refreshed,`,
    "in the same write (so a new device always works). Clients re-post their subscription on start. Every 400 stores nothing.",
  ].join(" "),
  request: { body: jsonBody(SubscribeBody) },
  responses: {
    201: jsonOf(PushSubscriptionView, "Registered"),
    200: jsonOf(PushSubscriptionView, "Already registered by the caller: refreshed"),
    ...errors(...BODY_ERRORS),
  },
});

const remove = createRoute({
  method: "delete",
  path: "/subscriptions",
  tags,
  security: bearer,
  summary: "Remove one of the caller's push subscriptions",
  description: "Idempotent: `removed` is false when the caller has no such subscription (another user's is never touched).",
  request: { body: jsonBody(UnsubscribeBody) },
  responses: { 200: jsonOf(UnsubscribeResult, "Removed (or there was nothing to remove)"), ...errors(...BODY_ERRORS) },
});

const deps = (c: { var: AppEnv["Variables"]; env: Env }) => ({ db: c.var.db, env: c.env });

export const pushRoutes = createRouter()
  .openapi(publicKey, async (c) => c.json({ public_key: await vapidPublicKey(c.env) }, 200))
  .openapi(create, async (c) => {
    const { subscription, created } = await subscribe(deps(c), c.var.userId, c.req.valid("json"));
    return c.json(toSubscriptionView(subscription), created ? 201 : 200);
  })
  .openapi(remove, async (c) => {
    const { endpoint } = c.req.valid("json");
    return c.json({ endpoint, removed: await unsubscribe(deps(c), c.var.userId, endpoint) }, 200);
  });
