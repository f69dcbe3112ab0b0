import type { z } from "@hono/zod-openapi";
import { AppError } from "../errors";

/**
 * Keyset cursors are opaque to clients: base64url of a small JSON object. Decoding validates the
 * shape, so a tampered or truncated cursor is a 400, never a wrong page.
 */
export function encodeCursor(value: Record<string, string | number>): string {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeCursor<T>(raw: string, schema: z.ZodType<T>, field = "before"): T {
  try {
    const bin = atob(raw.replaceAll("-", "+").replaceAll("_", "/"));
    const parsed = schema.safeParse(JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)))));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the one error below
  }
  throw new AppError("validation_failed", "Invalid cursor", { [field]: ["not a cursor this API issued"] });
}
