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
import { catchUpSearchIndex, SCHEDULED_INDEX_BATCHES } from "./services/search-index";

/** The two Cron Triggers of wrangler.toml `[triggers]`. */
export const EVERY_MINUTE = "* * * * *";
export const HOURLY = "17 * * * *";

type Job = {
  name: string;
  cron: typeof EVERY_MINUTE | typeof HOURLY;
  run: (db: Db, env: Env, now: Date) => Promise<Record<string, unknown>>;
};

/** Each job bounds its own D1 queries; together they stay under the per-invocation limit (1000 Paid). */
export const JOBS: Job[] = [
  { name: "search.index_pending", cron: EVERY_MINUTE, run: (db) => catchUpSearchIndex(db, SCHEDULED_INDEX_BATCHES) },
  { name: "attachments.purge_unsent", cron: HOURLY, run: purgeUnsentAttachments },
  { name: "safety.erase_unmatched", cron: HOURLY, run: (db, env, now) => eraseUnmatchedConversations(db, env, now) },
  { name: "safety.redact_report_snapshots", cron: HOURLY, run: redactResolvedSnapshots },
];

/** Runs the jobs of one Cron Trigger (all of them when none is named, as tests do). */
export async function runScheduledJobs(env: Env, now: Date, cron?: string): Promise<void> {
  const db = dbOf(env.DB);
  const jobs = JOBS.filter((job) => cron === undefined || job.cron === cron);
  const outcomes = await Promise.allSettled(jobs.map((job) => job.run(db, env, now)));
  const failed: string[] = [];
  outcomes.forEach((outcome, i) => {
    const name = jobs[i]?.name ?? "unknown";
    if (outcome.status === "fulfilled") console.log(JSON.stringify({ level: "info", event: "scheduled.job", job: name, ...outcome.value }));
    else {
      logError("scheduled.job_failed", outcome.reason, { job: name });
      failed.push(name);
    }
  });
  if (failed.length) throw new Error(`scheduled jobs failed: ${failed.join(", ")}`);
}

export const scheduled: ExportedHandlerScheduledHandler<Env> = async (controller, env) => {
  await runScheduledJobs(env, new Date(controller.scheduledTime), controller.cron);
};
