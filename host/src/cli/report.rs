//! `switchyard report …`: the numbers of a tenant from a running server
//! (its operator API): KPIs beside the seeds' targets, by hour, day or
//! week or by group, as a table, CSV or JSON; a canary compared by
//! outcome; the week's weak spots; an agent's coaching.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::plugin::{Client, ServerArgs};
use crate::model::percent_encode;

#[derive(Args, Clone)]
pub struct PeriodArgs {
    #[arg(long)]
    tenant: String,
    /// Whole days back from today (UTC), today included.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    days: Option<u32>,
    /// First day (YYYY-MM-DD, UTC), with --to.
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Last day, included.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Print the server's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

impl PeriodArgs {
    fn query(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        if let Some(days) = self.days {
            q.push(("days".into(), days.to_string()));
        }
        if let (Some(from), Some(to)) = (&self.from, &self.to) {
            q.push(("from".into(), from.clone()));
            q.push(("to".into(), to.clone()));
        }
        q
    }
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// KPIs of the conversations begun in the period, beside the targets.
    Kpis {
        #[command(flatten)]
        period: PeriodArgs,
        /// Rows by hour, day or week.
        #[arg(long, default_value = "day")]
        group: String,
        /// Rows by channel, intent, queue, agent, version or department
        /// instead of by time.
        #[arg(long)]
        by: Option<String>,
        /// Print CSV (every figure).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
    },
    /// Each canary (or just-activated version) against the version it
    /// competes with, by outcome, with 95% intervals.
    Canary {
        #[command(flatten)]
        period: PeriodArgs,
    },
    /// Intents ranked by transfers, corrections, low CSAT and repeats, and
    /// the blind spots not answered yet (7 days by default).
    WeakSpots {
        #[command(flatten)]
        period: PeriodArgs,
    },
    /// One agent against the team, and their study list.
    Coaching {
        agent: String,
        #[command(flatten)]
        period: PeriodArgs,
    },
}

fn path(tenant: &str, what: &str, query: &[(String, String)]) -> String {
    let mut p = format!("/v1/tenants/{tenant}/reports/{what}");
    for (n, (k, v)) in query.iter().enumerate() {
        p.push(if n == 0 { '?' } else { '&' });
        p.push_str(k);
        p.push('=');
        p.push_str(&percent_encode(v));
    }
    p
}

pub fn run(command: ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Kpis {
            period,
            group,
            by,
            csv,
        } => {
            let client = Client::new(&period.server)?;
            let mut q = period.query();
            q.push(("group".into(), group));
            if let Some(by) = &by {
                q.push(("by".into(), by.clone()));
            }
            if csv {
                q.push(("format".into(), "csv".into()));
                print!("{}", client.get_text(&path(&period.tenant, "kpis", &q))?);
                return Ok(());
            }
            let report = client.get(&path(&period.tenant, "kpis", &q))?;
            if period.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_kpis(&report);
            }
        }
        ReportCommand::Canary { period } => {
            let client = Client::new(&period.server)?;
            let answer = client.get(&path(&period.tenant, "canary", &period.query()))?;
            if period.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_canary(&answer);
            }
        }
        ReportCommand::WeakSpots { period } => {
            let client = Client::new(&period.server)?;
            let answer = client.get(&path(&period.tenant, "weak-spots", &period.query()))?;
            if period.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_weak_spots(&answer);
            }
        }
        ReportCommand::Coaching { agent, period } => {
            if agent.is_empty() {
                bail!("name the agent");
            }
            let client = Client::new(&period.server)?;
            let what = format!("coaching/{}", percent_encode(&agent));
            let answer = client.get(&path(&period.tenant, &what, &period.query()))?;
            if period.json {
                println!("{}", serde_json::to_string_pretty(&answer)?);
            } else {
                print_coaching(&answer);
            }
        }
    }
    Ok(())
}

