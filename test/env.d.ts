import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      FUZZ_SEED: string;
      // The second message shard (vitest.config.ts); production binds only DB until MESSAGE_SHARDS names more.
      DB_SHARD_1: D1Database;
    }
  }
}
