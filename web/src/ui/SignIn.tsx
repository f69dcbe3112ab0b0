import { useSignal } from "@preact/signals";
import { describeError } from "../api";
import { devSignInAvailable } from "../session";

/** The local sign-in (DEV_AUTH). The production build has no form: the identity provider hands over a token. */
export function SignIn({ title, lead, onSignIn }: { title: string; lead: string; onSignIn: (userId: string) => Promise<void> }) {
  const userId = useSignal("");
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  return (
    <main class="signin">
      <div class="signin-card">
        <div class="brand brand-large" aria-hidden="true">
          <span class="brand-mark">♥</span> Pairly
        </div>
        <h1>{title}</h1>
        <p class="muted">{lead}</p>
        {devSignInAvailable ? (
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              busy.value = true;
              error.value = null;
              try {
                await onSignIn(userId.value.trim());
              } catch (err) {
                error.value = describeError(err);
              } finally {
                busy.value = false;
              }
            }}
          >
            <label class="field">
              <span>User id</span>
              <input
                name="user_id"
                autoComplete="username"
                required
                pattern="[A-Za-z0-9_\-]{1,64}"
                title="1–64 letters, digits, _ or -"
                value={userId.value}
                onInput={(e) => {
                  userId.value = e.currentTarget.value;
                }}
              />
            </label>
            <button type="submit" class="button primary wide" disabled={busy.value}>
              Sign in
            </button>
            <p class="hint">Local development sign-in: any user id works while DEV_AUTH is on.</p>
          </form>
        ) : (
          <p>Open Pairly from the app to sign in.</p>
        )}
        {error.value && (
          <p class="error" role="alert">
            {error.value}
          </p>
        )}
      </div>
    </main>
  );
}
