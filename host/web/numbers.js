// The numbers a team is run by (GET /v1/reports/*): KPIs beside the seeds'
// targets with their daily plots, the canary judged by outcome with its
// intervals, the week's weak spots, and an agent's coaching. The console
// shows all of it; the desk shows an agent their own coaching.
import { api, boot, h, fill, t } from "./common.js";
import { lineChart } from "./plot.js";

const RATES = new Set([
  "ai_instant_response_rate",
  "containment_rate",
  "transfer_rate",
  "first_contact_resolution",
  "ai_accuracy_as_agents_judge",
  "csat_high_share",
  "csat_response_rate",
  "adoption_rate",
  "cross_department_closure_24h",
  "correction_rate",
  "edit_rate",
]);

/** A figure as people read it: rates in percent, times in seconds. */
export function shown(kpi, value) {
  if (value === null || value === undefined) return "–";
  if (RATES.has(kpi)) return `${(100 * value).toFixed(1)}%`;
  if (kpi.endsWith("_secs")) return value >= 3600 ? `${(value / 3600).toFixed(1)} h` : `${Math.round(value)} s`;
  if (kpi === "csat_average") return value.toFixed(2);
  return String(value);
}

const fmtDay = (ms) =>
  new Date(ms).toLocaleDateString(boot.lang === "zh" ? "zh-CN" : "en-GB", { month: "short", day: "numeric", timeZone: "UTC" });

const PLOTS = [
  ["ai_instant_response_rate", "%"],
  ["transfer_rate", "%"],
  ["first_response_median_secs", " s"],
  ["csat_average", ""],
  ["first_contact_resolution", "%"],
  ["ai_accuracy_as_agents_judge", "%"],
];

/** Each target with the period's figure, met or not. */
function targetsTable(report) {
  return h(
    "table",
    { id: "kpi-targets" },
    h("caption", {}, t("numbers.targets")),
    h("thead", {}, h("tr", {}, [t("numbers.figure"), t("numbers.value"), t("numbers.target"), t("numbers.meets")].map((x) => h("th", { scope: "col" }, x)))),
    h(
      "tbody",
      {},
      report.targets.map((target) =>
        h(
          "tr",
          { dataset: { kpi: target.kpi } },
          h("th", { scope: "row" }, t(`kpi.${target.kpi}`)),
          h("td", {}, shown(target.kpi, target.figure)),
          h("td", {}, `${target.goal === "at_least" ? "≥" : "≤"} ${shown(target.kpi, target.value)}`),
          h(
            "td",
            { class: target.meets === false ? "miss" : target.meets ? "met" : "" },
            target.meets === null ? "–" : target.meets ? t("numbers.met") : t("numbers.missed"),
          ),
        ),
      ),
    ),
  );
}

function kpiPlots(report) {
  return PLOTS.map(([kpi, unit]) => {
    const scale = unit === "%" ? 100 : 1;
    const target = report.targets.find((x) => x.kpi === kpi);
    const points = report.series.map((row) => ({ x: row.start_ms, y: row[kpi] === null ? null : row[kpi] * scale }));
    const series = [{ name: t(`kpi.${kpi}`), points }];
    if (target) series.push({ name: t("numbers.target"), points: report.series.map((row) => ({ x: row.start_ms, y: target.value * scale })) });
    return lineChart({ id: `plot-kpi-${kpi}`, title: t(`kpi.${kpi}`), series, xFormat: fmtDay, yUnit: unit });
  });
}

function estimate(kpi, e) {
  if (e.value === null) return `– (n=${e.n})`;
  return `${shown(kpi, e.value)} [${shown(kpi, e.low)}–${shown(kpi, e.high)}] n=${e.n}`;
}

function difference(f) {
  if (f.difference === null) return "–";
  const points = f.kpi === "csat_average" ? (x) => x.toFixed(2) : (x) => `${(100 * x).toFixed(1)}`;
  const sign = (x) => (x > 0 ? "+" : "");
  return `${sign(f.difference)}${points(f.difference)} [${sign(f.difference_low)}${points(f.difference_low)}, ${sign(f.difference_high)}${points(f.difference_high)}]`;
}

