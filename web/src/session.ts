/**
 * Who is signed in, for this tab only (sessionStorage: a second tab can be a second user).
 * The development build signs in with POST /api/dev/token (DEV_AUTH); the production build has no
 * such code: it takes a token handed over by the identity provider in the URL fragment
 * (`#access_token=<JWT>`), and asks for a new sign-in when it expires.
 */
import { signal } from "@preact/signals";
import { api, call, useToken } from "./api";

export type Session = { userId: string; token: string; expiresAt: number };

export const session = signal<Session | null>(null);

const expiryOf = (token: string): number => {
  try {
    const payload = JSON.parse(atob((token.split(".")[1] ?? "").replaceAll("-", "+").replaceAll("_", "/")));
    return typeof payload.exp === "number" ? payload.exp * 1000 : 0;
  } catch {
    return 0;
  }
};
const subjectOf = (token: string): string | null => {
  try {
    return JSON.parse(atob((token.split(".")[1] ?? "").replaceAll("-", "+").replaceAll("_", "/"))).sub ?? null;
  } catch {
    return null;
  }
};

export const devSignInAvailable = __DEV_SIGN_IN__;

export function createSession(storageKey: string) {
  const save = (s: Session | null) => {
    session.value = s;
    if (s) sessionStorage.setItem(storageKey, JSON.stringify(s));
    else sessionStorage.removeItem(storageKey);
  };

  async function signIn(userId: string): Promise<void> {
    const dev = api.dev;
    if (!__DEV_SIGN_IN__ || !dev) throw new Error("Sign in through the Pairly app");
    const { token } = await call(() => dev.token.$post({ json: { user_id: userId } }));
    save({ userId, token, expiresAt: expiryOf(token) });
  }

  /** A token good for at least another minute, or null when the user must sign in again. */
  async function freshToken(): Promise<string | null> {
    const s = session.value;
    if (!s) return null;
    if (s.expiresAt - Date.now() > 60_000) return s.token;
    return (await renew()) ? (session.value?.token ?? null) : null;
  }

  async function renew(): Promise<boolean> {
    const s = session.value;
    if (!s) return false;
    if (__DEV_SIGN_IN__) {
      try {
        await signIn(s.userId);
        return true;
      } catch {
        return false;
      }
    }
    save(null);
    return false;
  }

  function restore() {
    const handed = new URLSearchParams(location.hash.slice(1)).get("access_token");
    if (handed && subjectOf(handed)) {
      history.replaceState(null, "", location.pathname + location.search);
      save({ userId: subjectOf(handed) as string, token: handed, expiresAt: expiryOf(handed) });
      return;
    }
    try {
      const stored = JSON.parse(sessionStorage.getItem(storageKey) ?? "null") as Session | null;
      if (stored?.token && stored.userId) session.value = stored;
    } catch {
      sessionStorage.removeItem(storageKey);
    }
  }

  useToken(() => session.value?.token ?? null, renew);
  restore();
  return { signIn, signOut: () => save(null), freshToken, renew };
}
