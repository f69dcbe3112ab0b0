/**
 * Push notifications for offline users: the rules. Subscriptions (validated, at most 20 per user),
 * the job the send path enqueues when a message reached no socket of its receiver, and what the queue
 * consumer does with it: coalesce, check that it is still news, fan out, deliver, clean up.
 */

import { devAuthEnabled } from "../config";
import type { Db } from "../db/client";
import {
  claimPush,
  deleteSubscription,
  deleteSubscriptionById,
  deliveryReads,
  fanOutReads,
  type News,
  releasePush,
  upsertSubscription,
} from "../db/push";
import type { MessageRow, PushSubscriptionRow } from "../db/schema";
import type { PushDevices } from "../durable-objects/inbox";
import { AppError } from "../errors";
import { logError } from "../lib/log";
import { backoffSeconds, MAX_QUEUE_DELAY_SECONDS, retryAfterSeconds } from "../lib/retry";
import { nowIso } from "../lib/time";
import { bytesOfBase64Url, importVapid, isP256Point, pushRequest, type Vapid } from "../lib/web-push";
import type { DeliverJob, NotifyJob, PushPayload, SubscribeBody } from "../schemas/push";
import { mayReach } from "./safety";

export type PushDeps = { db: Db; env: Env };

/** A user's subscriptions (browsers, devices); the 21st evicts the least recently seen. */
export const MAX_SUBSCRIPTIONS_PER_USER = 20;
/** How long a push service keeps a notification for a device that is offline. */
export const PUSH_TTL_SECONDS = 24 * 3600;
/** RFC 8030 §5.3 names chat messages `normal`; `high` is for calls and alarms. */
const URGENCY = "normal";
/** With PUSH_PREVIEW, the first this many characters of the message. */
export const PREVIEW_CHARS = 200;
/** A push service that does not answer in this time is retried like a 5xx. */
const PUSH_TIMEOUT_MS = 15_000;

export function pushSettingsOf(env: Env) {
  const coalesce = Number(env.PUSH_COALESCE_SECONDS ?? "3");
  if (!Number.isInteger(coalesce) || coalesce < 0 || coalesce > MAX_QUEUE_DELAY_SECONDS) {
    throw new Error(
      `PUSH_COALESCE_SECONDS must be a whole number of seconds (0-${MAX_QUEUE_DELAY_SECONDS}), got "${env.PUSH_COALESCE_SECONDS}"`,
    );
  }
  return { preview: env.PUSH_PREVIEW === "true", coalesceSeconds: coalesce };
}

/** The VAPID key pair, imported once per isolate (and again only if the secrets change). */
let vapidCache: { source: string; vapid: Promise<Vapid> } | undefined;
export function vapidOf(env: Env): Promise<Vapid> {
  const source = `${env.VAPID_PUBLIC_KEY}\n${env.VAPID_PRIVATE_KEY}\n${env.VAPID_SUBJECT}`;
  if (vapidCache?.source !== source)
    vapidCache = { source, vapid: importVapid(env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT) };
  return vapidCache.vapid;
}

export const vapidPublicKey = async (env: Env) => (await vapidOf(env)).publicKey;

const invalid = (field: string, message: string) => new AppError("validation_failed", "The request is not valid", { [field]: [message] });

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost"]);

/** https anywhere; plain http only to this machine and only with DEV_AUTH (local push receivers in test suites). */
function checkEndpoint(endpoint: string, devAuth: boolean): void {
  const url = new URL(endpoint);
  if (url.username || url.password) throw invalid("endpoint", "must not carry credentials");
  if (url.protocol === "https:") return;
  if (devAuth && LOCAL_HOSTS.has(url.hostname)) return;
  throw invalid("endpoint", devAuth ? "must be an https URL (or http to 127.0.0.1 or localhost)" : "must be an https URL");
}

/**
 * Stores the caller's device. Posting a known endpoint refreshes it (200); one another user had moves
 * to the caller (201: the device changed hands). Everything is checked before the one write.
 */
