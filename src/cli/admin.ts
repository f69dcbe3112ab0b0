/**
 * `npm run admin -- create <id> <email> <role>`: creates or updates an admin in the LOCAL D1
 * (the one `npm start` serves; safe while it runs). `npm run admin -- list` shows them.
 * The change and its audit row (actor "cli") are written by one atomic `d1 execute --file`.
 */
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { ROLES } from "../db/schema.ts";
import { auditHash, GENESIS_HASH } from "../lib/audit-hash.ts";
import { USER_ID_PATTERN } from "../lib/jwt.ts";
import { d1Local, lit, localConfig } from "./project.ts";

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

async function upsert(id: string, email: string, role: string, attempt = 1): Promise<void> {
  const [{ results: existing }] = d1Local(["--command", `SELECT id, email, role, active FROM admins WHERE id = ${lit(id)}`]) as [
    { results: Record<string, unknown>[] },
  ];
  const [{ results: head }] = d1Local(["--command", "SELECT hash FROM audit_log ORDER BY pk DESC LIMIT 1"]) as [
    { results: { hash?: string }[] },
  ];
  const now = new Date().toISOString();
  const before = existing[0] ? { ...existing[0], active: existing[0].active === 1 } : null;
  const row = {
    id: `aud_${randomUUID().replaceAll("-", "")}`,
    createdAt: now,
    adminId: "cli",
    adminEmail: null,
    adminRole: null,
    action: before ? "admins.update" : "admins.create",
    targetType: "admin",
    targetId: id,
    outcome: "success",
    statusCode: 200,
    severity: "critical",
    before: before ? JSON.stringify(before) : null,
    after: JSON.stringify({ id, email, role, active: true }),
    details: JSON.stringify({ via: "npm run admin" }),
    ip: null,
    userAgent: "pairly-admin-cli",
    requestId: null,
    prevHash: head[0]?.hash ?? GENESIS_HASH,
  };
  const hash = await auditHash(row, localConfig().AUDIT_HMAC_KEY);
  const sql = `
INSERT INTO admins (id, email, role, active, created_at, updated_at) VALUES (${lit(id)}, ${lit(email)}, ${lit(role)}, 1, ${lit(now)}, ${lit(now)})
  ON CONFLICT (id) DO UPDATE SET email = excluded.email, role = excluded.role, active = 1, updated_at = excluded.updated_at;
INSERT INTO audit_log (id, created_at, admin_id, admin_email, admin_role, action, target_type, target_id, outcome, status_code, severity,
  before_state, after_state, details, ip, user_agent, request_id, prev_hash, hash) VALUES (${[
    row.id,
    row.createdAt,
    row.adminId,
    row.adminEmail,
    row.adminRole,
    row.action,
    row.targetType,
    row.targetId,
    row.outcome,
    row.statusCode,
    row.severity,
    row.before,
    row.after,
    row.details,
    row.ip,
    row.userAgent,
    row.requestId,
    row.prevHash,
    hash,
  ]
    .map(lit)
    .join(", ")});
`;
  const file = join(tmpdir(), `pairly-admin-${process.pid}.sql`);
  writeFileSync(file, sql);
  try {
    d1Local(["--file", file]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // The dev server appended an audit row meanwhile: take the new chain head and try again.
    if (message.includes("audit_log.prev_hash") && attempt < 5) return upsert(id, email, role, attempt + 1);
    if (message.includes("admins.email")) fail(`email ${email} already belongs to another admin`);
    fail(`could not write the admin: ${message}`);
  } finally {
    rmSync(file, { force: true });
  }
  console.log(`${before ? "Updated" : "Created"} admin ${id} <${email}> as ${role} in the local database.`);
}
