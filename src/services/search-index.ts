import type { Db } from "../db/client";
import { indexPending } from "../db/search-index";

/** Before a search or an export with `q`: batches it may spend catching the index up (1 000 rows each). */
export const SEARCH_CATCH_UP_BATCHES = 20;
/** The scheduled job's batches a minute: far above any send rate one database takes. */
export const SCHEDULED_INDEX_BATCHES = 200;

/**
 * Brings the full-text index up to date with what was sent, at most `maxBatches` batches. The send
 * path only queues a message for the index (a trigger row), so search reads an index that is as
 * fresh as this call left it: callers catch up first. Answers what it did and whether rows remain.
 */
export async function catchUpSearchIndex(db: Db, maxBatches: number): Promise<{ indexed: number; pending: boolean }> {
  let indexed = 0;
  for (let i = 0; i < maxBatches; i++) {
    const batch = await indexPending(db);
    indexed += batch.indexed;
    if (!batch.more) return { indexed, pending: false };
  }
  return { indexed, pending: true };
}
