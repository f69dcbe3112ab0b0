import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { type AdminReport, api, call, describeError } from "../api";
import { Dialog } from "../ui/Dialog";
import "../ui/safety.css";
import { Pager, Select, stamp, Text } from "./Fields";
import { can } from "./state";

const LIMIT = 20;
const REASONS = ["harassment", "spam", "scam", "inappropriate", "underage", "other"] as const;
const RESOLUTIONS = [
  ["no_action", "No action"],
  ["warned", "Warned"],
  ["content_removed", "Content removed"],
  ["user_suspended", "User suspended"],
] as const;
type Resolution = (typeof RESOLUTIONS)[number][0];
type Filters = { status: string; reason: string; user_id: string; reporter_id: string; from: string; to: string };
const EMPTY: Filters = { status: "open", reason: "", user_id: "", reporter_id: "", from: "", to: "" };

/** The conversation as it was when reported: deleted and blocked content included, the named messages marked. */
function SnapshotDialog({ report, onClose }: { report: AdminReport; onClose: () => void }) {
  return (
    <Dialog title={`Snapshot of report ${report.id}`} onClose={onClose}>
      <p class="muted">
        {report.reporter_id} reported {report.user_id} for {report.reason} on {stamp(report.created_at)}.
        {report.details && ` “${report.details}”`}
      </p>
      {report.snapshot_redacted_at && <p class="notice">Redacted on {stamp(report.snapshot_redacted_at)}: the retention hold ended.</p>}
      {report.snapshot.length ? (
        <ol class="snapshot" aria-label="Snapshot">
          {report.snapshot.map((m) => (
            <li key={m.id} class={m.named ? "named" : undefined}>
              <strong>{m.sender_id}</strong> <span class="muted">{stamp(m.created_at)}</span> {m.named && <span class="pill">named</span>}{" "}
              {m.is_deleted && <span class="pill">deleted</span>}{" "}
              {m.moderation_status !== "pending" && <span class={`pill ${m.moderation_status}`}>{m.moderation_status}</span>}
              <p>{m.content ?? "(redacted)"}</p>
              {m.attachments.length > 0 && (
                <p class="muted">
                  {m.attachments.length} attachment{m.attachments.length === 1 ? "" : "s"}:{" "}
                  {m.attachments.map((a) => a.name ?? a.mime_type).join(", ")}
                </p>
              )}
            </li>
          ))}
        </ol>
      ) : (
        <p class="muted">No messages between them when it was reported.</p>
      )}
    </Dialog>
  );
}

