import { type SQL, type SQLWrapper, sql } from "drizzle-orm";
import { bindPrepared, prepareOnce } from "./prepared";
import { socketPresence } from "./schema";

/** What a realtime object writes about itself: `scope` (a conversation id, or `inbox:<user id>`), its sockets, a version. */
export type Presence = { scope: string; sockets: number; version: number };

/** The scope of a user's inbox in `socket_presence` (the same string the Worker hands the object). */
export const inboxScope = (userId: string) => `inbox:${userId}`;

const P = sql.placeholder;
/** A write that lost a race with a newer one of the same object (an older version) changes nothing. */
const newerWins = {
  target: socketPresence.scope,
  set: { sockets: sql`excluded.sockets`, version: sql`excluded.version` },
  setWhere: sql`excluded.version > ${socketPresence.version}`,
};

const WRITE = prepareOnce((db) =>
  db
    .insert(socketPresence)
    .values({ scope: P("scope"), sockets: P("sockets"), version: P("version") })
    .onConflictDoUpdate(newerWins),
);

/** The statement that records an object's sockets. */
export const presenceStatement = (d1: D1Database, p: Presence) => bindPrepared(d1, WRITE(), p);

/** The same write, made only when `condition` holds (a statement of a larger batch: a join that may happen). */
export const presenceWhen = (condition: SQL) =>
  prepareOnce((db) =>
    db
      .insert(socketPresence)
      // The WHERE also keeps SQLite from reading ON CONFLICT as a join's ON.
      .select(sql`SELECT ${P("scope")}, ${P("sockets")}, ${P("version")} WHERE ${condition}`)
      .onConflictDoUpdate(newerWins),
  );

/** SQL: how many sockets the object of `scope` last said it holds (0 when it never wrote). */
export const socketsOf = (scope: SQLWrapper) =>
  sql`coalesce((SELECT ${socketPresence.sockets} FROM ${socketPresence} WHERE ${socketPresence.scope} = ${scope}), 0)`;
