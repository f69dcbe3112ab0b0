/** The console's state: the signed-in admin and what their role allows, read from GET /api/admin/me. */
import { computed, effect, signal, untracked } from "@preact/signals";
import { api, call, describeError } from "../api";
import { createSession, session } from "../session";

export type Me = Awaited<ReturnType<typeof fetchMe>>;
const fetchMe = () => call(() => api.admin.me.me.$get());

export const auth = createSession("pairly.admin.session");
export const me = signal<Me | null>(null);
export const meError = signal<string | null>(null);

export const can = (permission: Me["permissions"][number]) => me.value?.permissions.includes(permission) ?? false;

const signedInAs = computed(() => session.value?.userId ?? null);

effect(() => {
  const userId = signedInAs.value;
  untracked(() => {
    me.value = null;
    meError.value = null;
    if (!userId) return;
    fetchMe().then(
      (m) => {
        me.value = m;
      },
      (err) => {
        meError.value = describeError(err);
      },
    );
  });
});
