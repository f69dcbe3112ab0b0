/**
 * The first step past one D1 database (README "Scaling"): conversations are the shard key, and this
 * module says which of N message databases holds a conversation. N comes from `MESSAGE_SHARDS`, the
 * D1 binding names in order (default: the one binding `DB`, so every conversation lives in shard 0
 * and nothing changes). Adding a database appends a binding name; the hash then moves only the
 * conversations the new shard takes over (about 1/N of them), which is what makes resharding a copy
 * of a known slice, not a reshuffle.
 */

/** Binding names of the message shards when `MESSAGE_SHARDS` is unset: the one database. */
export const DEFAULT_SHARDS = ["DB"] as const;

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK_64 = (1n << 64n) - 1n;
const JUMP_MULTIPLIER = 2862933555777941757n;

/** FNV-1a over the key's UTF-8 bytes: a 64-bit hash that is the same in every isolate and every release. */
function fnv1a64(key: string): bigint {
  let hash = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(key)) {
    hash ^= BigInt(byte);
    hash = (hash * FNV_PRIME) & MASK_64;
  }
  return hash;
}

/**
 * Jump consistent hash (Lamping and Veach, 2014): the shard of `key` among `shards`, such that going
 * from N to N + 1 shards moves exactly the keys the new shard receives and no key between old shards.
 * Hand-written: it is eight lines, and no maintained npm package implements it for 64-bit keys.
 */
export function shardIndex(key: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be a positive integer, got ${shards}`);
  let k = fnv1a64(key);
  let b = -1;
  let j = 0;
  while (j < shards) {
    b = j;
    k = (k * JUMP_MULTIPLIER + 1n) & MASK_64;
    j = Math.floor((b + 1) * (2 ** 31 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/** The shard bindings named by `MESSAGE_SHARDS` ("DB,DB_SHARD_1,…"), each checked to be a D1 binding. */
export function shardNames(value: string | undefined): string[] {
  const names = (value ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length === 0) return [...DEFAULT_SHARDS];
  if (new Set(names).size !== names.length) throw new Error(`MESSAGE_SHARDS names a binding twice: ${value}`);
  return names;
}

export type MessageShards = {
  /** How many message databases there are (N). */
  readonly count: number;
  /** The database holding one conversation's messages, receipts and seq. */
  forConversation(conversationId: string): D1Database;
  /** Every shard, in shard order: what an admin search or an export fans out over. */
  all(): D1Database[];
};

/** The message shards of an environment; throws at startup, not per request, when a binding is missing. */
export function messageShards(env: object & { MESSAGE_SHARDS?: string }): MessageShards {
  const bindings = env as unknown as Record<string, unknown>;
  const databases = shardNames(env.MESSAGE_SHARDS).map((name) => {
    const db = bindings[name] as D1Database | undefined;
    if (!db || typeof db.prepare !== "function" || typeof db.batch !== "function") {
      throw new Error(`MESSAGE_SHARDS names ${name}, which is not a D1 binding of this Worker`);
    }
    return db;
  });
  return {
    count: databases.length,
    forConversation: (conversationId) => databases[shardIndex(conversationId, databases.length)] as D1Database,
    all: () => [...databases],
  };
}

/**
 * Runs one read on every shard at once and merges the answers newest first, keeping `limit`: the
 * scatter-gather of an admin search or a cross-shard list. Each shard answers its own newest `limit`
 * rows (an index-ordered LIMIT), so the merge never needs more than N × limit rows.
 */
export async function newestAcrossShards<Row>(
  shards: MessageShards,
  read: (db: D1Database) => Promise<Row[]>,
  order: (row: Row) => string,
  limit: number,
): Promise<Row[]> {
  const answers = await Promise.all(shards.all().map(read));
  return answers
    .flat()
    .sort((a, b) => (order(a) < order(b) ? 1 : order(a) > order(b) ? -1 : 0))
    .slice(0, limit);
}
