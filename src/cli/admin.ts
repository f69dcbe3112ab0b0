/**
 * `npm run admin -- create <id> <email> <role>`: creates or updates an admin in the LOCAL D1
 * (the one `npm start` serves; safe while it runs). `npm run admin -- list` shows them.
 * The change and its audit row (actor "cli") are written by one atomic `d1 execute --file`. The row
 * is committed unsealed, like every audit row: the Worker's sealer chains it in (at the latest when
 * someone calls GET /api/admin/audit-logs/verify), so the CLI needs no key and never reads the chain.
 */
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ROLES } from "../db/schema.ts";
import { USER_ID_PATTERN } from "../lib/jwt.ts";
import { d1Local, lit } from "./project.ts";

const USAGE = `usage:
  npm run admin -- create <id> <email> <role>    role: ${ROLES.join(" | ")}
  npm run admin -- list`;

function fail(message: string, code = 1): never {
  console.error(message);
  process.exit(code);
}

const [command, ...args] = process.argv.slice(2);

if (command === "list") {
  const [{ results }] = d1Local(["--command", "SELECT id, email, role, active, updated_at FROM admins ORDER BY created_at, id"]) as [
    { results: Record<string, unknown>[] },
  ];
  if (results.length === 0) console.log("No admins yet. Create one: npm run admin -- create <id> <email> super_admin");
  else console.table(results);
} else if (command === "create") {
  const [id, email, role] = args;
  if (args.length !== 3 || !id || !email || !role) fail(USAGE, 2);
  if (!USER_ID_PATTERN.test(id)) fail("id: 1-64 characters of [A-Za-z0-9_-] (the `sub` of the admin's tokens)", 2);
  if (!z.email().safeParse(email).success) fail(`email: "${email}" is not an email address`, 2);
  if (!(ROLES as readonly string[]).includes(role)) fail(`role: one of ${ROLES.join(", ")}`, 2);
  await upsert(id, email.toLowerCase(), role);
} else {
  fail(USAGE, 2);
}

async function upsert(id: string, email: string, role: string): Promise<void> {
  // Only for the message printed at the end: the audit row reads the before-state by SQL itself.
  const [{ results: existing }] = d1Local(["--command", `SELECT 1 FROM admins WHERE id = ${lit(id)}`]) as [
    { results: Record<string, unknown>[] },
  ];
  const now = new Date().toISOString();
  const after = JSON.stringify({ id, email, role, active: true });
  const sql = `
INSERT INTO audit_log (id, created_at, admin_id, admin_email, admin_role, action, target_type, target_id, outcome, status_code, severity,
  before_state, after_state, details, ip, user_agent, request_id)
SELECT ${lit(`aud_${randomUUID().replaceAll("-", "")}`)}, ${lit(now)}, 'cli', NULL, NULL,
  CASE WHEN a.id IS NULL THEN 'admins.create' ELSE 'admins.update' END, 'admin', ${lit(id)}, 'success', 200, 'critical',
  CASE WHEN a.id IS NULL THEN NULL
    ELSE json_object('id', a.id, 'email', a.email, 'role', a.role, 'active', json(CASE WHEN a.active THEN 'true' ELSE 'false' END)) END,
  ${lit(after)}, ${lit(JSON.stringify({ via: "npm run admin" }))}, NULL, 'pairly-admin-cli', NULL
FROM (SELECT 1) LEFT JOIN admins a ON a.id = ${lit(id)};
INSERT INTO admins (id, email, role, active, created_at, updated_at) VALUES (${lit(id)}, ${lit(email)}, ${lit(role)}, 1, ${lit(now)}, ${lit(now)})
  ON CONFLICT (id) DO UPDATE SET email = excluded.email, role = excluded.role, active = 1, updated_at = excluded.updated_at;
`;
  const file = join(tmpdir(), `pairly-admin-${process.pid}.sql`);
  writeFileSync(file, sql);
  try {
    d1Local(["--file", file]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes("admins.email")) fail(`email ${email} already belongs to another admin`);
    fail(`could not write the admin: ${message}`);
  } finally {
    rmSync(file, { force: true });
  }
  console.log(`${existing.length ? "Updated" : "Created"} admin ${id} <${email}> as ${role} in the local database.`);
}
