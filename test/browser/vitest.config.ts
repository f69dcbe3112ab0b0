import { defineConfig } from "vitest/config";

// The browser suite: real headless Chromium against the real server (test/browser/server.ts), in Node,
// one file at a time (each file runs its own server on BROWSER_TEST_PORT, default 8794).
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    fileParallelism: false,
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
