// Helpers shared by the owner's page (app.js) and the sitter's page (share.js).
// Leaflet is loaded before the modules as a classic script and is the global `L`.

/** An HTTP error from the API, with its problem document when there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls the API; resolves to the JSON body (or null for 204), rejects with ApiError. */
export async function api(path, { method = "GET", token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await response.text();
  const json = text ? safeJson(text) : null;
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** Calls the API for a file; resolves to its Blob, rejects with ApiError. */
export async function apiBlob(path, { token } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path, { headers, cache: "no-store" });
  if (!response.ok) throw new ApiError(response.status, safeJson(await response.text()));
  return response.blob();
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Creates an element: `el("li", {class: "x", dataset: {petId}}, "text", child)`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/**
 * A span holding `text` as text, for Leaflet tooltips and popups: given a string, Leaflet
 * sets it as HTML, so a name like `<img src=x onerror=…>` would become markup.
 */
export function textContent(text) {
  const node = document.createElement("span");
  node.textContent = text;
  return node;
}

/** The server's settings for the pages (`{tile_url}`). */
export async function loadConfig() {
  try {
    return await api("/web-config.json");
  } catch {
    return { tile_url: "" };
  }
}

/**
 * A Leaflet map in `container`. The container has a plain background, so positions,
 * trails and fences show even when no tile server is set or none is reachable.
 */
export function createMap(container, tileUrl) {
  const map = L.map(container, { worldCopyJump: true }).setView([20, 0], 2);
  if (tileUrl) {
    L.tileLayer(tileUrl, {
      maxZoom: 19,
      attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    }).addTo(map);
  }
  return map;
}

/** `ws://` or `wss://` URL of a path on this server. */
export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/** A local date and time for epoch milliseconds. */
export function formatTime(ms) {
  if (ms === undefined || ms === null) return "never";
  return new Date(ms).toLocaleString();
}

const ALERT_TEXT = {
  geofence_exit: "left a safe zone",
  geofence_enter: "entered a zone",
  heart_rate_high: "heart rate high",
  heart_rate_low: "heart rate low",
  battery_low: "collar battery low",
  collar_offline: "collar offline",
  mood_distress: "seems distressed",
};

/** A short human description of an alert kind. */
export function alertText(kind) {
  return ALERT_TEXT[kind] || kind.replaceAll("_", " ");
}

/** An `li` for an alert, newest at the top of its list. */
export function alertItem(alert, petName) {
  const who = petName ? `${petName}: ` : "";
  return el(
    "li",
    { class: `alert alert-${alert.kind}`, dataset: { alertId: alert.id, kind: alert.kind } },
    el("time", { datetime: new Date(alert.at).toISOString() }, formatTime(alert.at)),
    " ",
    `${who}${alertText(alert.kind)}`,
  );
}

/** Vitals as text: "96 bpm · 38.6 °C". */
export function vitalsText(vitals) {
  const parts = [];
  if (vitals.hr !== undefined && vitals.hr !== null) parts.push(`${vitals.hr} bpm`);
  if (vitals.temp !== undefined && vitals.temp !== null) parts.push(`${vitals.temp.toFixed(1)} °C`);
  return parts.join(" · ") || "no reading";
}

/** Calls `fn` after a delay that doubles from 1 s up to 30 s; `reset()` starts over. */
export function backoff() {
  let delay = 1000;
  return {
    schedule(fn) {
      const wait = delay;
      delay = Math.min(delay * 2, 30000);
      return setTimeout(fn, wait);
    },
    reset() {
      delay = 1000;
    },
  };
}
