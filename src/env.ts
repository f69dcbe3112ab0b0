import type { AdminWithPermissions } from "./db/admins";
import type { Db } from "./db/client";
import type { AuditScope } from "./services/audit";

/** Hono's environment: the bindings `wrangler types` generates, plus what middleware sets. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    db: Db;
    /** The token's subject, set by requireUser on every /api route. */
    userId: string;
    /** When that token expires (ms since the epoch): a WebSocket it opened is closed then. */
    tokenExpiresAt: number;
    /** Set on /api/admin routes once the caller is known to be an active admin. */
    admin: AdminWithPermissions;
    audit: AuditScope;
  };
};
