import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api, call, describeError } from "../api";

type Account = Awaited<ReturnType<typeof list>>["admins"][number];
type Role = Account["role"];
const ROLES: Role[] = ["support", "moderator", "analyst", "admin", "super_admin"];
const list = () => call(() => api.admin.accounts.admins.$get());

/** Super admins: every admin, create, change role, deactivate. */
export function Admins() {
  const admins = useSignal<Account[] | null>(null);
  const error = useSignal<string | null>(null);
  const notice = useSignal<string | null>(null);
  const draft = useSignal({ id: "", email: "", role: "support" as Role });

  const refresh = async () => {
    try {
      admins.value = (await list()).admins;
    } catch (err) {
      error.value = describeError(err);
    }
  };
  useEffect(() => {
    void refresh();
  }, []);

  const act = async (what: () => Promise<unknown>, done: string) => {
    error.value = null;
    notice.value = null;
    try {
      await what();
      notice.value = done;
      await refresh();
    } catch (err) {
      error.value = describeError(err);
    }
  };

  const save = (a: { id: string; email: string; role: Role }) =>
    call(() => api.admin.accounts.admins[":admin_id"].$put({ param: { admin_id: a.id }, json: { email: a.email, role: a.role } }));

  return (
    <section class="card" id="admins" aria-labelledby="admins-title">
      <h2 id="admins-title">Admins</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const d = draft.value;
          void act(() => save({ ...d, id: d.id.trim(), email: d.email.trim() }), `Saved ${d.id.trim()}.`).then(() => {
            draft.value = { id: "", email: "", role: "support" };
          });
        }}
      >
        <label class="field">
          <span>New admin id</span>
          <input required value={draft.value.id} onInput={(e) => (draft.value = { ...draft.value, id: e.currentTarget.value })} />
        </label>
        <label class="field">
          <span>Email</span>
          <input
            type="email"
            required
            value={draft.value.email}
            onInput={(e) => (draft.value = { ...draft.value, email: e.currentTarget.value })}
          />
        </label>
        <div class="field">
          <label for="new-admin-role">Role</label>
          <select
            id="new-admin-role"
            value={draft.value.role}
            onChange={(e) => (draft.value = { ...draft.value, role: e.currentTarget.value as Role })}
          >
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </div>
        <div class="buttons">
          <button type="submit" class="button primary">
            Create admin
          </button>
        </div>
      </form>
      {notice.value && (
        <p class="notice" role="status">
          {notice.value}
        </p>
      )}
      {error.value && (
        <p class="error" role="alert">
          {error.value}
        </p>
      )}
      {admins.value && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Admin</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {admins.value.map((a) => (
                <tr key={a.id}>
                  <td>{a.id}</td>
                  <td>{a.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${a.id}`}
                      value={a.role}
                      onChange={(e) =>
                        void act(
                          () => save({ id: a.id, email: a.email, role: e.currentTarget.value as Role }),
                          `${a.id} is now ${e.currentTarget.value}.`,
                        )
                      }
                    >
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <span class={`pill ${a.active ? "success" : "denied"}`}>{a.active ? "active" : "inactive"}</span>
                  </td>
                  <td>
                    {a.active && (
                      <button
                        type="button"
                        class="button small danger"
                        aria-label={`Deactivate ${a.id}`}
                        onClick={() =>
                          void act(
                            () => call(() => api.admin.accounts.admins[":admin_id"].deactivate.$post({ param: { admin_id: a.id } })),
                            `${a.id} is deactivated.`,
                          )
                        }
                      >
                        Deactivate
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
