// The customer chat: write, read bot and agent replies live, see when a
// person joins, rate the service. The visitor's token (from the server,
// signed) is kept in this browser so a returning customer finds their
// conversation; it opens that conversation and nothing else.
import { boot, h, fill, t, follow, clock, announce } from "./common.js";

const main = document.getElementById("main");
const tenant = main.dataset.tenant;
const base = `/chat/${encodeURIComponent(tenant)}/api`;
const storageKey = `switchyard.chat.${tenant}`;
const state = { token: null, entries: new Map(), status: null, surveyOpen: false, surveyScore: null };

// A log: screen readers read what is added, not the whole history again.
const log = h("ol", { class: "chat-log", role: "log", "aria-label": t("chat.messages") });
const banner = h("p", { class: "chat-banner", id: "chat-banner", role: "status" });
const input = h("textarea", {
  id: "chat-input",
  rows: "2",
  maxlength: "2700", // 8 KiB of UTF-8 even in Chinese (the server's limit is bytes)
  required: true,
  onkeydown: (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  },
});
const surveyBox = h("section", { class: "survey", id: "survey", hidden: true, "aria-labelledby": "survey-title" });
const form = h(
  "form",
  { class: "chat-form", onsubmit: (event) => (event.preventDefault(), send()) },
  h("label", { for: "chat-input", class: "visually-hidden" }, t("chat.write")),
  input,
  h("button", { type: "submit", class: "primary", id: "chat-send" }, t("chat.send")),
);
fill(
  main,
  h(
    "div",
    { class: "chat-window" },
    h("h1", { class: "chat-title" }, t("chat.title")),
    banner,
    log,
    surveyBox,
    form,
    h("p", { class: "help" }, t("chat.help")),
  ),
);
input.setAttribute("placeholder", t("chat.placeholder"));

async function call(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Visitor ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${base}/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    // The customer reads their own language, not the API's English.
    const key = { 401: "chat.error.session", 404: "chat.unavailable", 413: "chat.error.too_long", 422: "chat.error.invalid", 429: "chat.error.too_fast" }[response.status];
    const error = new Error(key ? t(key) : t("chat.error.other"));
    error.status = response.status;
    throw error;
  }
  return data;
}

async function visitorToken() {
  let token = null;
  try {
    token = localStorage.getItem(storageKey);
  } catch {
    token = null; // storage blocked (a strict embed): one conversation per page load
  }
  if (token) return token;
  const response = await fetch(`${base}/visitor`, { method: "POST" });
  if (!response.ok) throw new Error(t("chat.unavailable"));
  token = (await response.json()).token;
  try {
    localStorage.setItem(storageKey, token);
  } catch {
    /* kept for this page only */
  }
  return token;
}

function entryText(entry) {
  switch (entry.action) {
    case "claimed":
    case "assigned":
      return t("chat.joined", { name: entry.agent_name || t("chat.an_agent") });
    case "transferred":
      return t("chat.transferred");
    case "returned":
      return t("chat.returned");
    case "resolved":
      return t("chat.resolved");
    default:
      return entry.text;
  }
}

function bubble(entry) {
  const system = entry.author === "system" || Boolean(entry.action);
  const who =
    entry.author === "customer"
      ? t("chat.you")
      : system
        ? null
        : entry.author === "agent"
          ? entry.agent_name || t("chat.an_agent")
          : t("chat.assistant");
  return h(
    "li",
    { class: `bubble ${system ? "system" : entry.author}`, dataset: { id: entry.id, action: entry.action || "" } },
    who ? h("span", { class: "who" }, who) : null,
    h("p", { class: "text" }, entryText(entry)),
    h("time", {}, clock(entry.at_ms)),
  );
}

/** Bring the log in line with the entries: new ones are added, changed ones replaced, nothing else touched. */
function render() {
  const items = [...state.entries.values()].sort((a, b) => a.at_ms - b.at_ms || a.id.localeCompare(b.id));
  const wanted = new Set(items.map((e) => e.id));
  for (const li of [...log.children]) if (!wanted.has(li.dataset.id)) li.remove();
  let previous = null;
  for (const entry of items) {
    let li = log.querySelector(`li[data-id="${CSS.escape(entry.id)}"]`);
    const text = entryText(entry);
    if (li && li.querySelector(".text")?.textContent !== text) {
      const fresh = bubble(entry);
      li.replaceWith(fresh);
      li = fresh;
    } else if (!li) {
      li = bubble(entry);
    }
    const at = previous ? previous.nextSibling : log.firstChild;
    if (li !== at) log.insertBefore(li, at);
    previous = li;
  }
  log.lastElementChild?.scrollIntoView({ block: "end" });
  const agent = [...items].reverse().find((e) => e.author === "agent" || e.action === "claimed" || e.action === "assigned");
  if (state.status === "assigned" && agent) {
    banner.textContent = t("chat.with_person", { name: agent.agent_name || t("chat.an_agent") });
    banner.dataset.kind = "person";
  } else if (state.status === "waiting") {
    banner.textContent = t("chat.waiting");
    banner.dataset.kind = "waiting";
  } else {
    banner.textContent = "";
    banner.dataset.kind = "";
  }
  renderSurvey();
}

