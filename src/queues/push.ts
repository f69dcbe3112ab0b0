/**
 * The consumer of the push queue and of its dead-letter queue (same Worker). It acknowledges or
 * retries each message on its own and logs each outcome as one JSON line, never with the payload.
 */
import { dbOf } from "../db/client";
import { logError } from "../lib/log";
import { backoffSeconds } from "../lib/retry";
import { PushJob } from "../schemas/push";
import { type DeliverOutcome, deliver, type FanOutOutcome, fanOut, type PushDeps } from "../services/push";

/** The dead-letter queue is named after the queue it serves (`pairly-push` → `pairly-push-dlq`). */
const isDeadLetterQueue = (name: string) => name.endsWith("-dlq");

function logOutcome(level: "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "info") console.log(line);
  else if (level === "warn") console.warn(line);
  else console.error(line);
}

const jobFields = (job: PushJob, attempt: number) => ({
  kind: job.kind,
  message_id: job.messageId,
  conversation_id: job.conversationId,
  seq: job.seq,
  receiver_id: job.receiverId,
  ...(job.kind === "deliver" && { subscription_id: job.subscriptionId }),
  attempt,
});

function outcomeFields(o: FanOutOutcome | DeliverOutcome): Record<string, unknown> {
  switch (o.outcome) {
    case "skipped":
      return { outcome: o.outcome, reason: o.reason };
    case "fanned_out":
      return { outcome: o.outcome, subscriptions: o.subscriptions };
    case "retry":
      return { outcome: o.outcome, status: o.status, push_service: o.pushService, delay_seconds: o.delaySeconds, error: o.error };
    default:
      return { outcome: o.outcome, status: o.status, push_service: o.pushService };
  }
}

async function handle(deps: PushDeps, message: Message<unknown>): Promise<void> {
  const parsed = PushJob.safeParse(message.body);
  if (!parsed.success) {
    // A body no version of this code could have written: retrying would never help.
    logOutcome("error", "push.job", { outcome: "malformed", id: message.id });
    message.ack();
    return;
  }
  const job = parsed.data;
  const fields = jobFields(job, message.attempts);
  try {
    const outcome = job.kind === "notify" ? await fanOut(deps, job) : await deliver(deps, job, message.attempts);
    if (outcome.outcome === "retry") {
      logOutcome("warn", `push.${job.kind}`, { ...fields, ...outcomeFields(outcome) });
      message.retry({ delaySeconds: outcome.delaySeconds });
      return;
    }
    logOutcome(outcome.outcome === "rejected" ? "warn" : "info", `push.${job.kind}`, { ...fields, ...outcomeFields(outcome) });
    message.ack();
  } catch (err) {
    // D1 or the queue failed us: the job is retried like a push service's 5xx.
    const delaySeconds = backoffSeconds(message.attempts);
    logError(`push.${job.kind}_failed`, err, { ...fields, delay_seconds: delaySeconds });
    message.retry({ delaySeconds });
  }
}

/** Jobs that failed `max_retries` times: kept in the logs (ids only), then acknowledged. */
function deadLetters(batch: MessageBatch<unknown>): void {
  for (const message of batch.messages) {
    const parsed = PushJob.safeParse(message.body);
    logOutcome("error", "push.dead_letter", {
      queue: batch.queue,
      id: message.id,
      ...(parsed.success ? jobFields(parsed.data, message.attempts) : { outcome: "malformed" }),
    });
    message.ack();
  }
}

export async function pushQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (isDeadLetterQueue(batch.queue)) return deadLetters(batch);
  const deps = { db: dbOf(env.DB), env };
  await Promise.all(batch.messages.map((message) => handle(deps, message)));
}
