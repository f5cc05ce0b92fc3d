// The agent desk: the live conversation list, the conversation with each
// message's decision, the handoff context, suggestions and the reply box.
import { api, boot, h, fill, t, follow, since, clock, announce, marked } from "./common.js";
import { coachingView } from "./numbers.js";

const me = boot.agent; // null for a tenant admin: reads, notes, transfers; no claims or replies
const state = {
  tab: me ? "queues" : "waiting",
  list: [],
  agent: null,
  openId: null,
  view: null, // GET /v1/conversations/{id}
  handoff: null,
  suggestion: null, // the suggestion the reply box started from
  settings: null,
  agents: [],
};

const main = document.getElementById("main");
const layout = {
  list: h("section", { class: "pane list", "aria-labelledby": "list-title" }),
  conversation: h("section", { class: "pane conversation", "aria-labelledby": "conversation-title" }),
  side: h("aside", { class: "pane side", "aria-label": t("desk.context") }),
};
fill(main, h("div", { class: "desk" }, layout.list, layout.conversation, layout.side));
main.classList.add("desk-main");

const TABS = me
  ? [
      ["queues", "desk.tab.queues"],
      ["mine", "desk.tab.mine"],
      ["all", "desk.tab.all"],
    ]
  : [
      ["waiting", "desk.tab.waiting"],
      ["all", "desk.tab.all"],
    ];

function listQuery() {
  switch (state.tab) {
    case "queues":
    case "waiting":
      return "status=waiting,reopened&order=longest_waiting&limit=200";
    case "mine":
      return "agent=me&status=assigned&limit=200";
    default:
      return "status=bot,waiting,assigned,reopened&limit=200";
  }
}

/** The queues an agent serves: the tenant's queues named by their skills. */
function myQueues() {
  const skills = new Set(state.agent?.skills || []);
  const queues = state.settings?.queues || [];
  return new Set(queues.length ? queues.filter((q) => skills.has(q)) : skills);
}

let listGeneration = 0;
async function loadList() {
  const generation = ++listGeneration;
  const tab = state.tab;
  const data = await api(`conversations?${listQuery()}`);
  // A slower answer for a tab the agent has left is dropped.
  if (generation !== listGeneration || tab !== state.tab) return;
  let rows = data.conversations;
  if (state.tab === "queues") {
    const mine = myQueues();
    rows = rows.filter((c) => !c.queue || mine.has(c.queue));
  }
  state.list = rows;
  renderList();
}

/** Which control had focus, so a redraw can give it back. */
function focusKey() {
  const el = document.activeElement;
  if (!el || !layout.list.contains(el)) return null;
  return el.id ? `#${el.id}` : el.dataset.conversation ? `[data-conversation="${CSS.escape(el.dataset.conversation)}"]` : null;
}

function renderList() {
  const focused = focusKey();
  const tabs = h(
    "div",
    { class: "tabs", role: "tablist", "aria-label": t("desk.lists") },
    TABS.map(([id, key]) =>
      h(
        "button",
        {
          role: "tab",
          id: `tab-${id}`,
          "aria-selected": state.tab === id ? "true" : "false",
          "aria-controls": "conversation-list",
          tabindex: state.tab === id ? "0" : "-1",
          onclick: () => {
            state.tab = id;
            loadList().catch(showError);
          },
          onkeydown: (event) => {
            const i = TABS.findIndex(([x]) => x === id);
            const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
            if (!step) return;
            const next = TABS[(i + step + TABS.length) % TABS.length][0];
            state.tab = next;
            loadList()
              .then(() => document.getElementById(`tab-${next}`)?.focus())
              .catch(showError);
          },
        },
        t(key),
      ),
    ),
  );
  const now = Date.now();
  const items = state.list.map((c) =>
    h(
      "li",
      {},
      h(
        "button",
        {
          class: `row-button${c.id === state.openId ? " current" : ""}`,
          "aria-current": c.id === state.openId ? "true" : false,
          dataset: { conversation: c.id },
          onclick: () => open(c.id),
        },
        h(
          "span",
          { class: "line1" },
          h("strong", {}, c.customer_id),
          c.tier && c.tier !== "standard" ? h("span", { class: `badge tier-${c.tier}` }, t(`tier.${c.tier}`)) : null,
          h("span", { class: `badge status-${c.status}` }, t(`status.${c.status}`)),
        ),
        h("span", { class: "preview" }, c.preview || ""),
        h(
          "span",
          { class: "line3" },
          c.queue ? h("span", {}, t("desk.queue_name", { queue: c.queue })) : null,
          c.priority ? h("span", { class: c.priority >= 7 ? "hot" : "" }, t("desk.priority", { n: c.priority })) : null,
          c.waiting_since_ms
            ? h("span", { class: "waiting" }, t("desk.waiting_for", { time: since(c.waiting_since_ms, now) }))
            : h("span", {}, since(c.updated_at_ms, now)),
          c.intent ? h("span", { class: "intent" }, c.intent) : null,
        ),
      ),
    ),
  );
  fill(
    layout.list,
    h("h2", { id: "list-title", class: "visually-hidden" }, t("desk.conversations")),
    tabs,
    h(
      "div",
      { id: "conversation-list", role: "tabpanel", "aria-labelledby": `tab-${state.tab}` },
      items.length ? h("ul", { class: "rows" }, items) : h("p", { class: "empty" }, t("desk.empty")),
    ),
  );
  if (focused) layout.list.querySelector(focused)?.focus();
}

