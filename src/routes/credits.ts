import { createRoute } from "@hono/zod-openapi";
import { Balance, LedgerPage, LedgerQuery } from "../schemas/credits";
import { balanceOf, ledgerFor, toLedgerView } from "../services/credits";
import { bearer, createRouter, errors, jsonOf } from "./openapi";

const tags = ["credits"];

const balance = createRoute({
  method: "get",
  path: "/balance",
  tags,
  security: bearer,
  summary: "The caller's credit balance",
  responses: { 200: jsonOf(Balance, "The balance (0 for a user who never had credits)"), ...errors() },
});

const transactions = createRoute({
  method: "get",
  path: "/transactions",
  tags,
  security: bearer,
  summary: "The caller's ledger, newest first",
  description:
    "Append-only: grants are positive, message charges negative; `balance_after` is the balance each produced. Pass `next_cursor` as `cursor`.",
  request: { query: LedgerQuery },
  responses: { 200: jsonOf(LedgerPage, "A page of ledger entries"), ...errors("validation_failed") },
});

export const creditRoutes = createRouter()
  .openapi(balance, async (c) => c.json({ user_id: c.var.userId, balance: await balanceOf(c.var.db, c.var.userId) }, 200))
  .openapi(transactions, async (c) => {
    const page = await ledgerFor(c.var.db, c.var.userId, c.req.valid("query"));
    return c.json({ transactions: page.items.map(toLedgerView), next_cursor: page.nextCursor, has_more: page.hasMore }, 200);
  });
