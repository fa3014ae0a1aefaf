// The sitter's page at /s/{token}: one pet, live, as the share link's scopes allow.
//
// Test hooks: #pet-name, #map (with data-lat / data-lon of the marker and data-trail-points),
// #vitals, #battery, #mood, #alerts, #expired once the link is revoked, expired or unknown,
// and body[data-socket] ("open" or "closed").

import { ApiError, alertItem, api, backoff, createMap, el, formatTime, loadConfig, vitalsText, wsUrl } from "./common.js";

/** WebSocket close code of a revoked or expired link (live protocol). */
const CLOSE_REVOKED = 4403;
/** setTimeout cannot wait longer than this (about 24 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const token = decodeURIComponent(location.pathname.split("/")[2] || "");
const view = {
  map: null,
  marker: null,
  circle: null,
  trail: null,
  socket: null,
  expired: false,
  retry: backoff(),
  timers: [],
};

main();

async function main() {
  const [config, share] = await Promise.all([loadConfig(), loadShare()]);
  if (!share) return;
  render(share, config);
  showState(share.state);
  watchExpiry(share.expires_at);
  connect();
}

/** The link's pet and state; null (and the expired page) when the link is gone. */
async function loadShare() {
  try {
    return await api(`/v1/share/${encodeURIComponent(token)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) showExpired();
    else showError("The pet's page could not be loaded. Reload to try again.");
    return null;
  }
}

function render(share, config) {
  document.title = `${share.pet.name} – PettySync`;
  document.getElementById("pet-name").textContent = share.pet.name;
  view.map = createMap(document.getElementById("map"), config.tile_url);
  view.trail = L.polyline([], { color: "#2563eb", weight: 4, opacity: 0.7 }).addTo(view.map);
  const panels = document.getElementById("panels");
  panels.append(el("p", { class: "muted", id: "link-info" }, linkInfo(share)));
  if (share.scopes.includes("vitals")) panels.append(panel("vitals", "Vitals"));
  // Whichever scope carries the battery, it shows only when the state has it.
  panels.append(panel("battery", "Collar battery"));
  if (share.scopes.includes("mood")) panels.append(panel("mood", "Mood"));
  if (share.scopes.includes("alerts")) {
    panels.append(el("section", { class: "panel" }, el("h2", {}, "Alerts"), el("ul", { id: "alerts", class: "alerts" })));
  }
}

function linkInfo(share) {
  const approx = share.precision === "approximate" ? "Approximate position. " : "";
  return `${approx}This link works until ${formatTime(share.expires_at)}.`;
}

/** A panel whose value is filled in by `showState`; hidden until there is a value. */
function panel(id, title) {
  return el("section", { class: "panel", id, hidden: true }, el("h2", {}, title), el("p", { class: "value" }));
}

function showState(state) {
  if (!state || view.expired) return;
  if (state.location) showLocation(state.location);
  fill("vitals", state.vitals && vitalsText(state.vitals));
  fill("battery", state.battery && `${state.battery.pct} %`);
  fill("mood", state.mood && `${state.mood.mood} (${Math.round(state.mood.confidence * 100)} %)`);
  const online = state.online ? (state.live ? "live" : "online") : "offline";
  document.getElementById("status").textContent = `${online} · last seen ${formatTime(state.last_seen)}`;
}

/** Shows `text` in panel `id`, if the page has that panel. */
function fill(id, text) {
  const node = document.getElementById(id);
  if (!node || !text) return;
  node.querySelector(".value").textContent = text;
  node.hidden = false;
}

function showLocation(location) {
  const latlng = L.latLng(location.lat, location.lon);
  const first = !view.marker;
  if (first) {
    view.marker = L.marker(latlng).addTo(view.map);
    view.circle = L.circle(latlng, { radius: location.acc || 0, weight: 1, fillOpacity: 0.15 }).addTo(view.map);
    view.map.setView(latlng, 16);
  } else {
    view.marker.setLatLng(latlng);
    view.circle.setLatLng(latlng).setRadius(location.acc || 0);
    if (!view.map.getBounds().contains(latlng)) view.map.panTo(latlng);
  }
  const points = view.trail.getLatLngs();
  if (!points.length || !points[points.length - 1].equals(latlng)) view.trail.addLatLng(latlng);
  const mapNode = document.getElementById("map");
  mapNode.dataset.lat = String(location.lat);
  mapNode.dataset.lon = String(location.lon);
  mapNode.dataset.trailPoints = String(view.trail.getLatLngs().length);
}

function connect() {
  const socket = new WebSocket(wsUrl(`/v1/share/${encodeURIComponent(token)}/ws`));
  view.socket = socket;
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onopen = () => {
    view.retry.reset();
    document.body.dataset.socket = "open";
  };
  socket.onclose = (event) => {
    document.body.dataset.socket = "closed";
    onClose(event.code);
  };
}

function onFrame(frame) {
  switch (frame.type) {
    case "state":
      showState(frame.state);
      break;
    case "alert":
      addAlert(frame.alert);
      break;
    case "revoked":
      showExpired();
      break;
    default:
      break;
  }
}

function addAlert(alert) {
  const list = document.getElementById("alerts");
  if (list) list.prepend(alertItem(alert));
}

/** A revoked link ends the page; any other close reconnects, once the link is still good. */
function onClose(code) {
  if (view.expired) return;
  if (code === CLOSE_REVOKED) {
    showExpired();
    return;
  }
  view.retry.schedule(reconnect);
}

async function reconnect() {
  const share = await loadShare();
  if (!share || view.expired) return;
  showState(share.state);
  connect();
}

/** Checks the link again just after it expires (the server also says so on the socket). */
function watchExpiry(expiresAt) {
  const wait = Math.min(Math.max(expiresAt - Date.now() + 1000, 0), MAX_TIMER_MS);
  view.timers.push(setTimeout(loadShare, wait));
}

function showExpired() {
  if (view.expired) return;
  view.expired = true;
  view.timers.forEach(clearTimeout);
  if (view.socket) view.socket.close();
  const hadPage = Boolean(view.map);
  if (view.map) view.map.remove();
  document.title = "Link expired – PettySync";
  document.getElementById("status").textContent = "";
  if (!hadPage) document.getElementById("pet-name").textContent = "";
  document.getElementById("content").replaceChildren(
    el(
      "section",
      { id: "expired", class: "expired" },
      el("h2", {}, "This link has expired"),
      el("p", {}, "The owner has ended sharing, or the time they chose is over. Ask them for a new link."),
    ),
  );
}

function showError(message) {
  document.getElementById("content").prepend(el("p", { class: "error", role: "alert" }, message));
}
