// The owner's page at /: sign in, the pets with their live state on one map, a pet's track
// for a chosen day with its geofences, its last 7 days (week.js), alerts as they arrive, and
// the pet's share links.
//
// The session (tokens) lives in sessionStorage: it ends with the tab.

import { ApiError, alertItem, api, apiBlob, backoff, createMap, el, formatTime, loadConfig, textContent, vitalsText, wsUrl } from "./common.js";
import { downloadGpx, loadWeek } from "./week.js";
import { loadMoods } from "./moods.js";

const SESSION_KEY = "pettysync.session";
/** Alerts kept on the page; older ones are in each pet's alert history. */
const MAX_ALERTS = 50;
const DAY_MS = 24 * 60 * 60 * 1000;
const FENCE_STYLE = {
  safe: { color: "#16a34a", weight: 2, fillOpacity: 0.1 },
  keep_out: { color: "#dc2626", weight: 2, fillOpacity: 0.15 },
};

const page = {
  config: { tile_url: "" },
  session: null,
  pets: new Map(), // pet id → { pet, state, item, marker }
  selected: null,
  map: null,
  overlay: null, // the selected pet's track and fences
  socket: null,
  retry: backoff(),
};

const $ = (id) => document.getElementById(id);

main();

async function main() {
  page.config = await loadConfig();
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("track-day").addEventListener("change", () => page.selected && loadTrack(page.selected));
  $("share-form").addEventListener("submit", createShareLink);
  $("gpx-download").addEventListener("click", saveGpx);
  page.session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  if (page.session) start();
}

// ---------------------------------------------------------------- session

async function signIn(event) {
  event.preventDefault();
  const error = $("sign-in-error");
  error.hidden = true;
  try {
    const body = { email: $("email").value, password: $("password").value };
    keepSession(await api("/v1/auth/login", { method: "POST", body }));
    start();
  } catch (e) {
    error.textContent = e instanceof ApiError && e.status === 401 ? "Wrong email or password." : e.message;
    error.hidden = false;
  }
}