/// A figure as a table shows it: rates in percent, seconds as seconds,
/// `-` where nothing was measured.
fn shown(kpi: &str, value: &Value) -> String {
    let Some(v) = value.as_f64() else {
        return "-".into();
    };
    if kpi.ends_with("_secs") {
        format!("{v:.0} s")
    } else if kpi.contains("rate")
        || kpi.contains("share")
        || kpi.starts_with("first_contact")
        || kpi.starts_with("ai_accuracy")
        || kpi.starts_with("cross_department")
    {
        format!("{:.1}%", v * 100.0)
    } else if kpi == "csat_average" {
        format!("{v:.2}")
    } else {
        format!("{v}")
    }
}

fn day_of(ms: &Value) -> String {
    let hour = ms.as_u64().unwrap_or(0) / 3_600_000;
    crate::forecast::format_hour(hour as i64)
}

/// The figures a table shows, with their headings.
const TABLE: [(&str, &str); 7] = [
    ("conversations", "conversations"),
    ("ai_instant_response_rate", "ai_instant"),
    ("transfer_rate", "transfer"),
    ("first_response_median_secs", "first_resp"),
    ("first_contact_resolution", "fcr"),
    ("csat_average", "csat"),
    ("adoption_rate", "adoption"),
];

fn print_kpis(report: &Value) {
    println!(
        "{} to {} (UTC), conversations begun in the period",
        day_of(&report["from_ms"]),
        day_of(&report["to_ms"])
    );
    println!("{:<34} {:>10} {:>12}  meets", "figure", "value", "target");
    for target in report["targets"].as_array().into_iter().flatten() {
        let kpi = target["kpi"].as_str().unwrap_or_default();
        let sign = if target["goal"] == "at_least" {
            ">="
        } else {
            "<="
        };
        let meets = match target["meets"].as_bool() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!(
            "{kpi:<34} {:>10} {:>12}  {meets}",
            shown(kpi, &target["figure"]),
            format!("{sign} {}", shown(kpi, &target["value"])),
        );
    }
    println!();
    let by = report["by"].as_str();
    let rows = if by.is_some() {
        &report["groups"]
    } else {
        &report["series"]
    };
    print!("{:<24}", by.unwrap_or("start"));
    for (_, heading) in TABLE {
        print!(" {heading:>14}");
    }
    println!();
    for row in rows.as_array().into_iter().flatten() {
        let label = match by {
            Some(_) => row["key"].as_str().unwrap_or_default().to_string(),
            None => day_of(&row["start_ms"]),
        };
        print!("{label:<24}");
        for (column, _) in TABLE {
            print!(" {:>14}", shown(column, &row[column]));
        }
        println!();
    }
}

fn estimate(kpi: &str, e: &Value) -> String {
    match e["value"].as_f64() {
        None => "-".into(),
        Some(_) => format!(
            "{} [{}, {}] n={}",
            shown(kpi, &e["value"]),
            shown(kpi, &e["low"]),
            shown(kpi, &e["high"]),
            e["n"]
        ),
    }
}

