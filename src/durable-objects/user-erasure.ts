import { DurableObject } from "cloudflare:workers";
import { dbOf } from "../db/client";
import { logError } from "../lib/log";
import { type ErasureProgress, eraseStep, erasureBudgetOf } from "../services/erasure";

/**
 * One object per user being erased. A step deletes what one invocation may (ERASURE_MAX_QUERIES D1
 * queries); while messages remain it sets an alarm for the next step, so an erasure of any size
 * finishes without a request waiting on it. The admin's call runs the first step (or the next one,
 * when called again) and answers the progress.
 */
export class UserErasure extends DurableObject<Env> {
  /** Steps never overlap (a call and an alarm, say): each waits for the one before. */
  private running: Promise<unknown> = Promise.resolve();

  private step(userId: string): Promise<ErasureProgress> {
    const next = this.running.then(() => eraseStep(dbOf(this.env.DB), this.env, userId, erasureBudgetOf(this.env)));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async continueLater(progress: ErasureProgress): Promise<ErasureProgress> {
    if (progress.status === "running") await this.ctx.storage.setAlarm(Date.now());
    else await this.ctx.storage.deleteAlarm();
    return progress;
  }

  /** RPC from the erasure route: remembers whose erasure this is, runs a step, and arms the next. */
  async run(userId: string): Promise<ErasureProgress> {
    await this.ctx.storage.put("user_id", userId);
    return this.continueLater(await this.step(userId));
  }

  override async alarm(): Promise<void> {
    const userId = await this.ctx.storage.get<string>("user_id");
    if (!userId) return;
    try {
      await this.continueLater(await this.step(userId));
    } catch (err) {
      // Thrown on: the runtime retries the alarm with backoff.
      logError("erasure.step_failed", err, { userId });
      throw err;
    }
  }
}
