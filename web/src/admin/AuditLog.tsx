import { useSignal } from "@preact/signals";
import { api, call, describeError } from "../api";

type Page = Awaited<ReturnType<typeof fetchPage>>;
type Entry = Page["audit_logs"][number];
const fetchPage = (query: Record<string, string>) => call(() => api.admin.audit["audit-logs"].$get({ query }));

const FIELDS = [
  ["admin_id", "Admin id", "text"],
  ["action", "Action", "text"],
  ["target_id", "Target id", "text"],
  ["from", "Logged from", "date"],
  ["to", "Logged to", "date"],
] as const;

/** The audit log with its filters and cursor paging, and the chain check. */
export function AuditLog() {
  const filters = useSignal<Record<string, string>>({});
  const rows = useSignal<Entry[] | null>(null);
  const cursor = useSignal<string | null>(null);
  const error = useSignal<string | null>(null);
  const verdict = useSignal<{ ok: boolean; text: string } | null>(null);

  const load = async (more: boolean) => {
    error.value = null;
    const query: Record<string, string> = { limit: "25" };
    for (const [k, v] of Object.entries(filters.value)) if (v.trim()) query[k] = v.trim();
    if (more && cursor.value) query.cursor = cursor.value;
    try {
      const page = await fetchPage(query);
      rows.value = more ? [...(rows.value ?? []), ...page.audit_logs] : page.audit_logs;
      cursor.value = page.has_more ? page.next_cursor : null;
    } catch (err) {
      error.value = describeError(err);
    }
  };

  const verify = async () => {
    try {
      const v = await call(() => api.admin.audit["audit-logs"].verify.$get());
      verdict.value = v.ok
        ? { ok: true, text: `Chain intact: ${v.rows_checked} rows checked.` }
        : { ok: false, text: `Chain broken at row ${v.first_broken?.id} (${v.first_broken?.reason}) after ${v.rows_checked} rows.` };
    } catch (err) {
      verdict.value = { ok: false, text: describeError(err) };
    }
  };

  return (
    <section class="card" id="audit" aria-labelledby="audit-title">
      <div class="card-head">
        <h2 id="audit-title">Audit log</h2>
        <button type="button" class="button small" onClick={verify}>
          Verify chain
        </button>
      </div>
      {verdict.value && (
        <p class={`notice${verdict.value.ok ? "" : " bad"}`} role="status">
          {verdict.value.text}
        </p>
      )}
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void load(false);
        }}
      >
        {FIELDS.map(([key, label, type]) => (
          <label key={key} class="field">
            <span>{label}</span>
            <input
              type={type as "text"}
              value={filters.value[key] ?? ""}
              onInput={(e) => {
                filters.value = { ...filters.value, [key]: e.currentTarget.value };
              }}
            />
          </label>
        ))}
        <div class="buttons">
          <button type="submit" class="button primary">
            Show entries
          </button>
        </div>
      </form>
      {error.value && (
        <p class="error" role="alert">
          {error.value}
        </p>
      )}
      {rows.value && (
        <>
          <div class="table-wrap">
            <table>
              <caption>{rows.value.length ? "Newest first." : "No entries match."}</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Admin</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Severity</th>
                </tr>
              </thead>
              <tbody>
                {rows.value.map((r) => (
                  <tr key={r.id}>
                    <td>{new Date(r.created_at).toLocaleString()}</td>
                    <td>
                      {r.admin_id} <span class="muted">{r.admin_role}</span>
                    </td>
                    <td>{r.action}</td>
                    <td>{r.target_id ?? "—"}</td>
                    <td>
                      <span class={`pill ${r.outcome}`}>
                        {r.outcome} {r.status_code}
                      </span>
                    </td>
                    <td>
                      <span class={`pill ${r.severity}`}>{r.severity}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {cursor.value && (
            <div class="pager">
              <button type="button" class="button small" onClick={() => void load(true)}>
                Older entries
              </button>
            </div>
          )}
        </>
      )}
    </section>
  );
}
