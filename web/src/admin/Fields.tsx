import { useId } from "preact/hooks";

/** A moment as the console shows it: date and time in the reader's locale. */
export const stamp = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A filter's select, "Any" first (the empty value). */
export function Select({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: string;
  options: readonly string[];
  onChange: (v: string) => void;
}) {
  const id = useId();
  // label[for] rather than a wrapping label: a wrapping label's name would include the option texts.
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">Any</option>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </div>
  );
}

/** A labelled text, date or number input. */
export function Text({
  label,
  value,
  onChange,
  type = "text",
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  type?: "text" | "date" | "number";
}) {
  return (
    <label class="field">
      <span>{label}</span>
      <input type={type as "text"} value={value} onInput={(e) => onChange(e.currentTarget.value)} />
    </label>
  );
}

/** Previous / "Page n of m" / Next under a paged table (pages of `limit` rows, at least one page). */
export function Pager({
  label,
  page,
  total,
  limit,
  onPage,
}: {
  label: string;
  page: number;
  total: number;
  limit: number;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <nav class="pager" aria-label={label}>
      <button type="button" class="button small" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous page
      </button>
      <span>
        Page {page} of {pages}
      </span>
      <button type="button" class="button small" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next page
      </button>
    </nav>
  );
}