fn print_canary(answer: &Value) {
    let comparisons = answer["comparisons"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if comparisons.is_empty() {
        println!("no canary and no version activated in the period");
    }
    for c in comparisons {
        println!(
            "{} ({}): {}@{} (version {}, {} conversations) against {}@{} (version {}, {} conversations)",
            c["slot"].as_str().unwrap_or_default(),
            c["design"].as_str().unwrap_or_default(),
            c["candidate"]["name"].as_str().unwrap_or_default(),
            c["candidate"]["version"].as_str().unwrap_or_default(),
            c["candidate"]["version_id"],
            c["candidate"]["conversations"],
            c["baseline"]["name"].as_str().unwrap_or_default(),
            c["baseline"]["version"].as_str().unwrap_or_default(),
            c["baseline"]["version_id"],
            c["baseline"]["conversations"],
        );
        for f in c["figures"].as_array().into_iter().flatten() {
            let kpi = f["kpi"].as_str().unwrap_or_default();
            let difference = match f["difference"].as_f64() {
                Some(d) if kpi == "csat_average" => format!(
                    "{d:+.2} [{:+.2}, {:+.2}]",
                    f["difference_low"].as_f64().unwrap_or(0.0),
                    f["difference_high"].as_f64().unwrap_or(0.0)
                ),
                Some(d) => format!(
                    "{:+.1} [{:+.1}, {:+.1}] points",
                    d * 100.0,
                    f["difference_low"].as_f64().unwrap_or(0.0) * 100.0,
                    f["difference_high"].as_f64().unwrap_or(0.0) * 100.0
                ),
                None => "-".into(),
            };
            println!(
                "  {kpi:<26} {:<34} {:<34} {difference:<28} {}",
                estimate(kpi, &f["candidate"]),
                estimate(kpi, &f["baseline"]),
                f["verdict"].as_str().unwrap_or_default().replace('_', " ")
            );
        }
    }
}

fn print_weak_spots(answer: &Value) {
    println!(
        "{} to {} (UTC)",
        day_of(&answer["from_ms"]),
        day_of(&answer["to_ms"])
    );
    let intents = answer["intents"].as_array().cloned().unwrap_or_default();
    let row = |name: &str| intents.iter().find(|i| i["intent"] == name).cloned();
    for (title, list, measure, kind) in [
        (
            "handed to a person most",
            "by_transfer",
            "transfer",
            "handoff",
        ),
        (
            "corrected by agents most",
            "by_correction",
            "correction",
            "corrected",
        ),
        ("lowest CSAT", "by_low_csat", "csat", "low_csat"),
        (
            "customers back within 7 days most",
            "by_repeat",
            "repeat",
            "repeat",
        ),
    ] {
        println!("\n{title}:");
        let names = answer[list].as_array().cloned().unwrap_or_default();
        if names.is_empty() {
            println!("  none");
        }
        for name in names {
            let name = name.as_str().unwrap_or_default();
            let Some(r) = row(name) else { continue };
            let kpi = if measure == "csat" {
                "csat_average"
            } else {
                "rate"
            };
            let examples: Vec<&str> = super::json_strings(&r["examples"][kind]);
            println!(
                "  {name:<28} {:<34} e.g. {}",
                estimate(kpi, &r[measure]),
                examples.join(", ")
            );
        }
    }
    println!("\nblind spots drafted and not answered yet:");
    let spots = answer["blind_spots"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if spots.is_empty() {
        println!(
            "  none (mine again: POST {})",
            answer["mine"]["mine"].as_str().unwrap_or_default()
        );
    }
    for s in spots {
        println!(
            "  {:>4} messages  {}  (edit: {})",
            s["size"],
            s["title"].as_str().unwrap_or_default(),
            s["edit"].as_str().unwrap_or_default()
        );
    }
}

fn print_coaching(answer: &Value) {
    println!(
        "{}, {} to {} (UTC)",
        answer["agent"].as_str().unwrap_or_default(),
        day_of(&answer["from_ms"]),
        day_of(&answer["to_ms"])
    );
    println!("{:<30} {:>12} {:>12}", "figure", "agent", "team");
    for kpi in [
        "first_response_median_secs",
        "handling_mean_secs",
        "adoption_rate",
        "csat_average",
        "resolved",
    ] {
        println!(
            "{kpi:<30} {:>12} {:>12}",
            shown(kpi, &answer["agent_kpis"][kpi]),
            shown(kpi, &answer["team_kpis"][kpi])
        );
    }
    println!(
        "{:<30} {:>12} {:>12}",
        "edit_rate",
        shown("edit_rate", &answer["edit_rate"]),
        shown("edit_rate", &answer["team_edit_rate"])
    );
    let gaps = answer["gaps"].as_array().cloned().unwrap_or_default();
    println!(
        "\ngaps: {}",
        if gaps.is_empty() {
            "none found".to_string()
        } else {
            String::new()
        }
    );
    for g in gaps {
        println!("  {}", g.as_str().unwrap_or_default());
    }
    let study = answer["study"].as_array().cloned().unwrap_or_default();
    println!(
        "\nstudy: {}",
        if study.is_empty() {
            "nothing peers use that you do not"
        } else {
            ""
        }
    );
    for s in study {
        println!(
            "  {} {}  ({}: used {} times by {} peers; you had {} such conversations)",
            s["article_id"].as_str().unwrap_or_default(),
            s["title"].as_str().unwrap_or_default(),
            s["intent"].as_str().unwrap_or_default(),
            s["peer_uses"],
            s["peers"],
            s["your_conversations"]
        );
    }
}
