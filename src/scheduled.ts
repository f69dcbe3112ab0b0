/**
 * The Cron Trigger (wrangler.toml `[triggers]`): one dispatcher, each job a service call. Jobs run
 * independently (one failing does not stop the others); a failure is logged and then fails the
 * invocation, so it shows in the Cron Events of the dashboard. Every job must be safe to run twice.
 */

import type { Db } from "./db/client";
import { dbOf } from "./db/client";
import { logError } from "./lib/log";
import { purgeUnsentAttachments } from "./services/attachments";
import { eraseUnmatchedConversations } from "./services/erasure";
import { redactResolvedSnapshots } from "./services/reports";

type Job = { name: string; run: (db: Db, env: Env, now: Date) => Promise<Record<string, unknown>> };

/** Each job bounds its own D1 queries; together they stay under the per-invocation limit (1000 Paid). */
export const JOBS: Job[] = [
  { name: "attachments.purge_unsent", run: purgeUnsentAttachments },
  { name: "safety.erase_unmatched", run: (db, env, now) => eraseUnmatchedConversations(db, env, now) },
  { name: "safety.redact_report_snapshots", run: redactResolvedSnapshots },
];

export async function runScheduledJobs(env: Env, now: Date): Promise<void> {
  const db = dbOf(env.DB);
  const outcomes = await Promise.allSettled(JOBS.map((job) => job.run(db, env, now)));
  const failed: string[] = [];
  outcomes.forEach((outcome, i) => {
    const name = JOBS[i]?.name ?? "unknown";
    if (outcome.status === "fulfilled") console.log(JSON.stringify({ level: "info", event: "scheduled.job", job: name, ...outcome.value }));
    else {
      logError("scheduled.job_failed", outcome.reason, { job: name });
      failed.push(name);
    }
  });
  if (failed.length) throw new Error(`scheduled jobs failed: ${failed.join(", ")}`);
}

export const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env) => {
  await runScheduledJobs(env, new Date(controller.scheduledTime));
};
