/**
 * Push test helpers. A "device" is what a browser would be: its own ECDH P-256 key pair and auth
 * secret, subscribed at a box of the push service stand-in (test/push-service/server.ts, Node), which
 * records what our consumer sends. The payload is decrypted here with the device's private key
 * (RFC 8291, written independently of the library the Worker uses) and the VAPID JWT verified.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { base64url, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { inject } from "vitest";
import { app } from "../src/app";
import worker from "../src/index";
import type { DeliverJob, NotifyJob, PushJob } from "../src/schemas/push";
import { announcementsSettled } from "../src/services/realtime";
import { as, BASE, tokenFor } from "./helpers";

export const PUSH_QUEUE = "pairly-push";
export const pushServiceUrl = () => inject("pushServiceUrl");

export type Answer = { status: number; headers?: Record<string, string> };
export type Received = { method: string; path: string; headers: Record<string, string>; body: string; at: number };

export type Device = {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  /** What the stand-in received at this device's endpoint, oldest first. */
  received(): Promise<Received[]>;
  /** The stand-in's next answers for this endpoint, then `then` for every one after (default 201). */
  answer(responses: Answer[], then?: Answer): Promise<void>;
  decrypt(body: string): Promise<string>;
};

export async function newDevice(): Promise<Device> {
  const box = crypto.randomUUID();
  const base = pushServiceUrl();
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  const publicRaw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const authSecret = crypto.getRandomValues(new Uint8Array(16));
  return {
    endpoint: `${base}/push/${box}`,
    keys: { p256dh: base64url.encode(publicRaw), auth: base64url.encode(authSecret) },
    received: async () => (await fetch(`${base}/__requests/${box}`)).json(),
    answer: async (responses, then) => {
      const res = await fetch(`${base}/__script/${box}`, { method: "PUT", body: JSON.stringify({ responses, then }) });
      if (res.status !== 204) throw new Error(`stand-in refused the script: ${res.status}`);
    },
    decrypt: (body) =>
      decryptAes128gcm(
        Uint8Array.from(atob(body), (c) => c.charCodeAt(0)),
        pair.privateKey,
        publicRaw,
        authSecret,
      ),
  };
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};
const utf8 = (s: string) => new TextEncoder().encode(s);

async function hkdf(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, bytes * 8));
}

/** RFC 8291 §3 + RFC 8188: one aes128gcm record, decrypted as the user agent would. */
async function decryptAes128gcm(body: Uint8Array, uaPrivate: CryptoKey, uaPublic: Uint8Array, authSecret: Uint8Array): Promise<string> {
  const salt = body.slice(0, 16);
  const recordSize = new DataView(body.buffer, body.byteOffset + 16, 4).getUint32(0);
  const idLength = body[20] ?? 0;
  const asPublic = body.slice(21, 21 + idLength);
  const record = body.slice(21 + idLength);
  if (idLength !== 65 || record.byteLength > recordSize) throw new Error(`not one aes128gcm record (idlen ${idLength}, rs ${recordSize})`);
  const asKey = await crypto.subtle.importKey("raw", asPublic, { name: "ECDH", namedCurve: "P-256" }, false, []);
  // workers-types spells the ECDH peer key `$public`; the runtime takes the standard `public`.
  const ecdh = { name: "ECDH", public: asKey } as unknown as SubtleCryptoDeriveKeyAlgorithm;
  const ecdhSecret = new Uint8Array(await crypto.subtle.deriveBits(ecdh, uaPrivate, 256));
  const ikm = await hkdf(authSecret, ecdhSecret, concat(utf8("WebPush: info\0"), uaPublic, asPublic), 32);
  const cek = await hkdf(salt, ikm, utf8("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdf(salt, ikm, utf8("Content-Encoding: nonce\0"), 12);
  const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
  const padded = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, record));
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 0x02) throw new Error("the last record lacks its 0x02 delimiter");
  return new TextDecoder().decode(padded.slice(0, end));
}

/** Checks `Authorization: vapid t=…, k=…` as a push service would (RFC 8292); returns the JWT claims. */
export async function verifyVapid(authorization: string | undefined, endpoint: string) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!m?.[1] || !m[2]) throw new Error(`not a vapid Authorization header: ${authorization}`);
  const [token, k] = [m[1], m[2]];
  const point = base64url.decode(k);
  const publicKey = await importJWK(
    { kty: "EC", crv: "P-256", x: base64url.encode(point.slice(1, 33)), y: base64url.encode(point.slice(33)) },
    "ES256",
  );
  const { payload } = await jwtVerify(token, publicKey, { algorithms: ["ES256"], audience: new URL(endpoint).origin });
  return { k, header: decodeProtectedHeader(token), claims: payload };
}