export async function subscribe({ db, env }: PushDeps, userId: string, body: SubscribeBody) {
  checkEndpoint(body.endpoint, devAuthEnabled(env));
  const point = bytesOfBase64Url(body.keys.p256dh);
  if (!point || !(await isP256Point(point))) throw invalid("keys.p256dh", "must be a point on the P-256 curve");
  const now = Date.now();
  if (typeof body.expirationTime === "number" && body.expirationTime <= now) throw invalid("expirationTime", "must be in the future");
  const id = `psub_${crypto.randomUUID().replaceAll("-", "")}`;
  const at = new Date(now).toISOString();
  const stored = await upsertSubscription(
    db,
    {
      endpoint: body.endpoint,
      id,
      userId,
      p256dh: body.keys.p256dh,
      auth: body.keys.auth,
      expiresAt: typeof body.expirationTime === "number" ? new Date(body.expirationTime).toISOString() : null,
      createdAt: at,
      lastSeenAt: at,
    },
    MAX_SUBSCRIPTIONS_PER_USER,
  );
  await pushDevicesKnown(env, userId, "some", now);
  return { subscription: stored, created: stored.id === id };
}

export async function unsubscribe({ db, env }: PushDeps, userId: string, endpoint: string): Promise<boolean> {
  const removed = await deleteSubscription(db, userId, endpoint);
  // Others may remain: the next offline message finds out (and says "none" if it was the last).
  if (removed) await pushDevicesKnown(env, userId, "unknown", Date.now());
  return removed;
}

/**
 * Tells the user's inbox what is known of their subscriptions, so the send path queues no job for a
 * user who has none. A lost "none" only costs spare jobs; a lost "some" after a "none" would hold
 * pushes back until the client re-posts its subscription, which it does on every start.
 */
async function pushDevicesKnown(env: Env, userId: string, state: PushDevices, asOf: number): Promise<void> {
  try {
    await env.INBOX.getByName(userId).pushDevicesKnown(state, asOf);
  } catch (err) {
    logError("push.devices_known_failed", err, { userId, state });
  }
}

export const toSubscriptionView = (s: PushSubscriptionRow) => ({ endpoint: s.endpoint, created_at: s.createdAt, expires_at: s.expiresAt });

/**
 * The send path, after a commit, when neither the room nor the receiver's inbox had a live socket of
 * theirs. The job waits PUSH_COALESCE_SECONDS, so a burst ends as one push (see `fanOut`).
 */
export async function notifyOffline(env: Env, m: MessageRow): Promise<void> {
  const job: NotifyJob = {
    kind: "notify",
    messageId: m.id,
    conversationId: m.conversationId,
    seq: m.seq,
    senderId: m.senderId,
    receiverId: m.receiverId,
  };
  await env.PUSH_QUEUE.send(job, { contentType: "json", delaySeconds: pushSettingsOf(env).coalesceSeconds });
}

/**
 * May this sender still reach this receiver? Checked by the consumer right before it pushes (and again
 * before each delivery), since a block (either way), an unmatch or the sender's suspension may come
 * after the send: one query of primary-key lookups.
 */
export async function maySenderReach(deps: PushDeps, pair: { senderId: string; receiverId: string }): Promise<boolean> {
  return mayReach(deps.db, pair.senderId, pair.receiverId);
}

export type SkipReason =
  | "superseded"
  | "delivered"
  | "deleted"
  | "moderated"
  | "missing"
  | "unreachable"
  | "duplicate"
  | "no_subscriptions"
  | "subscription_gone"
  | "expired";

/**
 * Is the message still worth a push? Not when a newer message of the conversation exists (that one
 * has its own job, or was seen live, or is the receiver's own reply), when a device of the receiver
 * already got it (delivered or read), or when it is deleted or blocked by moderation.
 */
async function whyNot(deps: PushDeps, job: NotifyJob | DeliverJob, news: News | undefined): Promise<SkipReason | null> {
  if (!news?.status) return "missing";
  if (news.lastSeq > job.seq) return "superseded";
  if (news.isDeleted) return "deleted";
  if (news.moderationStatus === "blocked") return "moderated";
  if (news.status !== "sent") return "delivered";
  if (!(await maySenderReach(deps, job))) return "unreachable";
  return null;
}

export type FanOutOutcome = { outcome: "skipped"; reason: SkipReason } | { outcome: "fanned_out"; subscriptions: number };

/**
 * A notify job, PUSH_COALESCE_SECONDS after its message. Of a burst only the newest message's job gets
 * past `whyNot` (the others are superseded); it claims its seq (a second copy of the job finds it
 * taken) and enqueues one delivery per subscription, so each device retries on its own.
 */
