/**
 * `npm run token -- <user_id> [--ttl SECONDS]`: prints a local HS256 token signed with the
 * JWT_SECRET of .dev.vars, valid for the dev server started by `npm start`.
 */
import { parseArgs } from "node:util";
import { signToken, USER_ID_PATTERN } from "../lib/jwt.ts";
import { localConfig } from "./project.ts";

const { positionals, values } = parseArgs({ allowPositionals: true, options: { ttl: { type: "string", default: "3600" } } });
const [userId] = positionals;
const ttl = Number(values.ttl);

if (!userId || positionals.length !== 1 || !USER_ID_PATTERN.test(userId) || !Number.isInteger(ttl) || ttl <= 0) {
  console.error(
    "usage: npm run token -- <user_id> [--ttl SECONDS]\n  user_id: 1-64 characters of [A-Za-z0-9_-]; SECONDS: a positive whole number",
  );
  process.exit(2);
}

const config = localConfig();
const secret = config.JWT_SECRET;
const issuer = config.JWT_ISSUER;
const audience = config.JWT_AUDIENCE;
if (!secret || !issuer || !audience) {
  console.error("JWT_SECRET (.dev.vars), JWT_ISSUER and JWT_AUDIENCE (wrangler.toml [vars]) must be set");
  process.exit(1);
}
console.log(await signToken(userId, { secret, issuer, audience }, ttl));
