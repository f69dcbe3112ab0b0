/**
 * The shard router of README "Scaling", run with two real D1 databases (vitest.config.ts binds
 * `DB_SHARD_1` beside `DB`, both migrated by test/setup.ts): which database holds a conversation,
 * that the answer never changes, that adding a database moves only what the new one takes, and that
 * a scatter-gather read sees every shard.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { messageShards, newestAcrossShards, shardIndex, shardNames } from "../src/db/shards";
import { conversationIdOf } from "../src/lib/ids";
import { newUser } from "./helpers";

const twoShards = { ...env, MESSAGE_SHARDS: "DB,DB_SHARD_1" };
const conversations = (n: number) => Array.from({ length: n }, () => conversationIdOf(newUser("a"), newUser("b")));

async function storeMessage(db: D1Database, conversationId: string, createdAt: string, content: string) {
  const [a = "", b = ""] = conversationId.split(":");
  await db
    .prepare(
      `INSERT INTO messages (id, conversation_id, seq, sender_id, receiver_id, content, attachments, metadata, credits_cost, created_at, updated_at)
       VALUES (?, ?, 1, ?, ?, ?, '[]', '{}', 1, ?, ?)`,
    )
    .bind(crypto.randomUUID(), conversationId, a, b, content, createdAt, createdAt)
    .run();
}
const countIn = async (db: D1Database, conversationId: string) =>
  Number(await db.prepare("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = ?").bind(conversationId).first("n"));

describe("shardIndex: jump consistent hash over FNV-1a", () => {
  it("answers what the reference implementation answers (Python's translation of the paper's C code)", () => {
    expect([1, 2, 3, 10, 1000].map((n) => shardIndex("alice:bob", n))).toEqual([0, 0, 2, 5, 910]);
    expect([1, 2, 3, 10, 1000].map((n) => shardIndex("u1:u2", n))).toEqual([0, 1, 1, 7, 781]);
    expect([1, 2, 3, 10, 1000].map((n) => shardIndex("a:b", n))).toEqual([0, 1, 1, 3, 149]);
  });

  it("spreads 10 000 conversations evenly, and going from 2 to 3 shards moves only the third's share, none between the old two", () => {
    const ids = conversations(10_000);
    const onTwo = ids.map((id) => shardIndex(id, 2));
    const share0 = onTwo.filter((s) => s === 0).length / ids.length;
    expect(share0).toBeGreaterThan(0.47);
    expect(share0).toBeLessThan(0.53);
    const onThree = ids.map((id) => shardIndex(id, 3));
    const moved = ids.filter((_, i) => onThree[i] !== onTwo[i]);
    expect(moved.length / ids.length).toBeGreaterThan(0.3);
    expect(moved.length / ids.length).toBeLessThan(0.37);
    expect(ids.every((_, i) => onThree[i] === onTwo[i] || onThree[i] === 2)).toBe(true);
  });

  it("refuses a shard count that is not a positive integer", () => {
    for (const n of [0, -1, 1.5, Number.NaN]) expect(() => shardIndex("a:b", n)).toThrow(RangeError);
  });
});

describe("messageShards: N D1 bindings", () => {
  it("is the one database DB by default (MESSAGE_SHARDS unset or empty)", () => {
    for (const value of [undefined, "", " , "]) {
      const shards = messageShards({ ...env, MESSAGE_SHARDS: value });
      expect(shards.count).toBe(1);
      expect(shards.forConversation("a:b")).toBe(env.DB);
    }
    expect(messageShards(env).count).toBe(1); // what wrangler.toml deploys
  });

  it("refuses a name that is no D1 binding, or a binding named twice, when it is built", () => {
    expect(() => messageShards({ ...env, MESSAGE_SHARDS: "DB,DB_SHARD_9" })).toThrow(/DB_SHARD_9/);
    expect(() => messageShards({ ...env, MESSAGE_SHARDS: "DB,JWT_SECRET" })).toThrow(/JWT_SECRET/);
    expect(() => shardNames("DB,DB")).toThrow(/twice/);
  });

  it("writes each conversation into its own database only, and reads it back from there", async () => {
    const shards = messageShards(twoShards);
    expect(shards.count).toBe(2);
    const ids = conversations(40);
    for (const id of ids) await storeMessage(shards.forConversation(id), id, new Date().toISOString(), "routed");
    const home = ids.map((id) => shardIndex(id, 2));
    expect(new Set(home)).toEqual(new Set([0, 1])); // both databases hold some
    for (const [i, id] of ids.entries()) {
      const [first, second] = [await countIn(env.DB, id), await countIn(env.DB_SHARD_1, id)];
      expect(home[i] === 0 ? [first, second] : [second, first]).toEqual([1, 0]);
      expect(await countIn(shards.forConversation(id), id)).toBe(1);
    }
  });

  it("a scatter-gather read merges every shard's newest rows, newest first, and keeps the limit", async () => {
    const shards = messageShards(twoShards);
    // Six conversations of each shard, their messages interleaved in time: the newest five span both.
    const pool = conversations(60);
    const onShard = (s: number) => pool.filter((id) => shardIndex(id, 2) === s).slice(0, 6);
    const [zero, one] = [onShard(0), onShard(1)];
    const ids = zero.flatMap((id, i) => [id, one[i] ?? ""]);
    const written: { at: string; shard: number }[] = [];
    for (const [i, id] of ids.entries()) {
      const at = new Date(Date.UTC(2031, 0, 1, 0, 0, i)).toISOString();
      await storeMessage(shards.forConversation(id), id, at, `fan ${i}`);
      written.push({ at, shard: shardIndex(id, 2) });
    }
    const newest = await newestAcrossShards(
      shards,
      async (db) =>
        (
          await db
            .prepare("SELECT created_at, content FROM messages WHERE created_at >= '2031' ORDER BY created_at DESC LIMIT ?")
            .bind(5)
            .all<{ created_at: string; content: string }>()
        ).results,
      (row) => row.created_at,
      5,
    );
    const expected = written.sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 5);
    expect(newest.map((row) => row.created_at)).toEqual(expected.map((w) => w.at));
    expect(newest).toHaveLength(5);
    expect(new Set(expected.map((w) => w.shard))).toEqual(new Set([0, 1]));
  });
});
