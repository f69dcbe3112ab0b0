/** Structured logs: one JSON line each, so Workers Logs can filter on the fields. */
export function logError(event: string, err: unknown, fields: Record<string, unknown> = {}): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const cause = e.cause instanceof Error ? e.cause.message : undefined;
  console.error(JSON.stringify({ level: "error", event, error: e.message, cause, stack: e.stack, ...fields }));
}