function renderSurvey() {
  if (state.surveyScore) {
    surveyBox.hidden = false;
    fill(surveyBox, h("p", { id: "survey-title", class: "thanks" }, t("chat.survey_thanks", { score: state.surveyScore })));
    return;
  }
  if (!state.surveyOpen) {
    surveyBox.hidden = true;
    return;
  }
  if (surveyBox.dataset.open === "true") return; // keep what the customer is typing
  surveyBox.dataset.open = "true";
  surveyBox.hidden = false;
  const comment = h("textarea", { id: "survey-comment", rows: "2", maxlength: "2000" });
  const choice = h(
    "fieldset",
    { class: "scores" },
    h("legend", { id: "survey-title" }, t("chat.survey_question")),
    [1, 2, 3, 4, 5].map((score) =>
      h(
        "label",
        { class: "score" },
        h("input", { type: "radio", name: "score", value: String(score), required: true }),
        h("span", {}, `${"★".repeat(score)}`),
        h("span", { class: "visually-hidden" }, t(`chat.score.${score}`)),
      ),
    ),
  );
  fill(
    surveyBox,
    h(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          const picked = surveyBox.querySelector('input[name="score"]:checked');
          if (!picked) return announce(t("chat.survey_pick"), "error");
          try {
            const rated = await call("survey", {
              method: "POST",
              body: { score: Number(picked.value), comment: comment.value.trim() || null },
            });
            state.surveyScore = rated.score;
            state.surveyOpen = false;
            renderSurvey();
          } catch (error) {
            announce(error.message, "error");
          }
        },
      },
      choice,
      h("label", { for: "survey-comment" }, t("chat.survey_comment")),
      comment,
      h("button", { type: "submit", class: "primary", id: "survey-send" }, t("chat.survey_send")),
    ),
  );
}

async function reload() {
  const view = await call("conversation");
  state.status = view.status;
  state.surveyOpen = view.survey_open;
  state.surveyScore = view.survey_score || null;
  for (const entry of view.entries) state.entries.set(entry.id, entry);
  render();
}

let reloadTimer = null;
function soon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => reload().catch((e) => announce(e.message, "error")), 50);
}

function onEvent(kind, data) {
  if (data.status) state.status = data.status;
  const entry = data.entry;
  if (entry) {
    state.entries.set(entry.id, entry);
    // A name the stream does not carry, or the survey: ask for the view.
    if (entry.agent_name === "" || entry.action === "survey") soon();
  }
  if (kind === "conversation.status") soon();
  render();
}

async function send() {
  const text = input.value.trim();
  if (!text) return input.focus();
  input.value = "";
  const pending = { id: `pending-${Date.now()}`, author: "customer", text, at_ms: Date.now() };
  state.entries.set(pending.id, pending);
  render();
  try {
    const sent = await call("messages", { method: "POST", body: { text } });
    state.entries.delete(pending.id);
    if (!state.entries.has(sent.message_id)) state.entries.set(sent.message_id, { ...pending, id: sent.message_id });
    render();
  } catch (error) {
    state.entries.delete(pending.id);
    input.value = text; // nothing is lost: the text is back in the box
    render();
    announce(error.message, "error");
  }
}

async function start() {
  state.token = await visitorToken();
  follow(`${base}/events`, onEvent, {
    headers: { Authorization: `Visitor ${state.token}` },
    onState: (s, status) => {
      document.documentElement.dataset.stream = s;
      if (s === "live") soon(); // what happened before (or while away)
      if (s === "refused" && status === 401) {
        try {
          localStorage.removeItem(storageKey);
        } catch {
          /* nothing stored */
        }
      }
    },
  });
  await reload();
  document.documentElement.dataset.ready = "true";
  input.focus();
}

start().catch((error) => {
  banner.textContent = error.message || t("chat.unavailable");
  banner.dataset.kind = "error";
});
void boot;
