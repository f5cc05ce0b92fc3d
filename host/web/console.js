// The console. An operator manages tenants' plugins: versions and lanes,
// push, shadow, canary, activate, rollback, the shadow diff, the audit log
// with breaker events, limits, the traffic plots and the numbers (KPIs,
// canary by outcome, weak spots, coaching: numbers.js). A tenant admin
// runs the team: the live queue monitor, agents and their keys, the
// knowledge base with mined drafts, and the same plots for their tenant.
import { api, boot, h, fill, t, follow, since, clock, announce, confirmDialog } from "./common.js";
import { lineChart, stackedBars } from "./plot.js";
import { numbersSection } from "./numbers.js";

const main = document.getElementById("main");
const operator = boot.role === "operator";
const SLOTS = ["inspect", "classify", "escalate", "route", "assist", "ticket", "pack"];
const state = { tenant: boot.tenant, section: null, tenants: [] };

const SECTIONS = operator
  ? [
      ["plugins", "console.plugins"],
      ["tenants", "console.tenants"],
      ["traffic", "console.traffic"],
      ["numbers", "console.numbers"],
      ["audit", "console.audit"],
      ["limits", "console.limits"],
    ]
  : [
      ["monitor", "console.monitor"],
      ["traffic", "console.traffic"],
      ["numbers", "console.numbers"],
      ["agents", "console.agents"],
      ["knowledge", "console.knowledge"],
    ];

const nav = h("nav", { class: "sections", "aria-label": t("console.sections") });
const body = h("div", { class: "section-body", id: "section" });
const tenantPicker = h("div", { class: "tenant-picker" });
fill(main, h("div", { class: "console" }, h("div", { class: "console-head" }, tenantPicker, nav), body));

let stopStream = null;

function showError(error) {
  announce(error.message || String(error), "error");
}

function renderNav() {
  fill(
    nav,
    h(
      "ul",
      {},
      SECTIONS.map(([id, key]) =>
        h(
          "li",
          {},
          h(
            "a",
            {
              href: `#${id}`,
              id: `nav-${id}`,
              "aria-current": state.section === id ? "page" : false,
              onclick: (event) => {
                event.preventDefault();
                show(id);
              },
            },
            t(key),
          ),
        ),
      ),
    ),
  );
}

let showGeneration = 0;
/** Draw a section, unless the user has gone to another one meanwhile. */
function paint(section, ...children) {
  if (state.section === section) fill(body, ...children);
}

async function show(section) {
  const generation = ++showGeneration;
  state.section = section;
  history.replaceState(null, "", `#${section}`);
  stopStream?.();
  stopStream = null;
  renderNav();
  fill(body, h("p", { class: "loading", role: "status" }, t("loading")));
  try {
    await RENDER[section]();
  } catch (error) {
    if (generation === showGeneration) fill(body, h("p", { class: "error", role: "alert" }, error.message));
  }
  body.querySelector("h2")?.focus();
}

// ---------------------------------------------------------------- tenants

async function pickTenant() {
  if (!operator) {
    fill(tenantPicker, h("p", { class: "tenant-name" }, t("console.tenant", { tenant: state.tenant })));
    return;
  }
  const data = await api("tenants?limit=500");
  state.tenants = data.tenants;
  if (!state.tenant || !state.tenants.some((x) => x.id === state.tenant)) {
    state.tenant = new URLSearchParams(location.search).get("tenant") || state.tenants[0]?.id;
  }
  const select = h(
    "select",
    {
      id: "tenant",
      onchange: () => {
        state.tenant = select.value;
        show(state.section);
      },
    },
    state.tenants.map((x) => h("option", { value: x.id }, `${x.name} (${x.id})`)),
  );
  select.value = state.tenant;
  fill(tenantPicker, h("label", { for: "tenant" }, t("console.tenant_label")), select);
}

const tenantPath = () => `tenants/${encodeURIComponent(state.tenant)}`;

// ---------------------------------------------------------------- plugins