async function open(id) {
  state.openId = id;
  state.suggestion = null;
  renderList();
  await loadConversation();
  document.getElementById("conversation-title")?.focus();
}

async function loadConversation() {
  const id = state.openId;
  if (!id) return;
  const [view, handoff] = await Promise.all([
    api(`conversations/${encodeURIComponent(id)}?limit=200`),
    api(`conversations/${encodeURIComponent(id)}/handoff`),
  ]);
  if (state.openId !== id) return;
  // Past one page the view starts at the oldest entries; the handoff's
  // history is the newest ones.
  if (view.next) view.messages = handoff.history;
  state.view = view;
  state.handoff = handoff;
  renderConversation();
  renderSide();
}

function findingSpans(message) {
  const d = message.decision || {};
  const spans = [];
  for (const f of d.findings || []) {
    spans.push({ start: f.utf16_start, end: f.utf16_end, kind: `finding ${f.kind}`, title: `${f.kind}: ${f.detail}` });
  }
  for (const e of d.entities || []) {
    spans.push({ start: e.utf16_start, end: e.utf16_end, kind: "entity", title: `${e.kind}: ${e.value}` });
  }
  return spans;
}

/** A reason's name in the interface's language; its code when there is none. */
function reasonName(code) {
  const key = `reason.${code}`;
  return t(key) === key ? code : t(key);
}

function decisionLine(message) {
  const d = message.decision || {};
  const chips = [];
  if (d.intent?.name) {
    chips.push(
      h(
        "span",
        { class: "chip intent", title: t("desk.intent") },
        `${d.intent.name} ${Math.round((d.intent.confidence || 0) * 100)}%`,
      ),
    );
  }
  for (const reason of d.escalation?.reasons || []) {
    chips.push(h("span", { class: "chip reason", title: reason.detail }, reasonName(reason.code)));
  }
  for (const f of d.findings || []) {
    chips.push(h("span", { class: `chip finding sev-${f.severity}`, title: f.detail }, `${f.kind}: ${f.code}`));
  }
  if (d.route?.to) {
    const target = d.route.to === "bot" ? t("desk.route.bot") : d.route.queue || d.route.agent || d.route.to;
    chips.push(h("span", { class: "chip route", title: d.route.reason }, `→ ${target}`));
  }
  const details = (d.findings || []).filter((f) => f.kind === "drug-interaction");
  return h(
    "div",
    { class: "decision", "aria-label": t("desk.decision") },
    chips,
    details.map((f) => h("p", { class: `finding-detail sev-${f.severity}`, role: "note" }, f.detail)),
  );
}

function entryView(entry) {
  const author = entry.author;
  if (author === "customer") {
    return h(
      "li",
      { class: "entry customer", dataset: { id: entry.id } },
      h("div", { class: "who" }, t("author.customer"), h("time", {}, clock(entry.received_at_ms))),
      h("p", { class: "text" }, marked(entry.text, findingSpans(entry))),
      decisionLine(entry),
      correctionControl(entry),
    );
  }
  const who =
    author === "agent"
      ? entry.agent_id
      : author === "bot"
        ? t("author.bot")
        : t("author.system");
  return h(
    "li",
    { class: `entry ${author}${entry.private ? " note" : ""}`, dataset: { id: entry.id } },
    h(
      "div",
      { class: "who" },
      who,
      entry.private ? h("span", { class: "badge note" }, t("desk.note")) : null,
      h("time", {}, clock(entry.at_ms)),
    ),
    h("p", { class: "text" }, entry.text),
  );
}

