import { z } from "@hono/zod-openapi";
import { LEDGER_KINDS } from "../db/schema";
import { Cursor, Limit, Timestamp, UserId } from "./common";

export const Balance = z.object({ user_id: z.string(), balance: z.number().int() }).openapi("Balance");

export const LedgerEntry = z
  .object({
    id: z.string(),
    user_id: z.string(),
    amount: z.number().int().openapi({ description: "Positive for grants, negative for charges" }),
    balance_after: z.number().int(),
    kind: z.enum(LEDGER_KINDS),
    reason: z.string().nullable(),
    message_id: z.string().nullable(),
    created_at: Timestamp,
  })
  .openapi("LedgerEntry");

export const LedgerQuery = z.object({ limit: Limit, cursor: Cursor.optional() });

export const LedgerPage = z
  .object({
    transactions: z.array(LedgerEntry),
    next_cursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next (older) page" }),
    has_more: z.boolean(),
  })
  .openapi("LedgerPage");

export const GrantBody = z
  .strictObject({
    user_id: UserId,
    amount: z.number().int().min(1).max(1_000_000),
    reason: z.string().trim().min(1).max(500),
  })
  .openapi("GrantBody");
export type GrantBody = z.infer<typeof GrantBody>;

export const GrantResult = z.object({ user_id: z.string(), balance: z.number().int(), transaction_id: z.string() }).openapi("GrantResult");