function versionRow(slot, v) {
  const id = v.id;
  const path = `${tenantPath()}/slots/${slot}/versions/${id}`;
  const run = async (label, action, bodyValue) => {
    if (!(await confirmDialog(t("console.confirm", { action: label, name: `${v.name} ${v.version} (#${id})`, slot }), label))) return;
    try {
      await api(`${path}/${action}`, { method: "POST", body: bodyValue ?? {} });
      announce(t("console.done", { action: label }));
      await RENDER.plugins();
    } catch (error) {
      showError(error);
    }
  };
  const percent = h("input", {
    type: "number",
    min: "1",
    max: "99",
    value: String(v.percent || 10),
    id: `percent-${slot}-${id}`,
    class: "narrow",
    "aria-label": t("console.percent_for", { id }),
  });
  const buttons = [];
  if (v.state !== "active" && v.state !== "retired") {
    if (v.state !== "shadow") buttons.push(h("button", { class: "small", dataset: { action: "shadow" }, onclick: () => run(t("console.shadow"), "shadow") }, t("console.shadow")));
    buttons.push(
      h("span", { class: "row" }, percent, h("button", { class: "small", dataset: { action: "canary" }, onclick: () => run(t("console.canary_at", { n: percent.value }), "canary", { percent: Number(percent.value) }) }, t("console.canary"))),
    );
    buttons.push(h("button", { class: "small primary", dataset: { action: "activate" }, onclick: () => run(t("console.activate"), "activate") }, t("console.activate")));
    buttons.push(h("button", { class: "small", dataset: { action: "retire" }, onclick: () => run(t("console.retire"), "retire") }, t("console.retire")));
  }
  if (v.state === "shadow" || v.state === "canary") {
    buttons.push(h("button", { class: "small", dataset: { action: "diff" }, onclick: () => showDiff(slot, v) }, t("console.diff")));
  }
  return h(
    "tr",
    { dataset: { version: id, state: v.state } },
    h("td", {}, `#${id}`),
    h("td", {}, v.lane),
    h("td", {}, `${v.name} ${v.version}`, h("br"), h("code", { title: v.sha256 }, v.sha256.slice(0, 12))),
    h("td", {}, h("span", { class: `badge state-${v.state}` }, t(`state.${v.state}`)), v.state === "canary" ? ` ${v.percent}%` : ""),
    h("td", { class: "actions" }, buttons),
  );
}

async function showDiff(slot, v) {
  const stats = await api(`${tenantPath()}/slots/${slot}/versions/${v.id}/diff`);
  const panel = document.getElementById("diff") || h("section", { id: "diff", class: "card", "aria-labelledby": "diff-title" });
  const rate = (n) => (stats.messages ? `${((100 * n) / stats.messages).toFixed(1)}%` : "–");
  fill(
    panel,
    h("h3", { id: "diff-title", tabindex: "-1" }, t("console.diff_title", { name: `${v.name} ${v.version}`, slot })),
    h(
      "dl",
      { class: "figures" },
      [
        ["console.diff.messages", stats.messages, ""],
        ["console.diff.intent", stats.intent_differs, rate(stats.intent_differs)],
        ["console.diff.escalation", stats.escalation_differs, rate(stats.escalation_differs)],
        ["console.diff.route", stats.route_differs, rate(stats.route_differs)],
        ["console.diff.failures", stats.failures, rate(stats.failures)],
      ].map(([key, n, share]) => h("div", {}, h("dt", {}, t(key)), h("dd", { dataset: { figure: key } }, String(n), share ? h("small", {}, ` (${share})`) : null))),
    ),
    stats.examples.length
      ? h(
          "table",
          { class: "diff-table" },
          h("caption", {}, t("console.diff.examples")),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("console.diff.message")), h("th", { scope: "col" }, t("console.diff.active")), h("th", { scope: "col" }, t("console.diff.candidate")))),
          h(
            "tbody",
            {},
            stats.examples.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, e.text),
                h("td", {}, side(e.active, e.shadow)),
                h("td", {}, side(e.shadow, e.active)),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, t("console.diff.none")),
  );
  if (!panel.isConnected) body.append(panel);
  panel.querySelector("h3").focus();
}

function side(mine, other) {
  const cell = (label, a, b) => h("div", { class: a === b ? "" : "differs" }, `${label}: ${a}`);
  return [
    cell(t("console.diff.intent_short"), mine.intent, other.intent),
    cell(t("console.diff.escalate_short"), mine.escalate ? t("yes") : t("no"), other.escalate ? t("yes") : t("no")),
    cell(t("console.diff.route_short"), mine.route, other.route),
  ];
}

