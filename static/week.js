// The selected pet's last 7 days on the owner's page: steps, active minutes, distance and the
// heart-rate range of each day as small charts drawn in inline SVG (no library), from
// GET /v1/pets/{id}/stats?bucket=day in the browser's time zone; and the same 7 days'
// track as a GPX file.
//
// `#week-chart` says how far it got in `data-state`: loading, ready, empty, unavailable
// (the server has no statistics for this pet, or no statistics route) or error. Each bar
// carries its day and value (`data-day`, `data-metric`, `data-value`) and a <title>.

import { ApiError, el } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;
const WIDTH = 320;
const HEIGHT = 64;
const LABEL_H = 14;
const COLUMN = WIDTH / DAYS;
/** Room above the tallest bar for its value. */
const VALUE_H = 11;

/** The charts: what each shows, how to read it from a day's statistics, and its colour. */
const METRICS = [
  { key: "steps", label: "Steps", color: "#2563eb", value: (day) => day.steps, text: (v) => `${Math.round(v)}` },
  { key: "active", label: "Active minutes", color: "#16a34a", value: (day) => day.active_s / 60, text: (v) => `${Math.round(v)} min` },
  { key: "distance", label: "Distance", color: "#7c3aed", value: (day) => day.distance_m / 1000, text: (v) => `${v.toFixed(1)} km` },
];

/** The browser's IANA time zone: the days are its calendar days. */
export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Local midnight 6 days ago, and now: the last 7 calendar days, today included. */
export function lastSevenDays(now = new Date()) {
  const start = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (DAYS - 1));
  return { from: start.getTime(), to: now.getTime(), start };
}

/** `YYYY-MM-DD` of a local date. */
function dayKey(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * Loads and draws the week of `petId` into `container`; `authed(path)` calls the API as the
 * signed-in user; `isCurrent()` says whether the pet is still the selected one.
 */
export async function loadWeek(container, petId, { authed, isCurrent }) {
  const { from, to, start } = lastSevenDays();
  container.dataset.state = "loading";
  container.replaceChildren(el("p", { class: "muted" }, "Loading the last 7 days…"));
  const query = `bucket=day&from=${from}&to=${to}&tz=${encodeURIComponent(browserZone())}`;
  let stats;
  try {
    stats = await authed(`/v1/pets/${petId}/stats?${query}`);
  } catch (error) {
    if (!isCurrent()) return;
    const missing = error instanceof ApiError && error.status === 404;
    container.dataset.state = missing ? "unavailable" : "error";
    const text = missing ? "Statistics are not available yet." : `Could not load the statistics: ${error.message}`;
    container.replaceChildren(el("p", { class: missing ? "muted" : "error" }, text));
    return;
  }
  if (!isCurrent()) return;
  const days = weekOf(start, (stats && stats.items) || []);
  if (!days.some((day) => day.stats)) {
    container.dataset.state = "empty";
    container.replaceChildren(el("p", { class: "muted" }, "No activity recorded in the last 7 days."));
    return;
  }
  container.replaceChildren(...METRICS.map((metric) => barChart(metric, days)), heartChart(days));
  container.dataset.state = "ready";
}

/** Seven slots from `start`, each with its day's statistics or null. */
function weekOf(start, items) {
  const byDay = new Map(items.map((item) => [dayKey(new Date(item.start)), item]));
  return Array.from({ length: DAYS }, (_, i) => {
    const date = new Date(start.getFullYear(), start.getMonth(), start.getDate() + i);
    return { key: dayKey(date), label: date.toLocaleDateString(undefined, { weekday: "short" }), stats: byDay.get(dayKey(date)) || null };
  });
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  node.append(...children);
  return node;
}

/** One figure: a caption and a chart of seven columns with the weekday under each. */
function figure(caption, metric, days, draw) {
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT + LABEL_H}`, role: "img", "aria-label": caption, class: "week-svg" });
  days.forEach((day, i) => {
    chart.append(svg("text", { x: i * COLUMN + COLUMN / 2, y: HEIGHT + LABEL_H - 2, "text-anchor": "middle", class: "week-label" }, day.label));
    draw(chart, day, i);
  });
  return el("figure", { class: "week-figure", dataset: { metric } }, el("figcaption", {}, caption), chart);
}

function barChart(metric, days) {
  const values = days.map((day) => (day.stats ? Number(metric.value(day.stats)) || 0 : 0));
  const max = Math.max(...values, 1);
  return figure(metric.label, metric.key, days, (chart, day, i) => {
    if (!day.stats) return;
    const h = Math.max(1, (values[i] / max) * (HEIGHT - VALUE_H));
    const bar = svg("rect", {
      x: i * COLUMN + COLUMN * 0.2, y: HEIGHT - h, width: COLUMN * 0.6, height: h, fill: metric.color,
      "data-day": day.key, "data-metric": metric.key, "data-value": values[i],
    }, svg("title", {}, `${day.key}: ${metric.text(values[i])}`));
    chart.append(bar, valueText(i * COLUMN + COLUMN / 2, HEIGHT - h - 2, metric.text(values[i])));
  });
}

/** Heart rate: a line from each day's lowest to highest reading, a dot at its average. */
function heartChart(days) {
  const known = days.filter((day) => day.stats && day.stats.hr_min != null && day.stats.hr_max != null);
  const low = Math.min(...known.map((day) => day.stats.hr_min), 200);
  const high = Math.max(...known.map((day) => day.stats.hr_max), low + 1);
  const y = (bpm) => HEIGHT - 4 - ((bpm - low) / (high - low)) * (HEIGHT - VALUE_H - 6);
  return figure("Heart rate (min–max, bpm)", "hr", days, (chart, day, i) => {
    if (!known.includes(day)) return;
    const { hr_min: min, hr_avg: avg, hr_max: max } = day.stats;
    const x = i * COLUMN + COLUMN / 2;
    chart.append(svg("line", {
      x1: x, x2: x, y1: y(max), y2: y(min), stroke: "#dc2626", "stroke-width": 6, "stroke-linecap": "round",
      "data-day": day.key, "data-metric": "hr", "data-value": `${min}-${max}`,
    }, svg("title", {}, `${day.key}: ${min}–${max} bpm${avg != null ? `, average ${avg}` : ""}`)));
    if (avg != null) chart.append(svg("circle", { cx: x, cy: y(avg), r: 2.5, fill: "#fff" }));
    chart.append(valueText(x, y(max) - 5, `${min}–${max}`));
  });
}

function valueText(x, y, text) {
  return svg("text", { x, y, "text-anchor": "middle", class: "week-value" }, text);
}

/**
 * Downloads the pet's GPX for the last 7 days. The API needs the bearer token, which a plain
 * link cannot carry: the file is fetched with it and saved from a blob URL.
 */
export async function downloadGpx(petId, name, { authedBlob }) {
  const { from, to } = lastSevenDays();
  const blob = await authedBlob(`/v1/pets/${petId}/track.gpx?from=${from}&to=${to}`);
  const url = URL.createObjectURL(blob);
  const safeName = name.replace(/[^\p{L}\p{N} _-]/gu, "").trim() || "pet";
  const link = el("a", { href: url, download: `${safeName}-last-7-days.gpx`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has taken the blob once the click is handled.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
