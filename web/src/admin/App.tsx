import { session } from "../session";
import { SignIn } from "../ui/SignIn";
import { Admins } from "./Admins";
import { AuditLog } from "./AuditLog";
import { Overview } from "./Overview";
import { Reports } from "./Reports";
import { Search } from "./Search";
import { auth, can, me, meError } from "./state";

/** The sections a role may use, in the order moderators and analysts look for them; no others are rendered. */
const SECTIONS = [
  { id: "search", title: "Search", allowed: () => can("moderation.view"), Section: Search },
  { id: "reports", title: "Reports", allowed: () => can("moderation.view"), Section: Reports },
  { id: "overview", title: "Overview", allowed: () => can("analytics.view"), Section: Overview },
  { id: "audit", title: "Audit log", allowed: () => can("super_admin"), Section: AuditLog },
  { id: "admins", title: "Admins", allowed: () => can("super_admin"), Section: Admins },
] as const;

export function App() {
  if (!session.value) {
    return <SignIn title="Pairly console" lead="Moderation, analytics and the audit trail. Admins only." onSignIn={auth.signIn} />;
  }
  const admin = me.value;
  const sections = admin ? SECTIONS.filter((s) => s.allowed()) : [];
  return (
    <div class="console">
      <header class="console-top">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">
            ♥
          </span>{" "}
          Pairly console
        </div>
        {sections.length > 0 && (
          <nav aria-label="Sections">
            {sections.map((s) => (
              <a key={s.id} href={`#${s.id}`}>
                {s.title}
              </a>
            ))}
          </nav>
        )}
        <div class="who">
          <span>{session.value.userId}</span>
          {admin && <span class="role">{admin.role}</span>}
          <button type="button" class="button ghost small" onClick={() => auth.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main class="console-main">
        {meError.value && (
          <p class="error" role="alert">
            {meError.value === "You are not allowed to do that." ? `${session.value.userId} is not an active admin.` : meError.value}
          </p>
        )}
        {!admin && !meError.value && <p class="muted">Loading your permissions…</p>}
        {sections.map(({ id, Section }) => (
          <Section key={id} />
        ))}
      </main>
    </div>
  );
}