/** Each canary (or activation) against what it competes with. */
function canaryView(answer) {
  if (!answer.comparisons.length) return h("p", { class: "empty", id: "canary-none" }, t("numbers.no_canary"));
  return answer.comparisons.map((c, i) =>
    h(
      "div",
      { class: "comparison", dataset: { slot: c.slot, design: c.design } },
      h(
        "p",
        {},
        t(`numbers.design.${c.design}`, {
          slot: c.slot,
          candidate: `${c.candidate.name} ${c.candidate.version} (#${c.candidate.version_id})`,
          baseline: `${c.baseline.name} ${c.baseline.version} (#${c.baseline.version_id})`,
          n: c.candidate.conversations,
          m: c.baseline.conversations,
        }),
      ),
      h(
        "table",
        { id: `canary-${i}` },
        h("thead", {}, h("tr", {}, [t("numbers.figure"), t("numbers.candidate"), t("numbers.baseline"), t("numbers.difference"), t("numbers.verdict")].map((x) => h("th", { scope: "col" }, x)))),
        h(
          "tbody",
          {},
          c.figures.map((f) =>
            h(
              "tr",
              { dataset: { kpi: f.kpi, verdict: f.verdict } },
              h("th", { scope: "row" }, t(`kpi.${f.kpi}`)),
              h("td", {}, estimate(f.kpi, f.candidate)),
              h("td", {}, estimate(f.kpi, f.baseline)),
              h("td", {}, difference(f)),
              h("td", { class: `verdict ${f.verdict}` }, t(`numbers.verdict.${f.verdict}`)),
            ),
          ),
        ),
      ),
    ),
  );
}

