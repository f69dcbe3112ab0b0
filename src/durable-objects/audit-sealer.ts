import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { auditKeyringOf } from "../lib/audit-hash";
import { logError } from "../lib/log";
import { type SealCursor, SealCursorMismatch, sealPending } from "../services/audit-chain";

export type SealReport = {
  sealed: number;
  /** The last seal this sealer wrote (null before its first). */
  cursor: SealCursor | null;
  /** Rows remain past this pass's budget; an alarm is set to go on at once. */
  more: boolean;
  /** Why this pass sealed nothing more, if it failed. */
  error: "cursor_mismatch" | "failed" | null;
};

const DEFAULT_DELAY_MS = 250;

/**
 * The one sequencer of the audit chain (a single instance, by name). Admin calls commit their audit
 * rows unsealed and poke it; it waits a moment (an alarm, so a burst of calls costs one pass), then
 * seals every unsealed row in pk order (services/audit-chain.ts `sealPending`).
 *
 * Its storage holds one thing: the last seal it wrote. D1 must still hold that seal unchanged
 * before the chain is extended, so removing seals (to get edited rows sealed again) stops the
 * sealer instead of laundering the edit, and `verify` reports a chain cut short at its end.
 */
export class AuditSealer extends DurableObject<Env> {
  /** Passes run one at a time: each awaits D1, and a second pass meanwhile would seal the same rows. */
  private queue: Promise<unknown> = Promise.resolve();

  /** RPC, after each admin call: seal soon. Coalesced: an alarm already set covers this call too. */
  async poke(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) !== null) return;
    const delay = Number(this.env.AUDIT_SEAL_DELAY_MS) || DEFAULT_DELAY_MS;
    await this.ctx.storage.setAlarm(Date.now() + delay);
  }

  /** RPC: seal what is pending now (verify asks first, so its answer covers every row committed before it). */
  async sealNow(): Promise<SealReport> {
    try {
      return await this.pass();
    } catch (err) {
      return {
        sealed: 0,
        cursor: await this.cursor(),
        more: false,
        error: err instanceof SealCursorMismatch ? "cursor_mismatch" : "failed",
      };
    }
  }

  /** A throw here is retried by the runtime with backoff; the next admin call pokes again anyway. */
  override async alarm(): Promise<void> {
    await this.pass();
  }

  private cursor(): Promise<SealCursor | null> {
    return this.ctx.storage.get<SealCursor>("cursor").then((c) => c ?? null);
  }

  private pass(): Promise<SealReport> {
    const run = this.queue.then(() => this.seal());
    this.queue = run.catch(() => {});
    return run;
  }

  private async seal(): Promise<SealReport> {
    try {
      const result = await sealPending(dbOf(this.env.DB), auditKeyringOf(this.env), {
        cursor: await this.cursor(),
        onPage: (cursor) => this.ctx.storage.put("cursor", cursor),
      });
      if (result.more) await this.ctx.storage.setAlarm(Date.now());
      return { ...result, error: null };
    } catch (err) {
      logError(err instanceof SealCursorMismatch ? "audit.seal_cursor_mismatch" : "audit.seal_failed", err);
      throw err;
    }
  }
}