/**
 * "The intent is wrong": the agent names the right one (what the AI's
 * accuracy as agents judge it counts). The classifier's own intent undoes it.
 */
function correctionControl(entry) {
  const d = entry.decision || {};
  const known = [...new Set([d.intent?.name, ...(d.alternatives || []).map((a) => a.name)].filter(Boolean))];
  const listId = `intents-${entry.id}`;
  const input = h("input", { id: `correct-${entry.id}`, list: listId, class: "narrow wide", autocomplete: "off", value: entry.correction?.intent || "" });
  const form = h(
    "form",
    {
      class: "row correction-form",
      hidden: true,
      onsubmit: async (event) => {
        event.preventDefault();
        const intent = input.value.trim();
        if (!intent) return input.focus();
        try {
          await api(`conversations/${encodeURIComponent(state.openId)}/messages/${encodeURIComponent(entry.id)}/intent`, { method: "PUT", body: { intent } });
          announce(t("desk.corrected", { intent }));
          await loadConversation();
        } catch (error) {
          showError(error);
        }
      },
    },
    h("label", { for: `correct-${entry.id}`, class: "visually-hidden" }, t("desk.right_intent")),
    input,
    h("datalist", { id: listId }, known.map((name) => h("option", { value: name }))),
    h("button", { type: "submit", class: "small" }, t("desk.save_intent")),
  );
  return h(
    "div",
    { class: "correction" },
    entry.correction
      ? h("span", { class: "chip corrected", dataset: { corrected: entry.correction.intent } }, t("desk.corrected_chip", { intent: entry.correction.intent, by: entry.correction.by }))
      : null,
    h(
      "button",
      {
        class: "link small",
        "aria-expanded": "false",
        dataset: { action: "correct" },
        onclick: (event) => {
          form.hidden = !form.hidden;
          event.currentTarget.setAttribute("aria-expanded", String(!form.hidden));
          if (!form.hidden) input.focus();
        },
      },
      t("desk.wrong_intent"),
    ),
    form,
  );
}

function canAct(c) {
  return me && c.assigned_agent === me && c.status === "assigned";
}

function renderConversation() {
  const { conversation: c, messages } = state.view;
  // A redraw (a new message arrived) keeps what the agent is typing, where
  // the cursor is, and the history's scroll unless it was at the bottom.
  const oldText = document.getElementById("reply-text");
  const draft = oldText && layout.conversation.dataset.id === c.id ? oldText.value : "";
  const hadFocus = oldText && document.activeElement === oldText;
  const selection = oldText ? [oldText.selectionStart, oldText.selectionEnd] : null;
  const oldHistory = layout.conversation.querySelector("ol.history");
  const atBottom = !oldHistory || oldHistory.scrollHeight - oldHistory.scrollTop - oldHistory.clientHeight < 40;
  const oldScroll = oldHistory?.scrollTop ?? 0;
  layout.conversation.dataset.id = c.id;
  const actions = [];
  if (me && c.assigned_agent !== me && ["bot", "waiting", "reopened"].includes(c.status)) {
    actions.push(h("button", { class: "primary", id: "claim", onclick: () => act("claim") }, t("desk.claim")));
  }
  if (canAct(c)) {
    actions.push(h("button", { id: "resolve", onclick: () => act("resolve") }, t("desk.resolve")));
  }
  if (!["resolved", "closed"].includes(c.status)) {
    actions.push(transferControl(c));
  }
  const history = h("ol", { class: "history", "aria-label": t("desk.history") }, messages.map(entryView));
  const box = replyBox(c);
  fill(
    layout.conversation,
    h(
      "div",
      { class: "conversation-head" },
      h(
        "h2",
        { id: "conversation-title", tabindex: "-1" },
        c.customer.id,
        " ",
        h("span", { class: `badge status-${c.status}` }, t(`status.${c.status}`)),
      ),
      h(
        "p",
        { class: "meta" },
        c.queue ? t("desk.queue_name", { queue: c.queue }) : "",
        c.assigned_agent ? ` · ${t("desk.with_agent", { agent: c.assigned_agent })}` : "",
      ),
      h("div", { class: "row actions" }, actions),
    ),
    history,
    box,
  );
  if (atBottom) history.scrollTop = history.scrollHeight;
  else history.scrollTop = oldScroll;
  const text = document.getElementById("reply-text");
  if (draft) text.value = draft;
  else state.suggestion = null;
  if (hadFocus) {
    text.focus();
    if (selection) text.setSelectionRange(selection[0], selection[1]);
  }
}