function pushForm(slots) {
  const file = h("input", { type: "file", id: "push-file", accept: ".wasm,application/wasm", required: true });
  const slot = h("select", { id: "push-slot" }, SLOTS.map((s) => h("option", { value: s }, s)));
  const name = h("input", { id: "push-name", required: true, autocomplete: "off" });
  const version = h("input", { id: "push-version", required: true, autocomplete: "off" });
  const lane = h("input", { id: "push-lane", autocomplete: "off", placeholder: t("console.push.lane_hint") });
  const config = h("textarea", { id: "push-config", rows: "6", spellcheck: "false" });
  const result = h("div", { id: "push-result", role: "status" });
  slot.addEventListener("change", () => {
    const active = slots[slot.value]?.versions.find((v) => v.state === "active");
    if (active && !name.value) name.value = active.name;
  });
  const form = h(
    "form",
    {
      class: "card push",
      "aria-labelledby": "push-title",
      onsubmit: async (event) => {
        event.preventDefault();
        if (!file.files[0]) return file.focus();
        const bytes = new Uint8Array(await file.files[0].arrayBuffer());
        let binary = "";
        for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        const request = { name: name.value.trim(), version: version.value.trim(), component: btoa(binary), config: config.value };
        if (lane.value.trim()) request.lane = lane.value.trim();
        fill(result, t("console.push.validating"));
        try {
          const staged = await api(`${tenantPath()}/slots/${slot.value}/versions`, { method: "POST", body: request });
          fill(result, h("p", { class: "ok" }, t("console.push.staged", { id: staged.id })), (staged.warnings || []).map((w) => h("p", { class: "warning" }, w)));
          await RENDER.plugins({ keepResult: result });
        } catch (error) {
          // The validation error exactly as the API gives it.
          fill(result, h("p", { class: "error", role: "alert", id: "push-error" }, `${error.status} ${error.code}: ${error.message}`));
        }
      },
    },
    h("h3", { id: "push-title" }, t("console.push")),
    h("div", { class: "grid2" }, h("label", { for: "push-slot" }, t("console.slot")), slot, h("label", { for: "push-file" }, t("console.push.file")), file, h("label", { for: "push-name" }, t("console.push.name")), name, h("label", { for: "push-version" }, t("console.push.version")), version, h("label", { for: "push-lane" }, t("console.push.lane")), lane),
    h("label", { for: "push-config" }, t("console.push.config")),
    config,
    h("button", { type: "submit", class: "primary", id: "push-submit" }, t("console.push.submit")),
    result,
  );
  return form;
}