export async function fanOut(deps: PushDeps, job: NotifyJob): Promise<FanOutOutcome> {
  const readAt = Date.now();
  const now = new Date(readAt).toISOString();
  const { news, subscriptionIds } = await fanOutReads(deps.db, job, now);
  if (!subscriptionIds.length) {
    await pushDevicesKnown(deps.env, job.receiverId, "none", readAt);
    return { outcome: "skipped", reason: "no_subscriptions" };
  }
  const reason = await whyNot(deps, job, news);
  if (reason) return { outcome: "skipped", reason };
  if (!(await claimPush(deps.db, job.receiverId, job.conversationId, job.seq, now))) return { outcome: "skipped", reason: "duplicate" };
  try {
    await deps.env.PUSH_QUEUE.sendBatch(
      subscriptionIds.map((subscriptionId) => ({
        body: { ...job, kind: "deliver", subscriptionId } satisfies DeliverJob,
        contentType: "json",
      })),
    );
  } catch (err) {
    // The job will be retried: it must find its claim free again.
    await releasePush(deps.db, job.receiverId, job.conversationId, job.seq);
    throw err;
  }
  return { outcome: "fanned_out", subscriptions: subscriptionIds.length };
}

export type DeliverOutcome =
  | { outcome: "skipped"; reason: SkipReason }
  | { outcome: "sent" | "gone" | "rejected"; status: number; pushService: string }
  | { outcome: "retry"; status: number | null; pushService: string; delaySeconds: number; error?: string };

/** The notification's topic: per receiver and conversation, and without user ids (the push service sees it). */
export async function topicOf(receiverId: string, conversationId: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${receiverId}\n${conversationId}`));
  return btoa(String.fromCharCode(...new Uint8Array(digest, 0, 24)))
    .replaceAll("+", "-")
    .replaceAll("/", "_");
}

export function payloadOf(job: DeliverJob, content: string | null, preview: boolean): PushPayload {
  const payload: PushPayload = { type: "message.new", sender_id: job.senderId, conversation_partner_id: job.senderId, seq: job.seq };
  if (preview && content !== null) payload.content = [...content].slice(0, PREVIEW_CHARS).join("");
  return payload;
}

/**
 * One push to one subscription. 2xx: sent. 404/410: the subscription is gone and removed. 429/5xx or
 * no answer: retried after `Retry-After`, else with backoff (the queue moves a job that keeps failing
 * to the dead-letter queue). Any other 4xx is the push service refusing this request for good: logged.
 */
export async function deliver(deps: PushDeps, job: DeliverJob, attempt: number): Promise<DeliverOutcome> {
  const { news, subscription } = await deliveryReads(deps.db, job);
  if (!subscription) return { outcome: "skipped", reason: "subscription_gone" };
  const reason = await whyNot(deps, job, news);
  if (reason) return { outcome: "skipped", reason };
  if (subscription.expiresAt && subscription.expiresAt <= nowIso()) {
    await deleteSubscriptionById(deps.db, subscription.id);
    await pushDevicesKnown(deps.env, job.receiverId, "unknown", Date.now());
    return { outcome: "skipped", reason: "expired" };
  }
  const pushService = new URL(subscription.endpoint).origin;
  const payload = payloadOf(job, news?.content ?? null, pushSettingsOf(deps.env).preview);
  const request = await pushRequest(subscription, JSON.stringify(payload), await vapidOf(deps.env), {
    ttl: PUSH_TTL_SECONDS,
    urgency: URGENCY,
    topic: await topicOf(job.receiverId, job.conversationId),
  });
  let res: Response;
  try {
    res = await fetch(request, { signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) });
  } catch (err) {
    return { outcome: "retry", status: null, pushService, delaySeconds: backoffSeconds(attempt), error: String(err) };
  }
  await res.body?.cancel();
  const status = res.status;
  if (res.ok) return { outcome: "sent", status, pushService };
  if (status === 404 || status === 410) {
    await deleteSubscriptionById(deps.db, subscription.id);
    await pushDevicesKnown(deps.env, job.receiverId, "unknown", Date.now());
    return { outcome: "gone", status, pushService };
  }
  if (status === 429 || status >= 500) {
    return {
      outcome: "retry",
      status,
      pushService,
      delaySeconds: retryAfterSeconds(res.headers.get("retry-after")) ?? backoffSeconds(attempt),
    };
  }
  return { outcome: "rejected", status, pushService };
}