function ResolveDialog({ report, onDone, onClose }: { report: AdminReport; onDone: (r: AdminReport) => void; onClose: () => void }) {
  const resolution = useSignal<Resolution>("warned");
  const note = useSignal("");
  const error = useSignal<string | null>(null);
  return (
    <Dialog title={`Resolve report ${report.id}`} onClose={onClose}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          error.value = null;
          try {
            onDone(
              await call(() =>
                api.admin.reports.reports[":report_id"].resolve.$post({
                  param: { report_id: report.id },
                  json: { resolution: resolution.value, note: note.value.trim() },
                }),
              ),
            );
          } catch (err) {
            error.value = describeError(err);
          }
        }}
      >
        <div class="field">
          <label for="report-resolution">Resolution</label>
          <select
            id="report-resolution"
            value={resolution.value}
            onChange={(e) => (resolution.value = e.currentTarget.value as Resolution)}
          >
            {RESOLUTIONS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </div>
        <label class="field">
          <span>Note</span>
          <input required maxLength={2000} value={note.value} onInput={(e) => (note.value = e.currentTarget.value)} />
        </label>
        {resolution.value === "user_suspended" && <p class="muted">{report.user_id} will be suspended until someone lifts it.</p>}
        {error.value && (
          <p class="error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="button primary">
            Resolve
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function SuspendDialog({ userId, onDone, onClose }: { userId: string; onDone: () => void; onClose: () => void }) {
  const reason = useSignal("");
  const until = useSignal("");
  const error = useSignal<string | null>(null);
  return (
    <Dialog title={`Suspend ${userId}`} onClose={onClose}>
      <p class="muted">They can still sign in and read; every send is refused and their sockets close at once.</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          error.value = null;
          try {
            await call(() =>
              api.admin.users.users[":user_id"].suspend.$post({
                param: { user_id: userId },
                json: { reason: reason.value.trim(), ...(until.value && { until: until.value }) },
              }),
            );
            onDone();
          } catch (err) {
            error.value = describeError(err);
          }
        }}
      >
        <label class="field">
          <span>Reason</span>
          <input required maxLength={1000} value={reason.value} onInput={(e) => (reason.value = e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Until (optional)</span>
          <input type="date" value={until.value} onInput={(e) => (until.value = e.currentTarget.value)} />
        </label>
        {error.value && (
          <p class="error" role="alert">
            {error.value}
          </p>
        )}
        <div class="actions">
          <button type="submit" class="button danger">
            Suspend
          </button>
        </div>
      </form>
    </Dialog>
  );
}

/** The report queue: every filter of the contract, paged; the snapshot; resolve; suspend and unsuspend. */
export function Reports() {
  const filters = useSignal<Filters>({ ...EMPTY });
  const page = useSignal<{ reports: AdminReport[]; total: number; page: number } | null>(null);
  const error = useSignal<string | null>(null);
  const viewing = useSignal<AdminReport | null>(null);
  const resolving = useSignal<AdminReport | null>(null);
  const suspending = useSignal<string | null>(null);
  const set = (k: keyof Filters) => (v: string) => {
    filters.value = { ...filters.value, [k]: v };
  };

  const run = async (n: number) => {
    error.value = null;
    const query: Record<string, string> = { page: String(n), limit: String(LIMIT) };
    for (const [k, v] of Object.entries(filters.value)) if (v.trim()) query[k] = v.trim();
    try {
      const r = await call(() => api.admin.reports.reports.$get({ query }));
      page.value = { reports: r.reports, total: r.total, page: r.page };
    } catch (err) {
      error.value = describeError(err);
    }
  };

  useEffect(() => {
    void run(1);
  }, []);

  const unsuspend = async (userId: string) => {
    try {
      await call(() => api.admin.users.users[":user_id"].unsuspend.$post({ param: { user_id: userId } }));
      await run(page.value?.page ?? 1);
    } catch (err) {
      error.value = describeError(err);
    }
  };

  const p = page.value;
  const f = filters.value;
  const acts = can("moderation.action");
  return (
    <section class="card" id="reports" aria-labelledby="reports-title">
      <h2 id="reports-title">Reports</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void run(1);
        }}
      >
        <Select label="Status" value={f.status} options={["open", "resolved"]} onChange={set("status")} />
        <Select label="Reason" value={f.reason} options={REASONS} onChange={set("reason")} />
        <Text label="Reported user" value={f.user_id} onChange={set("user_id")} />
        <Text label="Reporter" value={f.reporter_id} onChange={set("reporter_id")} />
        <Text label="Filed from" type="date" value={f.from} onChange={set("from")} />
        <Text label="Filed to" type="date" value={f.to} onChange={set("to")} />
        <div class="buttons">
          <button type="submit" class="button primary">
            Show reports
          </button>
        </div>
      </form>
      {error.value && (
        <p class="error" role="alert">
          {error.value}
        </p>
      )}
      {p && (
        <>
          <div class="table-wrap">
            <table>
              <caption>{p.total === 0 ? "No reports match." : `${p.total} ${p.total === 1 ? "report" : "reports"}. Newest first.`}</caption>
              <thead>
                <tr>
                  <th scope="col">Filed</th>
                  <th scope="col">Reporter</th>
                  <th scope="col">Reported user</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {p.reports.map((r) => (
                  <tr key={r.id}>
                    <td>{stamp(r.created_at)}</td>
                    <td>{r.reporter_id}</td>
                    <td>
                      {r.user_id}
                      {r.user_suspension.suspended && <span class="pill blocked">suspended</span>}
                    </td>
                    <td>
                      {r.reason}
                      {r.also_blocked && <div class="muted">and blocked</div>}
                    </td>
                    <td>
                      <span class="pill">{r.status}</span>
                      {r.resolution && <div class="muted">{r.resolution}</div>}
                    </td>
                    <td>
                      <div class="actions">
                        <button type="button" class="button small ghost" onClick={() => (viewing.value = r)}>
                          View snapshot
                        </button>
                        {acts && r.status === "open" && (
                          <button type="button" class="button small" onClick={() => (resolving.value = r)}>
                            Resolve
                          </button>
                        )}
                        {acts &&
                          (r.user_suspension.suspended ? (
                            <button type="button" class="button small ghost" onClick={() => void unsuspend(r.user_id)}>
                              Unsuspend
                            </button>
                          ) : (
                            <button type="button" class="button small danger" onClick={() => (suspending.value = r.user_id)}>
                              Suspend
                            </button>
                          ))}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager label="Report pages" page={p.page} total={p.total} limit={LIMIT} onPage={(page) => void run(page)} />
        </>
      )}
      {viewing.value && <SnapshotDialog report={viewing.value} onClose={() => (viewing.value = null)} />}
      {resolving.value && (
        <ResolveDialog
          report={resolving.value}
          onClose={() => (resolving.value = null)}
          onDone={() => {
            resolving.value = null;
            void run(page.value?.page ?? 1);
          }}
        />
      )}
      {suspending.value && (
        <SuspendDialog
          userId={suspending.value}
          onClose={() => (suspending.value = null)}
          onDone={() => {
            suspending.value = null;
            void run(page.value?.page ?? 1);
          }}
        />
      )}
    </section>
  );
}