const RENDER = {
  async plugins({ keepResult } = {}) {
    const bindings = await api(`${tenantPath()}/bindings`);
    const slots = bindings.slots || {};
    const sections = SLOTS.filter((s) => slots[s]).map((slot) => {
      const rollout = slots[slot];
      const versions = [...rollout.versions].filter((v) => v.state !== "retired" || rollout.versions.length < 8).sort((a, b) => b.id - a.id);
      return h(
        "section",
        { class: "card slot", dataset: { slot }, "aria-labelledby": `slot-${slot}` },
        h(
          "div",
          { class: "row spread" },
          h("h3", { id: `slot-${slot}` }, t("console.slot_name", { slot }), h("small", {}, ` · ${t("console.lanes")}: ${rollout.lanes.join(", ")}`)),
          h(
            "button",
            {
              class: "small",
              dataset: { action: "rollback" },
              disabled: (rollout.history || []).length === 0 && !rollout.versions.some((v) => v.state === "canary"),
              onclick: async () => {
                if (!(await confirmDialog(t("console.confirm_rollback", { slot }), t("console.rollback")))) return;
                try {
                  await api(`${tenantPath()}/slots/${slot}/rollback`, { method: "POST", body: {} });
                  announce(t("console.done", { action: t("console.rollback") }));
                  await RENDER.plugins();
                } catch (error) {
                  showError(error);
                }
              },
            },
            t("console.rollback"),
          ),
        ),
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, ["#", t("console.lane"), t("console.plugin"), t("console.state"), t("console.actions")].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, versions.map((v) => versionRow(slot, v))),
        ),
      );
    });
    const form = pushForm(slots);
    paint("plugins", h("h2", { tabindex: "-1" }, t("console.plugins")), sections, form);
    if (keepResult) fill(form.querySelector("#push-result"), ...keepResult.childNodes);
  },

  async traffic() {
    const path = operator ? `${tenantPath()}/stats?days=14` : "stats?days=14";
    const stats = await api(path);
    const hours = stats.hours.map((x) => ({ x: x.hour_ms, y: x.messages }));
    const days = stats.days;
    const escalation = days.map((d) => ({ x: d.day_ms, y: d.messages ? (100 * d.escalated) / d.messages : 0 }));
    const routes = [...new Set(days.flatMap((d) => Object.keys(d.routes)))].sort();
    // The buckets are UTC days and hours: labelled in UTC too.
    const fmtDay = (ms) => new Date(ms).toLocaleDateString(boot.lang === "zh" ? "zh-CN" : "en-GB", { month: "short", day: "numeric", timeZone: "UTC" });
    const versionCharts = (stats.versions || []).map((v) =>
      lineChart({
        id: `plot-version-${v.slot}-${v.version_id}`,
        title: t("console.plot.version", { slot: v.slot, name: `${v.name} ${v.version}`, id: v.version_id }),
        series: [
          { name: t("console.plot.messages"), points: v.hours.map((x) => ({ x: x.hour_ms, y: x.messages })) },
          { name: t("console.plot.escalated"), points: v.hours.map((x) => ({ x: x.hour_ms, y: x.escalated })) },
        ],
        xFormat: fmtDay,
      }),
    );
    paint("traffic", h("h2", { tabindex: "-1" }, t("console.traffic")),
      h("p", { class: "help" }, t("console.traffic_help", { days: 14 })),
      lineChart({ id: "plot-messages", title: t("console.plot.messages_per_hour"), series: [{ name: t("console.plot.messages"), points: hours }], xFormat: fmtDay }),
      lineChart({ id: "plot-escalation", title: t("console.plot.escalation_rate"), series: [{ name: t("console.plot.escalation"), points: escalation }], xFormat: fmtDay, yUnit: "%" }),
      stackedBars({
        id: "plot-routes",
        title: t("console.plot.routes"),
        categories: days.map((d) => fmtDay(d.day_ms)),
        series: routes.map((r) => ({ name: r === "bot" ? t("console.plot.bot") : r, values: days.map((d) => d.routes[r] || 0) })),
        share: true,
      }),
      versionCharts.length ? h("h3", {}, t("console.plot.versions")) : null,
      versionCharts,
      intentTable(stats),
      forecastPanel(fmtDay),
    );
  },

  async numbers() {
    const parts = await numbersSection(operator ? `${tenantPath()}/` : "", { canMine: !operator });
    paint("numbers", h("h2", { tabindex: "-1" }, t("console.numbers")), ...parts);
  },

  async audit() {
    const events = await api(`${tenantPath()}/audit?limit=200`);
    paint("audit", h("h2", { tabindex: "-1" }, t("console.audit")),
      events.length
        ? h(
            "table",
            { id: "audit-table" },
            h("thead", {}, h("tr", {}, [t("console.audit.when"), t("console.slot"), t("console.audit.action"), t("console.audit.who"), t("console.audit.change"), t("console.audit.reason")].map((x) => h("th", { scope: "col" }, x)))),
            h(
              "tbody",
              {},
              events.map((e) =>
                h(
                  "tr",
                  { class: e.actor.kind === "breaker" ? "breaker" : "", dataset: { action: e.action } },
                  h("td", {}, h("time", { datetime: new Date(e.at_ms).toISOString(), title: new Date(e.at_ms).toISOString() }, `${new Date(e.at_ms).toLocaleDateString(boot.lang === "zh" ? "zh-CN" : "en-GB")} ${clock(e.at_ms)}`)),
                  h("td", {}, e.slot || "–"),
                  h("td", {}, e.action),
                  h("td", { class: "who" }, e.actor.kind === "breaker" ? t("console.audit.breaker") : `${e.actor.kind}${e.actor.key ? ` (${t("console.audit.key")} ${e.actor.key})` : ""}`),
                  h("td", {}, `${(e.from || []).map((v) => `#${v.id} ${v.name} ${v.version}`).join(", ") || "–"} → ${(e.to || []).map((v) => `#${v.id} ${v.name} ${v.version}`).join(", ") || "–"}`),
                  h("td", {}, e.reason),
                ),
              ),
            ),
          )
        : h("p", { class: "empty" }, t("console.audit.none")),
    );
  },

  async tenants() {
    const result = h("div", { role: "status", id: "tenant-result" });
    const id = h("input", { id: "new-tenant-id", required: true, autocomplete: "off", pattern: "[A-Za-z0-9._:-]{1,128}" });
    const name = h("input", { id: "new-tenant-name", required: true, autocomplete: "off" });
    const from = h(
      "select",
      { id: "new-tenant-from" },
      h("option", { value: "" }, t("console.tenants.empty")),
      ["demo", "pharmacy", "banking"].map((x) => h("option", { value: x }, t("console.tenants.from", { example: x }))),
    );
    const rows = h("tbody", {});
    const listTenants = () =>
      fill(
        rows,
        state.tenants.map((x) =>
          h(
            "tr",
            { dataset: { tenant: x.id } },
            h("th", { scope: "row" }, x.id),
            h("td", {}, x.name),
            h("td", {}, new Date(x.created_at_ms).toISOString().slice(0, 10)),
          ),
        ),
      );
    listTenants();
    paint("tenants", h("h2", { tabindex: "-1" }, t("console.tenants")),
      h(
        "table",
        { id: "tenant-table" },
        h("thead", {}, h("tr", {}, [t("console.tenants.id"), t("console.tenants.name"), t("console.tenants.created")].map((x) => h("th", { scope: "col" }, x)))),
        rows,
      ),
      h(
        "form",
        {
          class: "card",
          "aria-labelledby": "new-tenant-title",
          onsubmit: async (event) => {
            event.preventDefault();
            const request = { id: id.value.trim(), name: name.value.trim() };
            if (from.value) request.from = from.value;
            try {
              const created = await api("tenants", { method: "POST", body: request });
              await pickTenant();
              listTenants();
              fill(result, h("p", { class: "ok" }, t("console.tenants.created_key", { id: created.id })), h("code", { class: "key", id: "new-tenant-key" }, created.api_key));
            } catch (error) {
              fill(result, h("p", { class: "error", role: "alert" }, `${error.status} ${error.code}: ${error.message}`));
            }
          },
        },
        h("h3", { id: "new-tenant-title" }, t("console.tenants.new")),
        h("div", { class: "grid2" }, h("label", { for: "new-tenant-id" }, t("console.tenants.id")), id, h("label", { for: "new-tenant-name" }, t("console.tenants.name")), name, h("label", { for: "new-tenant-from" }, t("console.tenants.start")), from),
        h("button", { type: "submit", class: "primary" }, t("console.tenants.create")),
        result,
      ),
    );
  },

  async limits() {
    const report = await api(`${tenantPath()}/limits`);
    const bindings = await api(`${tenantPath()}/bindings`);
    const fields = Object.keys(report.defaults);
    const inputs = {};
    const result = h("div", { role: "status", id: "limits-result" });
    paint("limits", h("h2", { tabindex: "-1" }, t("console.limits")),
      h(
        "form",
        {
          class: "card",
          onsubmit: async (event) => {
            event.preventDefault();
            const overrides = {};
            for (const f of fields) if (inputs[f].value !== "") overrides[f] = Number(inputs[f].value);
            if (!(await confirmDialog(t("console.limits_confirm"), t("console.save")))) return;
            try {
              await api(`${tenantPath()}/limits`, { method: "PUT", body: overrides });
              fill(result, h("p", { class: "ok" }, t("console.saved")));
            } catch (error) {
              fill(result, h("p", { class: "error", role: "alert" }, error.message));
            }
          },
        },
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, [t("console.limits.name"), t("console.limits.default"), t("console.limits.tenant"), t("console.limits.effective")].map((x) => h("th", { scope: "col" }, x)))),
          h(
            "tbody",
            {},
            fields.map((f) => {
              inputs[f] = h("input", { type: "number", min: "0", id: `limit-${f}`, value: report.tenant[f] ?? "", placeholder: String(report.defaults[f]), class: "narrow" });
              return h("tr", {}, h("th", { scope: "row" }, h("label", { for: `limit-${f}` }, f)), h("td", {}, String(report.defaults[f])), h("td", {}, inputs[f]), h("td", {}, String(report.effective[f])));
            }),
          ),
        ),
        h("button", { type: "submit", class: "primary" }, t("console.save")),
        result,
      ),
      versionLimits(bindings.slots || {}, fields, report.effective),
    );
  },

  async monitor() {
    const table = h("div", { id: "monitor" });
    paint("monitor", h("h2", { tabindex: "-1" }, t("console.monitor")), h("p", { class: "help" }, t("console.monitor_help")), table);
    let timer = null;
    const refresh = async () => {
      const m = await api("queues");
      const now = Date.now();
      fill(
        table,
        h(
          "table",
          { id: "queue-table" },
          h("caption", {}, t("console.queues")),
          h("thead", {}, h("tr", {}, [t("console.queue"), t("console.waiting"), t("console.longest"), t("console.online"), t("console.free")].map((x) => h("th", { scope: "col" }, x)))),
          h(
            "tbody",
            {},
            m.queues.map((q) =>
              h(
                "tr",
                { dataset: { queue: q.name }, class: q.waiting && !q.free_places ? "alert" : "" },
                h("th", { scope: "row" }, q.name || t("console.no_queue")),
                h("td", { dataset: { waiting: q.waiting } }, String(q.waiting)),
                h("td", {}, q.longest_since_ms ? since(q.longest_since_ms, now) : "–"),
                h("td", {}, String(q.agents_online)),
                h("td", {}, String(q.free_places)),
              ),
            ),
          ),
        ),
        m.truncated ? h("p", { class: "warning" }, t("console.truncated")) : null,
        h(
          "table",
          { id: "agent-load" },
          h("caption", {}, t("console.agents_load")),
          h("thead", {}, h("tr", {}, [t("console.agent"), t("console.status"), t("console.load")].map((x) => h("th", { scope: "col" }, x)))),
          h(
            "tbody",
            {},
            m.agents.map((a) =>
              h(
                "tr",
                { dataset: { agent: a.id } },
                h("th", { scope: "row" }, a.name),
                h("td", {}, h("span", { class: `badge agent-${a.status}` }, t(`agent.${a.status}`))),
                h("td", {}, h("meter", { min: "0", max: String(a.capacity), value: String(a.load), "aria-label": t("console.load_of", { name: a.name }) }), ` ${a.load}/${a.capacity}`),
              ),
            ),
          ),
        ),
      );
    };
    stopStream = follow("/v1/events", () => {
      clearTimeout(timer);
      timer = setTimeout(() => refresh().catch(showError), 100);
    });
    await refresh();
  },

  async agents() {
    const data = await api("agents?limit=500");
    const keyBox = h("div", { id: "key-result", role: "status" });
    paint("agents", h("h2", { tabindex: "-1" }, t("console.agents")),
      keyBox,
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, [t("console.agent"), t("console.skills"), t("console.capacity"), t("console.status"), t("console.actions")].map((x) => h("th", { scope: "col" }, x)))),
        h(
          "tbody",
          {},
          data.agents.map((a) =>
            h(
              "tr",
              { dataset: { agent: a.id } },
              h("th", { scope: "row" }, `${a.name} (${a.id})`),
              h("td", {}, a.skills.join(", ")),
              h("td", {}, `${a.load}/${a.capacity}`),
              h("td", {}, t(`agent.${a.status}`)),
              h(
                "td",
                {},
                h(
                  "button",
                  {
                    class: "small",
                    onclick: async () => {
                      if (!(await confirmDialog(t("console.issue_key_confirm", { name: a.name }), t("console.issue_key")))) return;
                      try {
                        const issued = await api(`agents/${encodeURIComponent(a.id)}/key`, { method: "POST", body: {} });
                        fill(keyBox, h("p", { class: "ok" }, t("console.key_once", { name: a.name })), h("code", { class: "key", id: "issued-key" }, issued.key));
                      } catch (error) {
                        showError(error);
                      }
                    },
                  },
                  t("console.issue_key"),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  },

  async knowledge() {
    const drafts = (await api("knowledge/drafts?limit=100")).drafts;
    const mined = h("div", { role: "status", id: "mine-result" });
    const mine = h(
      "button",
      {
        id: "mine",
        onclick: async () => {
          fill(mined, t("console.mining"));
          try {
            const report = await api("knowledge/mine", { method: "POST", body: {} });
            fill(mined, t("console.mined", { n: report.drafts?.length ?? report.created ?? 0 }));
            await RENDER.knowledge();
          } catch (error) {
            fill(mined, h("p", { class: "error", role: "alert" }, error.message));
          }
        },
      },
      t("console.mine"),
    );
    paint("knowledge", h("h2", { tabindex: "-1" }, t("console.knowledge")),
      h("p", { class: "help" }, t("console.knowledge_help")),
      h("div", { class: "row" }, mine),
      mined,
      drafts.length ? drafts.map(draftCard) : h("p", { class: "empty" }, t("console.no_drafts")),
    );
  },
};

/** Intents most often handed to people, and how often agents said the intent was wrong. */
function intentTable(stats) {
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  const rows = (stats.intents || []).slice(0, 15);
  return h(
    "section",
    { class: "card", "aria-labelledby": "intents-title" },
    h("h3", { id: "intents-title" }, t("console.intents")),
    h(
      "p",
      { class: "help", id: "accuracy" },
      stats.accuracy_as_agents_judge === null || stats.accuracy_as_agents_judge === undefined
        ? t("console.accuracy_none")
        : t("console.accuracy", { pct: pct(stats.accuracy_as_agents_judge) }),
    ),
    rows.length
      ? h(
          "table",
          { id: "intent-table" },
          h("thead", {}, h("tr", {}, [t("console.intent"), t("console.plot.messages"), t("console.handed"), t("console.corrected")].map((x) => h("th", { scope: "col" }, x)))),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                { dataset: { intent: r.intent } },
                h("th", { scope: "row" }, r.intent),
                h("td", {}, String(r.messages)),
                h("td", {}, `${r.handoffs} (${pct(r.handoff_rate)})`),
                h("td", {}, `${Math.max(0, r.corrected)} (${pct(r.correction_rate)})`),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, t("plot.no_data")),
  );
}

/** The next 48 hours' contacts with their 80% interval, and the agents each hour needs. */
function forecastPanel(fmtDay) {
  const charts = h("div", { id: "forecast-charts" });
  // Empty: the server uses the measured handle time (or 180 s) and says which.
  const handle = h("input", { type: "number", min: "1", max: "86400", value: "", placeholder: "180", id: "forecast-handle", class: "narrow" });
  const handleNote = h("p", { class: "help", id: "forecast-handle-from" });
  const level = h("input", { type: "number", min: "1", max: "99", value: "80", id: "forecast-level", class: "narrow" });
  const within = h("input", { type: "number", min: "0", max: "3600", value: "30", id: "forecast-within", class: "narrow" });
  const draw = async () => {
    const given = handle.value.trim() ? `&handle_secs=${handle.value}` : "";
    const query = `hours=48${given}&service_level=${Number(level.value) / 100}&within_secs=${within.value}`;
    try {
      const f = await api(operator ? `${tenantPath()}/forecast?${query}` : `forecast?${query}`);
      const hourLabel = (ms) => `${fmtDay(ms)} ${new Date(ms).toISOString().slice(11, 13)}:00`;
      fill(
        handleNote,
        t(`console.forecast.handle_${f.handle_secs_from}`, { secs: Math.round(f.handle_secs), n: f.handle_measured_from }),
        " ",
        t(`console.forecast.share_${f.staffed_share_from}`, { pct: (100 * f.staffed_share).toFixed(0) }),
      );
      fill(
        charts,
        lineChart({
          id: "plot-forecast",
          title: t("console.forecast.contacts"),
          series: [
            { name: t("console.forecast.expected"), points: f.hours.map((x) => ({ x: x.hour_ms, y: x.contacts })) },
            { name: t("console.forecast.low"), points: f.hours.map((x) => ({ x: x.hour_ms, y: x.low })) },
            { name: t("console.forecast.high"), points: f.hours.map((x) => ({ x: x.hour_ms, y: x.high })) },
          ],
          xFormat: hourLabel,
        }),
        lineChart({
          id: "plot-staffing",
          title: t("console.forecast.agents", { level: level.value, within: within.value, handle: Math.round(f.handle_secs) }),
          series: [{ name: t("console.forecast.agents_short"), points: f.hours.map((x) => ({ x: x.hour_ms, y: x.agents })) }],
          xFormat: hourLabel,
        }),
      );
    } catch (error) {
      fill(charts, h("p", { class: "error", role: "alert" }, error.message));
    }
  };
  draw();
  return h(
    "section",
    { class: "card", "aria-labelledby": "forecast-title" },
    h("h3", { id: "forecast-title" }, t("console.forecast")),
    h("p", { class: "help" }, t("console.forecast_help")),
    h(
      "form",
      { class: "row", onsubmit: (event) => (event.preventDefault(), draw()) },
      h("label", { for: "forecast-handle" }, t("console.forecast.handle")),
      handle,
      h("label", { for: "forecast-level" }, t("console.forecast.level")),
      level,
      h("label", { for: "forecast-within" }, t("console.forecast.within")),
      within,
      h("button", { type: "submit" }, t("console.forecast.update")),
    ),
    handleNote,
    charts,
  );
}

/** One version's limits over the tenant's: pick the version, edit, save. */
function versionLimits(slots, fields, tenantEffective) {
  const versions = SLOTS.flatMap((slot) => (slots[slot]?.versions || []).filter((v) => v.state !== "retired").map((v) => ({ slot, ...v })));
  const result = h("div", { role: "status", id: "version-limits-result" });
  const inputs = {};
  const pick = h(
    "select",
    { id: "limits-version" },
    versions.map((v) => h("option", { value: `${v.slot}:${v.id}` }, `${v.slot} #${v.id} ${v.name} ${v.version} (${t(`state.${v.state}`)})`)),
  );
  const load = () => {
    const [slot, id] = pick.value.split(":");
    const v = versions.find((x) => x.slot === slot && String(x.id) === id);
    for (const f of fields) inputs[f].value = v?.limits?.[f] ?? "";
  };
  const rows = fields.map((f) => {
    inputs[f] = h("input", { type: "number", min: "0", id: `vlimit-${f}`, placeholder: String(tenantEffective[f]), class: "narrow" });
    return h("tr", {}, h("th", { scope: "row" }, h("label", { for: `vlimit-${f}` }, f)), h("td", {}, String(tenantEffective[f])), h("td", {}, inputs[f]));
  });
  pick.addEventListener("change", load);
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "version-limits-title",
      onsubmit: async (event) => {
        event.preventDefault();
        const [slot, id] = pick.value.split(":");
        const overrides = {};
        for (const f of fields) if (inputs[f].value !== "") overrides[f] = Number(inputs[f].value);
        if (!(await confirmDialog(t("console.limits_confirm"), t("console.save")))) return;
        try {
          await api(`${tenantPath()}/slots/${slot}/versions/${id}/limits`, { method: "PUT", body: overrides });
          fill(result, h("p", { class: "ok" }, t("console.saved")));
        } catch (error) {
          fill(result, h("p", { class: "error", role: "alert" }, error.message));
        }
      },
    },
    h("h3", { id: "version-limits-title" }, t("console.limits.versions")),
    h("label", { for: "limits-version" }, t("console.limits.version")),
    pick,
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, [t("console.limits.name"), t("console.limits.tenant_effective"), t("console.limits.version_override")].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows),
    ),
    h("button", { type: "submit", class: "primary" }, t("console.save")),
    result,
  );
  if (versions.length) load();
  return versions.length ? form : null;
}

