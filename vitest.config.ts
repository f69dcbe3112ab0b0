import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { vapidKeyPair } from "./src/cli/vapid-keys.ts";

const vapid = vapidKeyPair();

// Tests run inside workerd: the real Worker, real local D1 (migrations applied by test/setup.ts),
// real Durable Objects, WebSockets and Queues. Storage is isolated per test file.
export default defineConfig(async () => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // A second message database, so the shard router (src/db/shards.ts) runs with N = 2 in
        // test/shards.test.ts; DB is restated because these D1 options replace wrangler.toml's.
        d1Databases: { DB: "pairly", DB_SHARD_1: "pairly-shard-1" },
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
          JWT_SECRET: "test-secret-0123456789abcdef-0123456789abcdef",
          AUDIT_HMAC_KEY: "test-audit-key-0123456789abcdef-0123456789abcdef",
          AUDIT_HMAC_PREVIOUS_KEYS: "{}",
          // Tests seal the audit chain themselves (runDurableObjectAlarm, sealNow): no alarm fires on its own.
          AUDIT_SEAL_DELAY_MS: "600000",
          ATTACHMENT_TICKET_KEY: "test-ticket-key-0123456789abcdef-0123456789abcdef",
          JWT_JWKS_URL: "",
          DEV_AUTH: "true",
          // test/hostile.fuzz.test.ts replays a run with this seed (a fresh one, printed, when empty).
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
          VAPID_PUBLIC_KEY: vapid.publicKey,
          VAPID_PRIVATE_KEY: vapid.privateKey,
          VAPID_SUBJECT: "mailto:push-tests@pairly.test",
          // Push jobs from sends wait an hour, so the real consumer never races the tests that drive it
          // themselves (test/push.delivery.test.ts); test/push.queue.test.ts sends with 0.
          PUSH_COALESCE_SECONDS: "3600",
          // An erasure step runs 60 D1 queries (two chunks of 1000 messages) instead of 400, so the
          // erasure of 100 000 messages in test/safety.erasure.test.ts takes many alarm-driven steps.
          ERASURE_MAX_QUERIES: "60",
        },
        // Fewer retries than production, so the dead-letter path runs in seconds.
        queueConsumers: { "pairly-push": { maxBatchTimeout: 1, maxRetries: 2, deadLetterQueue: "pairly-push-dlq" } },
      },
    }),
  ],
  test: {
    setupFiles: ["./test/setup.ts"],
    // The push service stand-in (Node): tests reach it at inject("pushServiceUrl").
    globalSetup: ["./test/push-service/server.ts"],
    include: ["test/**/*.test.ts"],
    // test/browser runs in Node against wrangler dev (npm run test:browser), not inside workerd.
    exclude: ["test/browser/**", "node_modules/**"],
    testTimeout: 20_000,
  },
}));
