import { useSignal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { api, call, describeError, download, exportHref } from "../api";
import { can } from "./state";

type Overview = Awaited<ReturnType<typeof load>>;
const load = (from: string, to: string) => call(() => api.admin.messages.messages.stats.overview.$get({ query: { from, to } }));

const isoDay = (d: Date) => d.toISOString().slice(0, 10);
const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/** Messages per day as bars: an SVG drawn here (no chart library to ship for one chart). */
function Chart({ days }: { days: Overview["per_day"] }) {
  const W = 720;
  const H = 220;
  const pad = { l: 34, r: 8, t: 10, b: 24 };
  const max = Math.max(1, ...days.map((d) => d.messages));
  const step = (W - pad.l - pad.r) / Math.max(1, days.length);
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const ticks = [0, Math.round(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  const total = days.reduce((n, d) => n + d.messages, 0);
  const busiest = days.reduce((a, d) => (d.messages > (a?.messages ?? -1) ? d : a), days[0]);
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Messages per day" aria-describedby="chart-summary">
      <desc id="chart-summary">
        {`${total} messages over ${days.length} days${busiest ? `; the busiest day was ${busiest.date} with ${busiest.messages}` : ""}.`}
      </desc>
      {ticks.map((t) => (
        <g key={t}>
          <line class="grid" x1={pad.l} x2={W - pad.r} y1={y(t)} y2={y(t)} />
          <text class="axis" x={pad.l - 6} y={y(t) + 3} text-anchor="end">
            {t}
          </text>
        </g>
      ))}
      {days.map((d, i) => (
        <g key={d.date}>
          <rect
            class="bar"
            x={pad.l + i * step + step * 0.15}
            width={Math.max(1, step * 0.7)}
            y={y(d.messages)}
            height={H - pad.b - y(d.messages)}
            rx={2}
          >
            <title>{`${d.date}: ${d.messages}`}</title>
          </rect>
          {(i === 0 || i === days.length - 1 || i % Math.ceil(days.length / 6) === 0) && (
            <text class="axis" x={pad.l + i * step + step / 2} y={H - 6} text-anchor="middle">
              {d.date.slice(5)}
            </text>
          )}
        </g>
      ))}
    </svg>
  );
}

/** Totals, rates and volume for a range; "Export CSV" streams the messages of that same range. */
export function Overview() {
  const today = new Date();
  const from = useSignal(isoDay(new Date(today.getTime() - 29 * 86_400_000)));
  const to = useSignal(isoDay(today));
  const data = useSignal<Overview | null>(null);
  const error = useSignal<string | null>(null);

  const refresh = async () => {
    error.value = null;
    try {
      data.value = await load(from.value, to.value);
    } catch (err) {
      error.value = describeError(err);
    }
  };
  useEffect(() => {
    void refresh();
  }, []);

  const d = data.value;
  const range = { format: "csv", from: from.value, to: to.value };
  return (
    <section class="card" id="overview" aria-labelledby="overview-title">
      <div class="card-head">
        <h2 id="overview-title">Overview</h2>
        {can("analytics.export") && (
          <a
            class="button small"
            href={exportHref(range)}
            download
            onClick={(e) => {
              e.preventDefault();
              download(range).catch((err) => {
                error.value = describeError(err);
              });
            }}
          >
            Export CSV
          </a>
        )}
      </div>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          void refresh();
        }}
      >
        <label class="field">
          <span>Overview from</span>
          <input type="date" value={from.value} onInput={(e) => (from.value = e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Overview to</span>
          <input type="date" value={to.value} onInput={(e) => (to.value = e.currentTarget.value)} />
        </label>
        <div class="buttons">
          <button type="submit" class="button">
            Show
          </button>
        </div>
      </form>
      {error.value && (
        <p class="error" role="alert">
          {error.value}
        </p>
      )}
      {d && (
        <>
          <dl class="stats">
            <div class="stat">
              <dt>Messages</dt>
              <dd>{d.totals.messages}</dd>
            </div>
            <div class="stat">
              <dt>Active senders</dt>
              <dd>{d.active_senders}</dd>
            </div>
            <div class="stat">
              <dt>Delivery rate</dt>
              <dd>{pct(d.delivery_rate)}</dd>
            </div>
            <div class="stat">
              <dt>Read rate</dt>
              <dd>{pct(d.read_rate)}</dd>
            </div>
            <div class="stat">
              <dt>Blocked</dt>
              <dd>{d.totals.by_moderation_status.blocked}</dd>
            </div>
            <div class="stat">
              <dt>Deleted</dt>
              <dd>{d.totals.deleted}</dd>
            </div>
          </dl>
          <Chart days={d.per_day} />
        </>
      )}
    </section>
  );
}