function transferControl(c) {
  const queues = state.settings?.queues || [];
  const select = h(
    "select",
    { id: "transfer-to", "aria-label": t("desk.transfer_to") },
    h("option", { value: "" }, t("desk.transfer_to")),
    h("optgroup", { label: t("desk.queues") }, queues.filter((q) => q !== c.queue).map((q) => h("option", { value: `queue:${q}` }, q))),
    h(
      "optgroup",
      { label: t("desk.agents") },
      state.agents.filter((a) => a.id !== c.assigned_agent).map((a) => h("option", { value: `agent:${a.id}` }, `${a.name} (${t(`agent.${a.status}`)}, ${a.load}/${a.capacity})`)),
    ),
  );
  const button = h(
    "button",
    {
      id: "transfer",
      onclick: async () => {
        if (!select.value) {
          select.focus();
          return;
        }
        const at = select.value.indexOf(":");
        const [kind, id] = [select.value.slice(0, at), select.value.slice(at + 1)];
        const note = document.getElementById("reply-text")?.value.trim();
        await act("transfer", { to: { [kind]: id }, ...(note ? { note } : {}) });
      },
    },
    t("desk.transfer"),
  );
  return h("span", { class: "row" }, select, button);
}

function replyBox(c) {
  const agentHolds = canAct(c);
  const text = h("textarea", {
    id: "reply-text",
    rows: "4",
    "aria-describedby": "reply-help",
    oninput: () => {
      if (!text.value) state.suggestion = null;
    },
    onkeydown: (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        (agentHolds ? send : note)();
      }
    },
  });
  const send = async () => {
    const value = text.value.trim();
    if (!value) return text.focus();
    const body = { text: value };
    if (state.suggestion) body.suggestion_id = state.suggestion.id;
    text.value = "";
    state.suggestion = null;
    if (!(await act("replies", body))) {
      // Nothing is lost: the text (and its suggestion) go back in the box.
      const box = document.getElementById("reply-text");
      if (box) box.value = value;
      if (body.suggestion_id) state.suggestion = { id: body.suggestion_id };
    }
  };
  const note = async () => {
    const value = text.value.trim();
    if (!value) return text.focus();
    text.value = "";
    if (!(await act("notes", { text: value }))) {
      const box = document.getElementById("reply-text");
      if (box) box.value = value;
    }
  };
  return h(
    "form",
    { class: "reply", onsubmit: (event) => event.preventDefault(), "aria-label": t("desk.reply_box") },
    h("label", { for: "reply-text" }, agentHolds ? t("desk.reply_label") : t("desk.note_label")),
    text,
    h("p", { id: "reply-help", class: "help" }, agentHolds ? t("desk.reply_help") : t("desk.note_help")),
    h(
      "div",
      { class: "row" },
      agentHolds ? h("button", { type: "button", class: "primary", id: "send-reply", onclick: send }, t("desk.send")) : null,
      h("button", { type: "button", id: "add-note", onclick: note }, t("desk.add_note")),
    ),
  );
}

/** Do an action on the open conversation; whether it was done. */
async function act(action, body) {
  const id = state.openId;
  try {
    await api(`conversations/${encodeURIComponent(id)}/${action}`, { method: "POST", body: body ?? {} });
  } catch (error) {
    showError(error);
    return false;
  }
  announce(t(`desk.done.${action}`));
  await Promise.all([loadConversation(), loadList()]).catch(showError);
  return true;
}

/**
 * What to suggest now: the latest customer message's suggestions and, when
 * that message is not about the conversation's topic ("转人工", "thanks"),
 * those of the latest message that was. Compliance scripts first, then the
 * topic's scripts, then the latest message's, then articles.
 */
