import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Idempotent: the migrations table remembers what ran, so every file's setup can call it.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