function draftCard(draft) {
  const title = h("input", { id: `title-${draft.id}`, value: draft.title });
  const text = h("textarea", { id: `body-${draft.id}`, rows: "4" });
  text.value = draft.body;
  const keywords = h("input", { id: `keywords-${draft.id}`, value: (draft.keywords || []).join(", ") });
  const template = h("textarea", { id: `template-${draft.id}`, rows: "2" });
  template.value = draft.templates?.[0]?.text || "";
  const looksChinese = (draft.examples || []).some((e) => /[\u4e00-\u9fff]/.test(e));
  const templateLang = h(
    "select",
    { id: `template-lang-${draft.id}`, "aria-label": t("console.template_lang") },
    h("option", { value: "zh" }, "中文"),
    h("option", { value: "en" }, "English"),
  );
  templateLang.value = draft.templates?.[0]?.lang || (looksChinese ? "zh" : "en");
  const save = async (publish) => {
    const article = {
      ...draft,
      title: title.value.trim(),
      body: text.value,
      keywords: keywords.value.split(/[,，]/).map((k) => k.trim()).filter(Boolean),
      templates: template.value.trim() ? [{ lang: templateLang.value, text: template.value.trim() }] : [],
      published: false,
    };
    delete article.examples;
    delete article.updated_at_ms;
    try {
      await api(`knowledge/articles/${encodeURIComponent(draft.id)}`, { method: "PUT", body: article });
      if (publish) await api(`knowledge/articles/${encodeURIComponent(draft.id)}/publish`, { method: "POST", body: {} });
      announce(publish ? t("console.published", { title: article.title }) : t("console.saved"));
      await RENDER.knowledge();
    } catch (error) {
      showError(error);
    }
  };
  return h(
    "section",
    { class: "card draft", dataset: { draft: draft.id }, "aria-labelledby": `title-${draft.id}-label` },
    h("h3", { id: `title-${draft.id}-label` }, t("console.draft", { id: draft.id })),
    h("p", { class: "help" }, t("console.asked_like")),
    h("ul", { class: "examples" }, (draft.examples || []).slice(0, 5).map((e) => h("li", {}, e))),
    h("label", { for: `title-${draft.id}` }, t("console.article_title")),
    title,
    h("label", { for: `body-${draft.id}` }, t("console.article_body")),
    text,
    h("label", { for: `keywords-${draft.id}` }, t("console.keywords")),
    keywords,
    h("label", { for: `template-${draft.id}` }, t("console.template")),
    h("div", { class: "row" }, templateLang, template),
    h("p", { class: "help" }, t("console.template_help")),
    h("div", { class: "row" }, h("button", { onclick: () => save(false) }, t("console.save_draft")), h("button", { class: "primary", dataset: { action: "publish" }, onclick: () => save(true) }, t("console.publish"))),
  );
}

async function start() {
  await pickTenant();
  const wanted = location.hash.slice(1);
  await show(SECTIONS.some(([id]) => id === wanted) ? wanted : SECTIONS[0][0]);
  document.documentElement.dataset.ready = "true";
}

start().catch(showError);