function suggestions() {
  const customer = (state.view?.messages || []).filter((m) => m.author === "customer");
  const latest = customer[customer.length - 1];
  if (!latest) return [];
  const topic = state.view.conversation.state?.intent?.name;
  let topical = null;
  if (topic && latest.decision?.intent?.name !== topic) {
    topical = [...customer].reverse().find((m) => m.decision?.intent?.name === topic) || null;
  }
  const rank = (s, fromTopic) => (s.kind === "warning" ? -1 : s.kind === "compliance" ? 0 : s.kind === "article" ? 3 : fromTopic ? 1 : 2);
  const ranked = [
    ...(latest.decision?.suggestions || []).map((s) => [rank(s, !topical), s]),
    ...(topical?.decision?.suggestions || []).filter((s) => s.kind !== "compliance").map((s) => [rank(s, true), s]),
  ];
  ranked.sort((a, b) => a[0] - b[0]);
  const seen = new Set();
  return ranked
    .map(([, s]) => s)
    .filter((s) => !seen.has(s.text) && seen.add(s.text));
}

/** The suggestions a key or a click may put in the reply box: warnings are read, not sent. */
function insertable() {
  return suggestions().filter((s) => s.kind !== "warning");
}

function insert(suggestion) {
  const text = document.getElementById("reply-text");
  if (!text || suggestion.kind === "warning") return;
  text.value = suggestion.text;
  state.suggestion = suggestion;
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
  announce(t("desk.inserted", { title: suggestion.title }));
}

async function dismiss(suggestion) {
  try {
    await api(`conversations/${encodeURIComponent(state.openId)}/suggestions/${encodeURIComponent(suggestion.id)}/dismiss`, {
      method: "POST",
      body: {},
    });
    announce(t("desk.dismissed"));
    document.querySelector(`[data-suggestion="${CSS.escape(suggestion.id)}"]`)?.remove();
  } catch (error) {
    showError(error);
  }
}

function renderSide() {
  const ho = state.handoff;
  const c = state.view.conversation;
  const list = suggestions();
  const flagged = (ho.findings || []).length > 0 || (ho.escalation_reasons || []).some((r) => r.code !== "asked-for-human");
  const suggestionPanel = h(
    "section",
    { class: "panel suggestions", "aria-labelledby": "suggestions-title" },
    h("h3", { id: "suggestions-title" }, t("desk.suggestions")),
    state.view.no_assist_today
      ? h("p", { class: "notice", id: "no-assist" }, t("desk.no_assist"))
      : list.length === 0
        ? h("p", { class: "empty" }, t("desk.no_suggestions"))
        : h(
            "ol",
            { class: "cards" },
            list.map((s) => {
              const i = insertable().indexOf(s);
              return h(
                "li",
                { class: `card suggestion kind-${s.kind}${flagged && s.kind === "compliance" ? " flagged" : ""}`, dataset: { suggestion: s.id } },
                h(
                  "div",
                  { class: "line1" },
                  h("span", { class: `badge kind-${s.kind}` }, t(`suggestion.${s.kind}`)),
                  h("strong", {}, s.title),
                  s.kind === "article" || s.article_id ? h("span", { class: "score", title: t("desk.score") }, s.score.toFixed(2)) : null,
                ),
                h("p", { class: "text" }, s.text),
                h(
                  "div",
                  { class: "row" },
                  canAct(c) && i >= 0
                    ? h(
                        "button",
                        { class: "primary small", onclick: () => insert(s), "aria-keyshortcuts": i < 9 ? `Alt+${i + 1}` : false },
                        i < 9 ? t("desk.insert_key", { n: i + 1 }) : t("desk.insert"),
                      )
                    : null,
                  h("button", { class: "small", onclick: () => dismiss(s) }, t("desk.dismiss")),
                ),
              );
            }),
          ),
  );
  const customer = ho.customer;
  const facts = ho.facts || [];
  const tickets = customer.open_tickets || [];
  const context = h(
    "section",
    { class: "panel context", "aria-labelledby": "context-title" },
    h("h3", { id: "context-title" }, t("desk.context")),
    ho.summary ? h("p", { class: "summary" }, ho.summary) : null,
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, t("desk.customer")),
      h("dd", {}, `${customer.id} · ${t(`tier.${customer.tier}`)}`, customer.tags.length ? ` · ${customer.tags.join(", ")}` : ""),
      facts.map((f) => [h("dt", {}, t(`fact.${f.kind}`) === `fact.${f.kind}` ? f.kind : t(`fact.${f.kind}`)), h("dd", { class: "fact", dataset: { kind: f.kind } }, f.value)]),
      (ho.escalation_reasons || []).length
        ? [h("dt", {}, t("desk.why")), h("dd", {}, ho.escalation_reasons.map((r) => h("span", { class: "chip reason", title: r.detail }, reasonName(r.code))))]
        : null,
      (ho.findings || []).length
        ? [h("dt", {}, t("desk.findings")), h("dd", {}, ho.findings.map((f) => h("p", { class: `finding-detail sev-${f.severity}` }, `${f.kind}: ${f.detail}`)))]
        : null,
    ),
    h("h4", {}, t("desk.open_tickets")),
    tickets.length
      ? h("ul", { class: "plain" }, tickets.map((k) => h("li", {}, `${k.id} · ${k.subject || k.title || ""} · ${k.status}`)))
      : h("p", { class: "empty" }, t("desk.none")),
    h("h4", {}, t("desk.earlier")),
    customer.earlier_conversations.length
      ? h(
          "ul",
          { class: "plain" },
          customer.earlier_conversations.slice(0, 5).map((e) => h("li", {}, h("button", { class: "link", onclick: () => open(e.id) }, `${e.intent || e.id} · ${t(`status.${e.status}`)} · ${since(e.updated_at_ms)}`))),
        )
      : h("p", { class: "empty" }, t("desk.none")),
  );
  fill(layout.side, suggestionPanel, context);
}

