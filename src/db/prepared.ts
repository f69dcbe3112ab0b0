import { type Column, fillPlaceholders, getTableColumns, type Table } from "drizzle-orm";
import { type Db, dbOf } from "./client";

/**
 * Statements of the hot path, built by Drizzle once per isolate and bound per call. Building SQL
 * (Drizzle's entity checks and string assembly) was the largest JavaScript cost of a send
 * (`npm run bench:profile`); its result depends only on the statement's shape, so values travel
 * as `sql.placeholder(name)` and are filled in by `bindPrepared`.
 */
export type Prepared = { sql: string; params: unknown[] };

/** Builds queries only: it is never asked to run one, so it needs no binding. */
const builder = dbOf({} as D1Database);

/** A statement built on first use and kept for the isolate's life. */
export function prepareOnce(build: (db: Db) => { toSQL(): Prepared }): () => Prepared {
  let built: Prepared | undefined;
  return () => {
    built ??= build(builder).toSQL();
    return built;
  };
}

/** A prepared query with its placeholders filled (Drizzle's column encoders apply): what `toSQL()` would answer. */
export const filled = (q: Prepared, values: Record<string, unknown>): Prepared => ({
  sql: q.sql,
  params: fillPlaceholders(q.params, values),
});

/** The D1 statement of a prepared query with its placeholders filled. */
export const bindPrepared = (d1: D1Database, q: Prepared, values: Record<string, unknown>) => {
  const { sql, params } = filled(q, values);
  return d1.prepare(sql).bind(...params);
};

/** The D1 statement of a query Drizzle built for this call (the rarer shapes beside prepared ones). */
export const bindQuery = (d1: D1Database, query: { toSQL(): Prepared }) => {
  const q = query.toSQL();
  return d1.prepare(q.sql).bind(...q.params);
};

/** The binding (or session) under a Drizzle instance, for a batch of raw statements. */
export const d1Of = (db: Db): D1Database => db.$client;

const columns = new WeakMap<Table, [string, Column][]>();
/** A table's columns by property name, listed once per isolate (getTableColumns copies them on every call). */
function columnsOf(table: Table): [string, Column][] {
  const known = columns.get(table);
  if (known) return known;
  const list = Object.entries(getTableColumns(table));
  columns.set(table, list);
  return list;
}

/** A column's value as Drizzle would hand it out (JSON parsed, flags as booleans); SQL NULL stays null. */
const decoded = (column: Column, value: unknown) => (value === null || value === undefined ? null : column.mapFromDriverValue(value));

/** Maps a row D1 answered (`RETURNING *`, column names) to the table's Drizzle row type, as Drizzle would. */
export function rowOf<T extends Table>(table: T, raw: Record<string, unknown>): T["$inferSelect"] {
  const row: Record<string, unknown> = {};
  for (const [key, column] of columnsOf(table)) row[key] = decoded(column, raw[column.name]);
  return row as T["$inferSelect"];
}

/**
 * Maps the table's columns from a raw row (D1's `.raw()`, values by position) starting at `from`, in
 * the order Drizzle selects a table's columns (its definition order); null when the row's first
 * column is null (a left join that found nothing: the table's first column is its primary key).
 */
export function rowAt<T extends Table>(table: T, values: unknown[], from: number): T["$inferSelect"] | null {
  if (values[from] === null || values[from] === undefined) return null;
  const row: Record<string, unknown> = {};
  columnsOf(table).forEach(([key, column], i) => {
    row[key] = decoded(column, values[from + i]);
  });
  return row as T["$inferSelect"];
}
