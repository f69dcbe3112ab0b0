import { defineConfig } from "vitest/config";

// The browser suite: real headless Chromium against the real server (test/browser/server.ts), in Node,
// one file at a time. One server for the suite on BROWSER_TEST_PORT (default 8794, global-setup.ts);
// a file that restarts the server runs its own on the next port.
export default defineConfig({
  test: {
    include: ["test/browser/**/*.test.ts"],
    globalSetup: ["test/browser/global-setup.ts"],
    fileParallelism: false,
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
