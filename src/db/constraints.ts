/**
 * D1 reports constraint failures only as text ("UNIQUE constraint failed: messages.sender_id, …",
 * "CHECK constraint failed: balance_non_negative", "NOT NULL constraint failed: …"), and Drizzle wraps it in `cause`. This is the
 * one place that reads that text.
 */
export type Constraint = { kind: "unique"; columns: string } | { kind: "check"; name: string } | { kind: "not_null"; column: string };

export function constraintOf(err: unknown): Constraint | null {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const unique = /UNIQUE constraint failed: ([\w., ]+)/.exec(e.message);
    if (unique?.[1]) return { kind: "unique", columns: unique[1].trim() };
    const check = /CHECK constraint failed: (\w+)/.exec(e.message);
    if (check?.[1]) return { kind: "check", name: check[1] };
    const notNull = /NOT NULL constraint failed: ([\w.]+)/.exec(e.message);
    if (notNull?.[1]) return { kind: "not_null", column: notNull[1] };
  }
  return null;
}
