/** Talking to the Pairly Worker under test: tokens, sends, credits, a send that waits for the partner. */
import { signToken } from "../../src/lib/jwt.ts";
import type { Http } from "./load.ts";
import { type Server, secrets } from "./server.ts";
import type { Arrivals } from "./sockets.ts";

/** `worker`: the Pairly worker's name in the server (default "pairly"). */
export type Ctx = { server: Server; pairly: Http; baseline: Http; worker?: string };
export type Pair = { a: string; b: string };
type D1 = Awaited<ReturnType<Server["mf"]["getD1Database"]>>;

const jwt = { secret: secrets.JWT_SECRET, issuer: "pairly-local", audience: "pairly-api" };
const tokens = new Map<string, string>();

export async function tokenOf(user: string): Promise<string> {
  let t = tokens.get(user);
  if (!t) {
    t = await signToken(user, jwt, 4 * 3600);
    tokens.set(user, t);
  }
  return t;
}

export const partnerOf = (sender: string) => `${sender}_r`;

export async function sendOnce(ctx: Ctx, sender: string, content: string, receiver = partnerOf(sender)): Promise<boolean> {
  const res = await ctx.pairly.call("POST", "/api/v2/messages/send", {
    token: await tokenOf(sender),
    body: { receiver_id: receiver, content },
  });
  return res.status === 201;
}

/** One Pairly send from `from` to `to`, done when `to`'s socket has it. */
export async function sendArrives(ctx: Ctx, arrivals: Arrivals, from: string, to: string, tag: string): Promise<number> {
  const arrived = arrivals.arrival(tag);
  arrived.catch(() => {});
  if (!(await sendOnce(ctx, from, tag, to))) throw new Error("send failed");
  return arrived;
}

/** A balance of `amount` for each user, with the grant that made it (ids unique per phase). */
export async function grantCredits(db: D1, users: string[], amount: number): Promise<void> {
  await db.batch(
    users.flatMap((u) => [
      db
        .prepare(
          "INSERT INTO credit_transactions (id, user_id, amount, balance_after, kind, reason, admin_id, created_at) VALUES (?, ?, ?, ?, 'grant', 'bench seed', 'bench_admin', '2025-12-31T00:00:00.000Z')",
        )
        .bind(`txn_grant_${u}`, u, amount, amount),
      db.prepare("INSERT INTO credit_balances (user_id, balance, updated_at) VALUES (?, ?, '2025-12-31T00:00:00.000Z')").bind(u, amount),
    ]),
  );
}

/** Opens a conversation socket for `user` with `partner`. */
export async function openConversation(ctx: Ctx, arrivals: Arrivals, user: string, partner: string): Promise<void> {
  const ws = ctx.server.url(ctx.worker ?? "pairly").replace("http", "ws");
  await arrivals.open(`${ws}/api/v2/messages/ws?partner_id=${partner}`, user, { authorization: `Bearer ${await tokenOf(user)}` });
}