/** The week's weak intents with examples, and the blind spots not answered yet. */
function weakSpotsView(weak, { canMine }) {
  const rate = (kpi, e) => (e.value === null ? "–" : `${shown(kpi, e.value)} (n=${e.n})`);
  const rows = weak.intents
    .slice()
    .sort((a, b) => weak.by_transfer.indexOf(a.intent) - weak.by_transfer.indexOf(b.intent));
  const examples = (r) => Object.entries(r.examples || {}).flatMap(([kind, ids]) => ids.map((id) => `${id} (${t(`numbers.example.${kind}`)})`));
  return h(
    "div",
    {},
    rows.length
      ? h(
          "table",
          { id: "weak-spots-table" },
          h("thead", {}, h("tr", {}, [t("console.intent"), t("kpi.transfer_rate"), t("kpi.correction_rate"), t("kpi.csat_average"), t("numbers.repeat")
            , t("numbers.examples")].map((x) => h("th", { scope: "col" }, x)))),
          h(
            "tbody",
            {},
            rows.map((r) =>
              h(
                "tr",
                { dataset: { intent: r.intent } },
                h("th", { scope: "row" }, r.intent),
                h("td", {}, rate("transfer_rate", r.transfer)),
                h("td", {}, rate("correction_rate", r.correction)),
                h("td", {}, rate("csat_average", r.csat)),
                h("td", {}, rate("correction_rate", r.repeat)),
                h("td", { class: "examples" }, examples(r).join(", ") || "–"),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, t("numbers.no_weak_spots")),
    h("h4", {}, t("numbers.blind_spots")),
    weak.blind_spots.length
      ? h("ul", { class: "plain", id: "blind-spots" }, weak.blind_spots.map((s) => h("li", {}, `${s.title} · ${t("numbers.messages", { n: s.size })}`)))
      : h("p", { class: "empty" }, t("numbers.no_blind_spots")),
    canMine ? h("p", {}, h("a", { href: "/console#knowledge", id: "to-knowledge" }, t("numbers.to_knowledge"))) : null,
  );
}

/** An agent against the team, their gaps and what to study. */
export function coachingView(c) {
  const row = (kpi, mine, team) => h("tr", { dataset: { kpi } }, h("th", { scope: "row" }, t(`kpi.${kpi}`)), h("td", {}, shown(kpi, mine)), h("td", {}, shown(kpi, team)));
  const figures = ["first_response_median_secs", "handling_mean_secs", "resolved", "adoption_rate", "csat_average"];
  return h(
    "div",
    { class: "coaching", dataset: { agent: c.agent } },
    h(
      "table",
      { class: "coaching-figures" },
      h("caption", {}, t("numbers.coaching_caption", { agent: c.agent })),
      h("thead", {}, h("tr", {}, [t("numbers.figure"), c.agent, t("numbers.team")].map((x) => h("th", { scope: "col" }, x)))),
      h(
        "tbody",
        {},
        figures.map((kpi) => row(kpi, c.agent_kpis[kpi], c.team_kpis[kpi])),
        row("edit_rate", c.edit_rate, c.team_edit_rate),
      ),
    ),
    h("h4", {}, t("numbers.gaps")),
    c.gaps.length ? h("ul", { class: "plain gaps" }, c.gaps.map((g) => h("li", {}, g))) : h("p", { class: "empty" }, t("numbers.no_gaps")),
    h("h4", {}, t("numbers.study")),
    c.study.length
      ? h(
          "ul",
          { class: "plain study" },
          c.study.map((s) => h("li", { dataset: { article: s.article_id } }, `${s.title || s.article_id} · ${t("numbers.study_line", { intent: s.intent, uses: s.peer_uses, peers: s.peers, yours: s.your_conversations })}`)),
        )
      : h("p", { class: "empty" }, t("numbers.no_study")),
  );
}

/** The console's numbers section: `base` is "" for a tenant admin or "tenants/{id}/" for the operator. */
export async function numbersSection(base, { canMine }) {
  const days = h(
    "select",
    { id: "numbers-days" },
    [7, 30, 90].map((n) => h("option", { value: String(n) }, t("numbers.days", { n }))),
  );
  days.value = "30";
  const content = h("div", { id: "numbers-content" });
  const draw = async () => {
    const period = `days=${days.value}`;
    const [report, byAgent, canary, weak] = await Promise.all([
      api(`${base}reports/kpis?${period}`),
      api(`${base}reports/kpis?${period}&by=agent`),
      api(`${base}reports/canary?${period}`),
      api(`${base}reports/weak-spots`),
    ]);
    const coaching = h("div", { id: "coaching-view" });
    const agents = (byAgent.groups || []).map((g) => g.key);
    const pick = h("select", { id: "coaching-agent" }, agents.map((a) => h("option", { value: a }, a)));
    const coach = async () => {
      if (!pick.value) return;
      try {
        fill(coaching, coachingView(await api(`${base}reports/coaching/${encodeURIComponent(pick.value)}?${period}`)));
      } catch (error) {
        fill(coaching, h("p", { class: "error", role: "alert" }, error.message));
      }
    };
    pick.addEventListener("change", coach);
    fill(
      content,
      h("p", { class: "help" }, t("numbers.help")),
      h("p", {}, h("a", { href: `/v1/${base}reports/kpis?${period}&format=csv`, id: "kpi-csv", download: "kpis.csv" }, t("numbers.csv"))),
      targetsTable(report),
      h("div", { class: "plots" }, kpiPlots(report)),
      h("section", { class: "card", "aria-labelledby": "canary-title" }, h("h3", { id: "canary-title" }, t("numbers.canary")), h("p", { class: "help" }, t("numbers.canary_help")), canaryView(canary)),
      h("section", { class: "card", "aria-labelledby": "weak-title" }, h("h3", { id: "weak-title" }, t("numbers.weak_spots")), weakSpotsView(weak, { canMine })),
      h(
        "section",
        { class: "card", "aria-labelledby": "coaching-title" },
        h("h3", { id: "coaching-title" }, t("numbers.coaching")),
        agents.length
          ? [h("label", { for: "coaching-agent" }, t("numbers.agent")), pick, coaching]
          : h("p", { class: "empty" }, t("numbers.no_agents")),
      ),
    );
    await coach();
  };
  days.addEventListener("change", () => draw().catch((error) => fill(content, h("p", { class: "error", role: "alert" }, error.message))));
  await draw();
  return [h("div", { class: "row" }, h("label", { for: "numbers-days" }, t("numbers.period")), days), content];
}