/** Registers a device for a user through the route; fails the test if it is not 201. */
export async function subscribed(userId: string, device?: Device): Promise<Device> {
  const d = device ?? (await newDevice());
  const res = await as(userId).post("/api/v2/push/subscriptions", { endpoint: d.endpoint, keys: d.keys });
  if (res.status !== 201) throw new Error(`subscribe failed: ${res.status} ${await res.text()}`);
  return d;
}

export const subscriptionIdOf = async (endpoint: string) =>
  (await env.DB.prepare("SELECT id FROM push_subscriptions WHERE endpoint = ?").bind(endpoint).first<{ id: string }>())?.id;

export const subscriptionCount = async (userId: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM push_subscriptions WHERE user_id = ?").bind(userId).first<{ n: number }>())?.n ?? 0;

/**
 * A Queue binding that keeps what it is given instead of delivering it, so a test hands each job to the
 * consumer itself, in a known order (the real queue runs in test/push.queue.test.ts).
 */
export function heldQueue() {
  const held: { body: PushJob; delaySeconds?: number }[] = [];
  const queue = {
    async send(body: PushJob, options?: QueueSendOptions) {
      held.push({ body, delaySeconds: options?.delaySeconds });
    },
    async sendBatch(messages: Iterable<MessageSendRequest<PushJob>>, options?: QueueSendBatchOptions) {
      for (const m of messages) held.push({ body: m.body, delaySeconds: m.delaySeconds ?? options?.delaySeconds });
    },
  };
  /** Takes (and forgets) the held jobs of one kind. */
  function take(kind: "notify"): NotifyJob[];
  function take(kind: "deliver"): DeliverJob[];
  function take(kind: PushJob["kind"]) {
    const picked = held.filter((h) => h.body.kind === kind);
    held.splice(0, held.length, ...held.filter((h) => h.body.kind !== kind));
    return picked.map((h) => h.body);
  }
  return { queue: queue as unknown as Queue, held, take };
}

export type Held = ReturnType<typeof heldQueue>;

/** The Worker's env with the push queue held by the test (and any other setting changed). */
export const envWith = (held: Held, overrides: Partial<Env> = {}): Env => ({ ...env, PUSH_QUEUE: held.queue, ...overrides });

/** A send through the Worker's own fetch, with the given env (so its push job is held). */
export async function sendVia(testEnv: Env, from: string, to: string, content = "hello") {
  const res = await app.request(
    `${BASE}/api/v2/messages/send`,
    {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(from)}`, "content-type": "application/json" },
      body: JSON.stringify({ receiver_id: to, content }),
    },
    testEnv,
  );
  if (res.status !== 201) throw new Error(`send failed: ${res.status} ${await res.text()}`);
  // The answer comes before the fan-out that decides on a push: wait for it, so the job (or its absence) is known.
  await announcementsSettled();
  return (await res.json()) as { id: string; seq: number };
}

let batches = 0;
/** Runs the Worker's queue handler on these jobs (each at `attempts`) and answers what it acked or retried. */
export async function consume(testEnv: Env, jobs: PushJob[], attempts = 1, queue = PUSH_QUEUE) {
  const ids = jobs.map((_, i) => `job-${++batches}-${i}`);
  const batch = createMessageBatch<PushJob>(
    queue,
    jobs.map((body, i) => ({ id: ids[i] ?? "", timestamp: Date.now(), attempts, body })),
  );
  // getQueueResult (vitest-plugin 1.5.0) reports that a message was retried but drops the delay it was
  // given, so the delay is recorded here on the way through.
  const delays = new Map<string, number | undefined>();
  for (const m of batch.messages) {
    const retry = m.retry.bind(m);
    m.retry = (options?: QueueRetryOptions) => {
      delays.set(m.id, options?.delaySeconds);
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  const handler = worker.queue as ExportedHandlerQueueHandler<Env>;
  await handler(batch as MessageBatch<unknown>, testEnv, ctx);
  const result = await getQueueResult(batch, ctx);
  const retried = result.retryMessages.map((r) => ({ msgId: r.msgId, delaySeconds: delays.get(r.msgId) }));
  return { ids, acked: result.explicitAcks, retried };
}
