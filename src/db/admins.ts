import { and, asc, eq, ne, sql } from "drizzle-orm";
import type { Db } from "./client";
import { type AdminRow, admins, type Permission, type Role, rolePermissions } from "./schema";

export type AdminWithPermissions = AdminRow & { permissions: Permission[] };

/** One query per admin request: the row and its role's permissions, read fresh every time. */
export async function adminWithPermissions(db: Db, id: string): Promise<AdminWithPermissions | undefined> {
  const row = await db
    .select({
      admin: admins,
      // Spelled out: Drizzle leaves columns unqualified in single-table selects, and an unqualified
      // `role` inside the subquery would compare role_permissions.role with itself.
      permissions: sql<string | null>`(SELECT group_concat(rp.permission) FROM ${rolePermissions} rp WHERE rp.role = admins.role)`,
    })
    .from(admins)
    .where(eq(admins.id, id))
    .get();
  if (!row) return undefined;
  return { ...row.admin, permissions: (row.permissions?.split(",") ?? []) as Permission[] };
}

export async function findAdmin(db: Db, id: string): Promise<AdminRow | undefined> {
  return db.select().from(admins).where(eq(admins.id, id)).get();
}

export async function listAdmins(db: Db): Promise<AdminRow[]> {
  return db.select().from(admins).orderBy(asc(admins.createdAt), asc(admins.id));
}

export async function emailTakenByOther(db: Db, email: string, id: string): Promise<boolean> {
  const row = await db
    .select({ id: admins.id })
    .from(admins)
    .where(and(eq(admins.email, email), ne(admins.id, id)))
    .get();
  return row !== undefined;
}

export async function activeSuperAdminsOtherThan(db: Db, id: string): Promise<number> {
  const row = await db
    .select({ n: sql<number>`COUNT(*)` })
    .from(admins)
    .where(and(eq(admins.role, "super_admin"), eq(admins.active, true), ne(admins.id, id)))
    .get();
  return Number(row?.n ?? 0);
}

/**
 * True while `id` is NOT the last active super admin, evaluated inside the statement that changes
 * the row, so two super admins demoting each other at once cannot both succeed.
 */
export const othersKeepSuperAdmin = (id: string) =>
  sql`(${admins.role} <> 'super_admin' OR ${admins.active} = 0 OR (SELECT COUNT(*) FROM ${admins} a2 WHERE a2.role = 'super_admin' AND a2.active = 1 AND a2.id <> ${id}) > 0)`;

export function upsertAdminStatement(db: Db, a: { id: string; email: string; role: Role; active: boolean; now: string }) {
  return db
    .insert(admins)
    .values({ id: a.id, email: a.email, role: a.role, active: a.active, createdAt: a.now, updatedAt: a.now })
    .onConflictDoUpdate({
      target: admins.id,
      set: { email: a.email, role: a.role, active: a.active, updatedAt: a.now },
      // Losing the last active super admin would lock everyone out of admin management.
      setWhere: a.role === "super_admin" && a.active ? undefined : othersKeepSuperAdmin(a.id),
    })
    .returning();
}
