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
          ATTACHMENT_TICKET_KEY: "test-ticket-key-0123456789abcdef-0123456789abcdef",
          JWT_JWKS_URL: "",
          DEV_AUTH: "true",
        },
      },
    }),
  ],
  test: {
    setupFiles: ["./test/setup.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
  },
}));
