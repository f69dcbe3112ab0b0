import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Idempotent: the migrations table remembers what ran, so every file's setup can call it.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
// The second message shard of test/shards.test.ts holds the same schema, as every shard would.
await applyD1Migrations(env.DB_SHARD_1, env.TEST_MIGRATIONS);
