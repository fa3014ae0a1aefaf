// The selected pet's moods on the owner's page: the latest one with its confidence, and the
// recent ones (GET /v1/pets/{id}/moods, last 24 h, newest first), each with a play button
// (its presigned `audio_url`) and one-tap correction buttons (PATCH /v1/moods/{id}).
//
// `#moods` says how far it got in `data-state`: loading, ready, empty, error. Each item is
// `li[data-mood-id]` with `data-mood` (the current label, the owner's once corrected) and
// `data-corrected`; its buttons are `button[data-correct="<mood>"]`.

import { ApiError, el } from "./common.js";

export const MOODS = ["calm", "happy", "anxious", "angry", "sad"];
const SHOWN = 10;
const DAY_MS = 24 * 60 * 60 * 1000;
const DISTRESSED = new Set(["anxious", "angry", "sad"]);

/** Loads and draws the moods of `petId` into `container` (`authed(path, options)` calls the API). */
export async function loadMoods(container, petId, { authed, isCurrent }) {
  container.dataset.state = "loading";
  const to = Date.now() + 60_000;
  let body;
  try {
    body = await authed(`/v1/pets/${petId}/moods?from=${to - DAY_MS}&to=${to}`);
  } catch (error) {
    if (!isCurrent()) return;
    container.dataset.state = "error";
    container.replaceChildren(el("p", { class: "error" }, `Could not load the moods: ${error.message}`));
    return;
  }
  if (!isCurrent()) return;
  const items = ((body && body.items) || []).slice(0, SHOWN);
  if (items.length === 0) {
    container.dataset.state = "empty";
    container.replaceChildren(el("p", { class: "muted" }, "No voice clips classified in the last day."));
    return;
  }
  const list = el("ul", { class: "mood-list" }, ...items.map((mood) => moodItem(mood, authed)));
  container.replaceChildren(latest(items[0]), list);
  container.dataset.state = "ready";
}

/** The newest mood in words, e.g. "Calm (74 %)". */
function latest(mood) {
  return el("p", { class: "mood-latest", dataset: { mood: mood.mood } },
    "Latest: ", el("strong", {}, label(mood.mood)), ` (${percent(mood.confidence)})`,
    mood.is_corrected ? " — corrected" : "");
}

function moodItem(mood, authed) {
  const item = el("li", { dataset: { moodId: mood.id, mood: mood.mood, corrected: String(mood.is_corrected) } });
  const audio = el("audio", { controls: true, preload: "none", src: mood.audio_url });
  const error = el("span", { class: "error", role: "alert", hidden: true });
  const buttons = MOODS.map((name) => {
    const button = el("button", { type: "button", class: "mood-button", dataset: { correct: name }, title: `It was ${name}` }, label(name));
    button.addEventListener("click", () => correct(item, mood, name, authed, error));
    return button;
  });
  render(item, mood);
  item.append(audio, el("span", { class: "mood-correct" }, "It was: ", ...buttons), error);
  return item;
}

/** The item's heading: time, mood, confidence, corrected mark. */
function render(item, mood) {
  item.dataset.mood = mood.mood;
  item.dataset.corrected = String(mood.is_corrected);
  item.classList.toggle("distressed", DISTRESSED.has(mood.mood));
  const head = el("span", { class: "mood-head" },
    `${new Date(mood.at).toLocaleTimeString()} `, el("strong", {}, label(mood.mood)),
    mood.is_corrected ? " (corrected)" : ` ${percent(mood.confidence)}`);
  const old = item.querySelector(".mood-head");
  if (old) old.replaceWith(head);
  else item.prepend(head);
  for (const button of item.querySelectorAll("button[data-correct]")) {
    button.setAttribute("aria-pressed", String(button.dataset.correct === mood.mood));
  }
}

async function correct(item, mood, name, authed, error) {
  error.hidden = true;
  try {
    const updated = await authed(`/v1/moods/${mood.id}`, { method: "PATCH", body: { mood: name } });
    Object.assign(mood, updated);
    render(item, mood);
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? failure.message : "Could not save the correction.";
    error.hidden = false;
  }
}

function label(name) {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function percent(confidence) {
  return `${Math.round(Number(confidence) * 100)} %`;
}
