import { and, eq } from "drizzle-orm";
import {
  activeSuperAdminsOtherThan,
  emailTakenByOther,
  findAdmin,
  listAdmins,
  othersKeepSuperAdmin,
  upsertAdminStatement,
} from "../db/admins";
import type { Db } from "../db/client";
import { constraintOf } from "../db/constraints";
import { type AdminRow, admins } from "../db/schema";
import { AppError, notFound } from "../errors";
import { nowIso } from "../lib/time";
import type { UpsertAdminBody } from "../schemas/admin";
import { type AuditScope, commitWithAudit } from "./audit";

export const toAdminAccount = (a: AdminRow) => ({
  id: a.id,
  email: a.email,
  role: a.role,
  active: a.active,
  created_at: a.createdAt,
  updated_at: a.updatedAt,
});

export const allAdmins = async (db: Db) => (await listAdmins(db)).map(toAdminAccount);

const lastSuperAdmin = () => new AppError("conflict", "That would leave no active super admin");

/**
 * Checked before the write so the refusal is a clean 409 (audited as such); the same rule also sits
 * inside the UPDATE, which settles a race between two super admins demoting each other.
 */
async function refuseLosingLastSuperAdmin(db: Db, current: AdminRow | undefined, next: { role: string; active: boolean }) {
  const stillSuper = next.role === "super_admin" && next.active;
  if (current?.role === "super_admin" && current.active && !stillSuper && (await activeSuperAdminsOtherThan(db, current.id)) === 0) {
    throw lastSuperAdmin();
  }
}

const emailTaken = () => new AppError("conflict", "That email belongs to another admin", { email: ["already in use"] });

/**
 * Creates or updates an admin. Demoting or deactivating the last active super admin is refused (409).
 * `active` omitted keeps the current state, so editing a deactivated admin's role never reactivates them.
 */
export async function upsertAdmin(db: Db, scope: AuditScope, id: string, body: UpsertAdminBody) {
  if (await emailTakenByOther(db, body.email, id)) throw emailTaken();
  const before = await findAdmin(db, id);
  const next = { id, email: body.email, role: body.role, active: body.active ?? before?.active ?? true };
  await refuseLosingLastSuperAdmin(db, before, next);
  try {
    return await commitWithAudit(db, scope, {
      statements: [upsertAdminStatement(db, { ...next, now: nowIso() })],
      event: {
        targetType: "admin",
        targetId: id,
        statusCode: before ? 200 : 201,
        severity: "critical",
        before: before ? toAdminAccount(before) : null,
        after: next,
      },
      onlyIfChanged: true,
      result: (results) => {
        const [row] = results[0] as AdminRow[];
        // The guard is inside the statement; no row back means it refused (and no audit row claims the change).
        if (!row) throw lastSuperAdmin();
        return { account: toAdminAccount(row), created: !before };
      },
    });
  } catch (err) {
    // Another request took the email between the check above and this write: still a clean 409.
    const hit = constraintOf(err);
    if (hit?.kind === "unique" && hit.columns.includes("admins.email")) throw emailTaken();
    throw err;
  }
}

export async function deactivateAdmin(db: Db, scope: AuditScope, id: string) {
  const before = await findAdmin(db, id);
  if (!before) throw notFound("Admin not found");
  await refuseLosingLastSuperAdmin(db, before, { role: before.role, active: false });
  return commitWithAudit(db, scope, {
    statements: [
      db
        .update(admins)
        .set({ active: false, updatedAt: nowIso() })
        .where(and(eq(admins.id, id), othersKeepSuperAdmin(id)))
        .returning(),
    ],
    event: {
      targetType: "admin",
      targetId: id,
      severity: "critical",
      before: toAdminAccount(before),
      after: { ...toAdminAccount(before), active: false },
    },
    onlyIfChanged: true,
    result: (results) => {
      const [row] = results[0] as AdminRow[];
      if (!row) throw lastSuperAdmin();
      return toAdminAccount(row);
    },
  });
}