function keepSession(session) {
  page.session = session;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

async function signOut() {
  const session = page.session;
  page.session = null;
  sessionStorage.removeItem(SESSION_KEY);
  if (page.socket) page.socket.close();
  if (session) {
    await api("/v1/auth/logout", { method: "POST", body: { refresh_token: session.refresh_token } }).catch(() => {});
  }
  location.assign("/");
}

/** An API call as the signed-in user. */
function authed(path, options = {}) {
  return withToken((token) => api(path, { ...options, token }));
}

/** A file from the API as the signed-in user, as a Blob. */
function authedBlob(path) {
  return withToken((token) => apiBlob(path, { token }));
}

/** Calls `call` with the access token; an expired one is refreshed once. */
async function withToken(call) {
  try {
    return await call(page.session.access_token);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    await refreshSession();
    return call(page.session.access_token);
  }
}

async function refreshSession() {
  try {
    const body = { refresh_token: page.session.refresh_token };
    keepSession(await api("/v1/auth/refresh", { method: "POST", body }));
  } catch (error) {
    await signOut();
    throw error;
  }
}

// ---------------------------------------------------------------- pets and map

async function start() {
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = page.session.user.display_name;
  page.map = createMap($("map"), page.config.tile_url);
  page.overlay = L.featureGroup().addTo(page.map);
  try {
    await loadPets();
  } catch (error) {
    $("pets").replaceChildren(el("li", { class: "error" }, `Could not load your pets: ${error.message}`));
    return;
  }
  connectLive();
}

async function loadPets() {
  let cursor = null;
  do {
    const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const pagePets = await authed(`/v1/pets?limit=100${query}`);
    pagePets.items.forEach(addPet);
    cursor = pagePets.next_cursor;
  } while (cursor);
  if (!page.pets.size) $("pets").append(el("li", { class: "muted" }, "No pets yet: add one in the app."));
}

function addPet(pet) {
  const item = el("li", { dataset: { petId: pet.id }, tabindex: "0", onclick: () => selectPet(pet.id) });
  item.addEventListener("keydown", (event) => event.key === "Enter" && selectPet(pet.id));
  $("pets").append(item);
  page.pets.set(pet.id, { pet, state: null, item, marker: null });
  renderPet(pet.id);
}

function renderPet(petId) {
  const entry = page.pets.get(petId);
  entry.item.replaceChildren(
    el("span", { class: "pet-name" }, entry.pet.name),
    " ",
    el("span", { class: "muted" }, entry.pet.species),
    el("div", { class: "summary" }, summary(entry.state)),
  );
}

function summary(state) {
  if (!state) return "waiting for the collar…";
  const parts = [state.online ? (state.live ? "live" : "online") : "offline"];
  if (state.battery) parts.push(`battery ${state.battery.pct} %`);
  if (state.vitals) parts.push(vitalsText(state.vitals));
  if (state.activity && state.activity.act) parts.push(state.activity.act);
  parts.push(`seen ${formatTime(state.last_seen)}`);
  return parts.join(" · ");
}

function updateState(petId, state) {
  const entry = page.pets.get(petId);
  if (!entry) return;
  entry.state = state;
  renderPet(petId);
  if (!state.location) return;
  const latlng = L.latLng(state.location.lat, state.location.lon);
  entry.item.dataset.lat = String(state.location.lat);
  entry.item.dataset.lon = String(state.location.lon);
  if (entry.marker) {
    entry.marker.setLatLng(latlng);
    return;
  }
  entry.marker = L.marker(latlng, { title: entry.pet.name }).addTo(page.map);
  // Leaflet shows a string tooltip as HTML: user text goes in as an element's text.
  entry.marker.bindTooltip(textContent(entry.pet.name), { permanent: true, direction: "top", offset: [0, -36] });
  entry.marker.on("click", () => selectPet(petId));
  fitAllPets();
}

function fitAllPets() {
  const points = [...page.pets.values()].filter((e) => e.marker).map((e) => e.marker.getLatLng());
  if (points.length) page.map.fitBounds(L.latLngBounds(points), { maxZoom: 16, padding: [40, 40] });
}

// ---------------------------------------------------------------- live protocol

async function connectLive() {
  if (!page.session) return;
  let ticket;
  try {
    ticket = (await authed("/v1/ws/tickets", { method: "POST" })).ticket;
  } catch {
    page.retry.schedule(connectLive);
    return;
  }
  const socket = new WebSocket(wsUrl(`/v1/ws?ticket=${encodeURIComponent(ticket)}`));
  page.socket = socket;
  socket.onopen = () => {
    page.retry.reset();
    document.body.dataset.socket = "open";
    socket.send(JSON.stringify({ type: "subscribe", pet_ids: [...page.pets.keys()] }));
  };
  socket.onmessage = (event) => onFrame(JSON.parse(event.data));
  socket.onclose = () => {
    document.body.dataset.socket = "closed";
    if (page.session) page.retry.schedule(connectLive);
  };
}

function onFrame(frame) {
  switch (frame.type) {
    case "state":
      updateState(frame.pet_id, frame.state);
      break;
    case "alert":
      addAlert(frame.alert);
      break;
    case "mood":
      if (frame.pet_id === page.selected) showMoods(frame.pet_id);
      break;
    case "error":
      console.warn("live protocol error", frame.code, frame.message);
      break;
    default:
      break;
  }
}

function addAlert(alert) {
  const entry = page.pets.get(alert.pet_id);
  const list = $("alerts");
  list.prepend(alertItem(alert, entry && entry.pet.name));
  while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
}

// ---------------------------------------------------------------- one pet

function selectPet(petId) {
  page.selected = petId;
  for (const entry of page.pets.values()) entry.item.classList.toggle("selected", entry.pet.id === petId);
  $("pet-detail").hidden = false;
  $("detail-name").textContent = page.pets.get(petId).pet.name;
  $("share-result").hidden = true;
  if (!$("track-day").value) $("track-day").value = today();
  $("gpx-error").hidden = true;
  loadTrack(petId);
  loadWeek($("week-chart"), petId, { authed, isCurrent: () => page.selected === petId });
  showMoods(petId);
  loadShareLinks(petId);
}

/** The pet's moods, again on each `mood` frame for it. */
function showMoods(petId) {
  loadMoods($("moods"), petId, { authed, isCurrent: () => page.selected === petId });
}

async function saveGpx(event) {
  event.preventDefault();
  const petId = page.selected;
  $("gpx-error").hidden = true;
  try {
    await downloadGpx(petId, page.pets.get(petId).pet.name, { authedBlob });
  } catch (error) {
    $("gpx-error").textContent = `Could not download the track: ${error.message}`;
    $("gpx-error").hidden = false;
  }
}

/** Today's date in local time, as an `input type=date` value. */
function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** Draws the pet's fences and its track for the chosen day (local midnight to midnight). */
async function loadTrack(petId) {
  const from = new Date(`${$("track-day").value}T00:00:00`).getTime();
  const to = from + DAY_MS - 1;
  $("track-info").textContent = "Loading…";
  try {
    const [track, fences] = await Promise.all([
      authed(`/v1/pets/${petId}/track?from=${from}&to=${to}&max_points=2000`),
      authed(`/v1/pets/${petId}/geofences?limit=100`),
    ]);
    if (page.selected !== petId) return;
    drawOverlay(track.points, fences.items);
    $("track-info").textContent = `${track.points.length} positions, ${fences.items.length} geofences`;
  } catch (error) {
    $("track-info").textContent = `Could not load the track: ${error.message}`;
  }
}

function drawOverlay(points, fences) {
  page.overlay.clearLayers();
  fences.forEach((fence) => fenceLayer(fence).addTo(page.overlay));
  if (points.length) {
    const line = points.map((p) => [p.lat, p.lon]);
    L.polyline(line, { color: "#7c3aed", weight: 3 }).addTo(page.overlay);
    L.circleMarker(line[line.length - 1], { radius: 5, color: "#7c3aed" }).addTo(page.overlay);
  }
  const bounds = page.overlay.getBounds();
  const marker = page.pets.get(page.selected).marker;
  if (marker) bounds.extend(marker.getLatLng());
  if (bounds.isValid()) page.map.fitBounds(bounds, { maxZoom: 17, padding: [30, 30] });
}

/** A Leaflet layer for a fence: a GeoJSON Polygon ([lon, lat]) or a circle. */
function fenceLayer(fence) {
  const style = FENCE_STYLE[fence.kind] || FENCE_STYLE.safe;
  const geometry = fence.geometry;
  const layer =
    geometry.type === "Circle"
      ? L.circle([geometry.center[1], geometry.center[0]], { ...style, radius: geometry.radius_m })
      : L.polygon(geometry.coordinates.map((ring) => ring.map(([lon, lat]) => [lat, lon])), style);
  return layer.bindTooltip(textContent(`${fence.name} (${fence.kind === "keep_out" ? "keep out" : "safe"})`));
}

// ---------------------------------------------------------------- share links

async function createShareLink(event) {
  event.preventDefault();
  const error = $("share-error");
  error.hidden = true;
  const scopes = [...$("share-scopes").querySelectorAll("input:checked")].map((box) => box.value);
  const body = {
    scopes,
    precision: $("share-precision").value,
    expires_in_s: Number($("share-expiry").value),
  };
  const label = $("share-label").value.trim();
  if (label) body.label = label;
  try {
    const link = await authed(`/v1/pets/${page.selected}/share-links`, { method: "POST", body });
    $("share-url").textContent = link.url;
    $("share-url").href = link.url;
    $("share-result").hidden = false;
    loadShareLinks(page.selected);
  } catch (e) {
    error.textContent = `Could not create the link: ${e.message}`;
    error.hidden = false;
  }
}

async function loadShareLinks(petId) {
  const list = $("share-list");
  try {
    const answer = await authed(`/v1/pets/${petId}/share-links?limit=100`);
    if (page.selected !== petId) return;
    const links = Array.isArray(answer) ? answer : answer.items;
    list.replaceChildren(...links.map(shareLinkItem));
  } catch (error) {
    list.replaceChildren(el("li", { class: "error" }, `Could not load share links: ${error.message}`));
  }
}

function shareLinkItem(link) {
  const ended = link.active === false || Boolean(link.revoked_at) || link.expires_at <= Date.now();
  const text = `${link.label || "link"} · ${(link.scopes || []).join(", ")} · ${link.precision || ""}`;
  const until = ended ? "ended" : `until ${formatTime(link.expires_at)}`;
  const revoke = ended ? null : el("button", { type: "button", class: "revoke", onclick: () => revokeLink(link.id) }, "Revoke");
  return el("li", { dataset: { linkId: link.id }, class: ended ? "ended" : "" }, `${text} · ${until} `, revoke);
}

async function revokeLink(linkId) {
  try {
    await authed(`/v1/share-links/${linkId}`, { method: "DELETE" });
  } catch (error) {
    $("share-error").textContent = `Could not revoke the link: ${error.message}`;
    $("share-error").hidden = false;
  }
  loadShareLinks(page.selected);
}
