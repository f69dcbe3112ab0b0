/** The generic pieces under the push consumer: VAPID keys, Retry-After, backoff, the request itself. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { backoffSeconds, retryAfterSeconds } from "../src/lib/retry";
import { importVapid, pushRequest } from "../src/lib/web-push";
import { newDevice, verifyVapid } from "./push";

describe("VAPID keys from the secrets", () => {
  it("imports the configured pair", async () => {
    const vapid = await importVapid(env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT);
    expect(vapid.publicKey).toBe(env.VAPID_PUBLIC_KEY);
  });

  it.each([
    ["a public key that is not a point", "AAAA", env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT, /VAPID_PUBLIC_KEY/],
    ["a private key of the wrong length", env.VAPID_PUBLIC_KEY, "AAAA", env.VAPID_SUBJECT, /VAPID_PRIVATE_KEY must/],
    ["a subject that is no contact", env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, "ops@pairly.test", /VAPID_SUBJECT/],
  ])("refuses %s, naming the setting", async (_name, publicKey, privateKey, subject, message) => {
    await expect(importVapid(publicKey, privateKey, subject)).rejects.toThrow(message);
  });

  it("refuses a private key of another pair", async () => {
    const other = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])) as CryptoKeyPair;
    const { d } = (await crypto.subtle.exportKey("jwk", other.privateKey)) as JsonWebKey;
    await expect(importVapid(env.VAPID_PUBLIC_KEY, d ?? "", env.VAPID_SUBJECT)).rejects.toThrow(/does not belong/);
  });
});

describe("Retry-After and backoff", () => {
  const now = Date.parse("2026-12-01T10:00:00Z");
  it.each([
    ["delay-seconds", "120", 120],
    ["an HTTP-date", "Tue, 01 Dec 2026 10:01:30 GMT", 90],
    ["a date already past", "Tue, 01 Dec 2026 09:00:00 GMT", 0],
    ["more than the queue can wait (capped at 12 h)", "999999", 43_200],
    ["nothing", null, undefined],
    ["something unreadable", "soon", undefined],
  ])("%s", (_name, header, seconds) => {
    expect(retryAfterSeconds(header, now)).toBe(seconds);
  });

  it("backs off from 10 s, doubling to 10 minutes, within ±20 %", () => {
    expect([1, 2, 3, 7, 8, 30].map((n) => backoffSeconds(n, () => 0.5))).toEqual([10, 20, 40, 600, 600, 600]);
    expect(backoffSeconds(1, () => 0)).toBe(8);
    expect(backoffSeconds(1, () => 0.999)).toBe(12);
  });
});

describe("one push request", () => {
  it("is an aes128gcm body the device decrypts, with the headers asked for", async () => {
    const vapid = await importVapid(env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT);
    const device = await newDevice();
    const req = await pushRequest({ endpoint: device.endpoint, ...device.keys }, '{"hello":"world"}', vapid, {
      ttl: 60,
      urgency: "high",
      topic: "abc_DEF-123",
    });
    expect(req.method).toBe("POST");
    expect(req.url).toBe(device.endpoint);
    expect(Object.fromEntries(["ttl", "urgency", "topic", "content-encoding"].map((h) => [h, req.headers.get(h)]))).toEqual({
      ttl: "60",
      urgency: "high",
      topic: "abc_DEF-123",
      "content-encoding": "aes128gcm",
    });
    const body = new Uint8Array(await req.arrayBuffer());
    expect(body.byteLength).toBe(4096); // padded: the size says nothing about the text
    expect(await device.decrypt(btoa(String.fromCharCode(...body)))).toBe('{"hello":"world"}');
    expect((await verifyVapid(req.headers.get("authorization") ?? "", device.endpoint)).claims.aud).toBe(new URL(device.endpoint).origin);
  });

  it("refuses a topic push services would reject (over 32 characters, or outside base64url)", async () => {
    const vapid = await importVapid(env.VAPID_PUBLIC_KEY, env.VAPID_PRIVATE_KEY, env.VAPID_SUBJECT);
    const device = await newDevice();
    const target = { endpoint: device.endpoint, ...device.keys };
    for (const topic of ["a".repeat(33), "no spaces"]) {
      await expect(pushRequest(target, "{}", vapid, { ttl: 60, urgency: "normal", topic })).rejects.toThrow(/Topic/);
    }
  });
});
