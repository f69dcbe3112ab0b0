/**
 * A push service stand-in for the browser suite. Headless Chromium has no push service of its own, so
 * a test puts one in its place on both ends: in the page, `PushManager` hands out a subscription at
 * this receiver (with a device key pair the test holds); here, a Node server records what our server
 * pushes to it, and `decrypt` reads it as the browser would (RFC 8291, aes128gcm). What a push service
 * then does, hand the plaintext to the service worker, the test does over CDP
 * (`ServiceWorker.deliverPushMessage`), so the real worker shows the real notification.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { BrowserContext } from "playwright-core";

export type Pushed = { headers: Record<string, string | string[] | undefined>; body: Buffer };

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

export class PushReceiver {
  private server: Server | null = null;
  private readonly received = new Map<string, Pushed[]>();
  private base = "";

  async start() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const box = new URL(req.url ?? "/", "http://stand-in").pathname.split("/")[2] ?? "";
        this.received.set(box, [...(this.received.get(box) ?? []), { headers: req.headers, body: Buffer.concat(chunks) }]);
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop() {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** A device: its endpoint at this receiver, its P-256 key pair and auth secret (what a browser makes when it subscribes). */
  async device() {
    const box = crypto.randomUUID();
    const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
    const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const auth = crypto.getRandomValues(new Uint8Array(16));
    return {
      endpoint: `${this.base}/push/${box}`,
      keys: { p256dh: b64url(publicRaw), auth: b64url(auth) },
      received: () => this.received.get(box) ?? [],
      decrypt: (body: Buffer) => decrypt(body, pair.privateKey, publicRaw, auth),
    };
  }
}

export type Device = Awaited<ReturnType<PushReceiver["device"]>>;

const hkdf = async (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, bytes: number) =>
  new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: salt as BufferSource, info: info as BufferSource },
      await crypto.subtle.importKey("raw", ikm as BufferSource, "HKDF", false, ["deriveBits"]),
      bytes * 8,
    ),
  );

/** RFC 8291 §3.4 and RFC 8188: one aes128gcm record, the sender's public key in the header. */
async function decrypt(received: Buffer, privateKey: CryptoKey, publicRaw: Uint8Array, auth: Uint8Array): Promise<string> {
  const body = new Uint8Array(received);
  const salt = body.subarray(0, 16);
  const idLength = body[20] ?? 0;
  const senderRaw = body.subarray(21, 21 + idLength);
  const sender = await crypto.subtle.importKey("raw", senderRaw, { name: "ECDH", namedCurve: "P-256" }, false, []);
  const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: sender }, privateKey, 256));
  const text = (s: string) => new TextEncoder().encode(s);
  const ikm = await hkdf(shared, auth, new Uint8Array([...text("WebPush: info\0"), ...publicRaw, ...senderRaw]), 32);
  const cek = await hkdf(ikm, salt, text("Content-Encoding: aes128gcm\0"), 16);
  const nonce = await hkdf(ikm, salt, text("Content-Encoding: nonce\0"), 12);
  const key = await crypto.subtle.importKey("raw", cek as BufferSource, "AES-GCM", false, ["decrypt"]);
  const plain = new Uint8Array(
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce as BufferSource }, key, body.subarray(21 + idLength)),
  );
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--; // padding, then the last record's delimiter (2)
  return new TextDecoder().decode(plain.subarray(0, end));
}

/**
 * In place of the browser's push service client: `PushManager` subscribes at the device's endpoint
 * and keeps the subscription in localStorage (as a browser keeps it across reloads), logging each
 * subscribe and unsubscribe there (`pairly.test.push-log`).
 */
export async function standInPushManager(context: BrowserContext, device: Pick<Device, "endpoint" | "keys">) {
  await context.addInitScript((d) => {
    const KEY = "pairly.test.subscription";
    const LOG = "pairly.test.push-log";
    type Held = { endpoint: string; key: number[] };
    const log = (entry: string) => localStorage.setItem(LOG, JSON.stringify([...JSON.parse(localStorage.getItem(LOG) ?? "[]"), entry]));
    const subscriptionOf = (held: Held) =>
      ({
        endpoint: held.endpoint,
        expirationTime: null,
        options: { userVisibleOnly: true, applicationServerKey: new Uint8Array(held.key).buffer },
        toJSON: () => ({ endpoint: held.endpoint, expirationTime: null, keys: d.keys }),
        unsubscribe: async () => {
          log(`unsubscribe ${held.endpoint}`);
          localStorage.removeItem(KEY);
          return true;
        },
      }) as unknown as PushSubscription;
    PushManager.prototype.getSubscription = async () => {
      const held = JSON.parse(localStorage.getItem(KEY) ?? "null") as Held | null;
      return held && subscriptionOf(held);
    };
    PushManager.prototype.subscribe = async (options?: PushSubscriptionOptionsInit) => {
      const key = options?.applicationServerKey;
      const view = key as ArrayBufferView | ArrayBuffer;
      const bytes = view instanceof ArrayBuffer ? new Uint8Array(view) : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      const held = { endpoint: d.endpoint, key: Array.from(bytes) };
      localStorage.setItem(KEY, JSON.stringify(held));
      log(`subscribe ${d.endpoint}`);
      return subscriptionOf(held);
    };
  }, device);
}
