import { drizzle } from "drizzle-orm/d1";

/**
 * Drizzle over a D1 binding or session. No relational schema is passed: nothing uses `db.query`, and
 * building that config on every request cost as much as the auth check (npm run bench:profile).
 */
export const dbOf = (d1: D1Database) => drizzle(d1);
export type Db = ReturnType<typeof dbOf>;
