import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Tests run inside workerd: the real Worker, real local D1 (migrations applied by test/setup.ts),
// real Durable Objects and WebSockets. Storage is isolated per test file.
export default defineConfig(async () => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations("./migrations"),
          JWT_SECRET: "test-secret-0123456789abcdef-0123456789abcdef",
          AUDIT_HMAC_KEY: "test-audit-key-0123456789abcdef-0123456789abcdef",
          AUDIT_HMAC_PREVIOUS_KEYS: "{}",
          // Tests seal the audit chain themselves (runDurableObjectAlarm, sealNow): no alarm fires on its own.
          AUDIT_SEAL_DELAY_MS: "600000",
          JWT_JWKS_URL: "",
          DEV_AUTH: "true",
          // test/hostile.fuzz.test.ts replays a run with this seed (a fresh one, printed, when empty).
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
        },
      },
    }),
  ],
  test: {
    setupFiles: ["./test/setup.ts"],
    include: ["test/**/*.test.ts"],
    // test/browser runs in Node against wrangler dev (npm run test:browser), not inside workerd.
    exclude: ["test/browser/**", "node_modules/**"],
    testTimeout: 20_000,
  },
}));