function renderStatus() {
  const nav = document.querySelector(".account");
  if (!me || !nav || !state.agent) return;
  let select = document.getElementById("my-status");
  if (!select) {
    select = h(
      "select",
      {
        id: "my-status",
        "aria-label": t("desk.my_status"),
        onchange: async () => {
          try {
            state.agent = await api("me/status", { method: "PUT", body: { status: select.value } });
            announce(t("desk.status_set", { status: t(`agent.${state.agent.status}`) }));
            renderStatus();
            await loadList();
          } catch (error) {
            showError(error);
          }
        },
      },
      ["online", "away", "offline"].map((s) => h("option", { value: s }, t(`agent.${s}`))),
    );
    nav.prepend(select);
  }
  select.value = state.agent.status;
  select.className = `status-select agent-${state.agent.status}`;
}

function showError(error) {
  announce(error.message || String(error), "error");
}

let listTimer = null;
let viewTimer = null;
function onEvent(kind, data) {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => loadList().catch(showError), 60);
  if (data.conversation_id && data.conversation_id === state.openId) {
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => loadConversation().catch(showError), 60);
  }
  if (kind === "agent.status" && me && data.agent === me) {
    api("me")
      .then((agent) => {
        state.agent = agent;
        renderStatus();
      })
      .catch(showError);
  }
}

document.addEventListener("keydown", (event) => {
  // By the key's place, not its character: Alt+1 types "¡" on a Mac.
  const digit = /^Digit([1-9])$/.exec(event.code || "")?.[1] || (/^[1-9]$/.test(event.key) ? event.key : null);
  if (event.altKey && digit) {
    const list = insertable();
    const chosen = list[Number(digit) - 1];
    if (chosen && state.view && canAct(state.view.conversation) && !state.view.no_assist_today) {
      event.preventDefault();
      insert(chosen);
    }
  }
});

/** Before a conversation is open: the agent's own numbers against the team's. */
async function showCoaching() {
  try {
    const coaching = await api("me/coaching?days=30");
    if (state.openId) return;
    fill(
      layout.side,
      h("section", { class: "panel", id: "my-coaching", "aria-labelledby": "coaching-title" }, h("h3", { id: "coaching-title" }, t("desk.my_numbers")), coachingView(coaching)),
    );
  } catch (error) {
    showError(error);
  }
}

async function start() {
  const [agent, monitor] = await Promise.all([me ? api("me") : null, api("queues")]);
  state.agent = agent;
  state.settings = { queues: monitor.queues.map((q) => q.name).filter(Boolean) };
  state.agents = monitor.agents;
  renderStatus();
  await loadList();
  fill(layout.conversation, h("h2", { id: "conversation-title", tabindex: "-1" }, t("desk.pick")));
  if (me) showCoaching();
  performance.mark("desk-ready");
  document.documentElement.dataset.ready = "true";
  follow("/v1/events", onEvent, {
    onState: (s, status) => {
      document.documentElement.dataset.stream = s;
      // (Re)connected: what happened before the stream began, read again.
      if (s === "live") onEvent("reconnected", { conversation_id: state.openId });
      if (s === "refused" && status === 401) location.assign("/sign-in");
    },
  });
}

start().catch(showError);
