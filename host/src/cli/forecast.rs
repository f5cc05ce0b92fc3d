//! `switchyard forecast`: hourly contact volume ahead with staffing, or a
//! backtest of the method against two baselines (`crate::forecast`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::forecast::{self, Accuracy, Series, Staffing};

#[derive(Args)]
pub struct ForecastArgs {
    /// A CSV of `hour,contacts` (ISO local hours; missing hours are closed).
    file: PathBuf,
    /// Score the method on the file's last four weeks instead: from each
    /// midnight, 48 hours ahead, against seasonal naive and the 4-week mean.
    #[arg(long)]
    backtest: bool,
    /// Hours to forecast after the file's last hour.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(i64).range(1..=336))]
    hours: i64,
    /// Average handle time of a contact, seconds (for staffing).
    #[arg(long, default_value_t = 180.0)]
    handle_secs: f64,
    /// Share of contacts to answer within --within-secs (0 to 1).
    #[arg(long, default_value_t = 0.8)]
    service_level: f64,
    #[arg(long, default_value_t = 30.0)]
    within_secs: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn line(name: &str, a: &Accuracy) -> String {
    format!(
        "{name:<22} WAPE {:>6}  MAPE {:>6}  1-WAPE {:>6}  ({} hours, {} with >= 5 contacts)",
        percent(a.wape),
        percent(a.mape),
        percent(1.0 - a.wape),
        a.hours,
        a.mape_hours
    )
}

pub fn run(args: ForecastArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let series =
        Series::parse_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    if args.backtest {
        let result = forecast::backtest(&series).map_err(anyhow::Error::msg)?;
        let p = result.params;
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "method": {"wape": result.method.wape, "mape": result.method.mape,
                        "weeks": p.weeks, "trim": p.trim, "gamma": p.gamma,
                        "recent_days": p.recent_days, "blend": p.blend},
                    "holt_winters": {"wape": result.holt_winters.wape, "mape": result.holt_winters.mape,
                        "alpha": result.holt_winters_params.alpha, "delta": result.holt_winters_params.delta,
                        "omega": result.holt_winters_params.omega, "phi": result.holt_winters_params.phi},
                    "seasonal_naive": {"wape": result.seasonal_naive.wape, "mape": result.seasonal_naive.mape},
                    "mean_of_four_weeks": {"wape": result.mean_of_four_weeks.wape, "mape": result.mean_of_four_weeks.mape},
                    "interval_coverage": result.interval_coverage,
                    "hours": result.method.hours,
                })
            );
            return Ok(());
        }
        println!(
            "chosen on the 4 weeks before: same hour over {} weeks{}, level of the last {} day(s) x{}, blended {} with the 4-week mean",
            p.weeks,
            if p.trim { " (trimmed)" } else { "" },
            p.recent_days,
            p.gamma,
            p.blend
        );
        println!("{}", line("switchyard", &result.method));
        println!("{}", line("holt-winters 24h+168h", &result.holt_winters));
        println!("{}", line("seasonal naive", &result.seasonal_naive));
        println!("{}", line("mean of 4 weeks", &result.mean_of_four_weeks));
        println!(
            "80% interval: {} of the hours inside",
            percent(result.interval_coverage)
        );
        return Ok(());
    }
    if !(0.0..1.0).contains(&args.service_level) || args.service_level <= 0.0 {
        bail!(
            "--service-level is a share between 0 and 1, not {}",
            args.service_level
        );
    }
    if args.handle_secs <= 0.0 || args.within_secs < 0.0 {
        bail!("--handle-secs must be positive and --within-secs not negative");
    }
    let staffing = Staffing {
        handle_secs: args.handle_secs,
        service_level: args.service_level,
        within_secs: args.within_secs,
        ..Staffing::default()
    };
    let hours = forecast::ahead(&series, args.hours, &staffing);
    if hours.is_empty() && !args.json {
        println!(
            "no open hours in the next {} hours: the same hours a week and two weeks before were closed (no rows)",
            args.hours
        );
        return Ok(());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hours)?);
        return Ok(());
    }
    println!(
        "{:<17} {:>9} {:>19} {:>7}",
        "hour", "contacts", "80% interval", "agents"
    );
    for h in &hours {
        println!(
            "{:<17} {:>9.1} {:>9.1} - {:>7.1} {:>7}",
            h.hour, h.contacts, h.low, h.high, h.agents
        );
    }
    println!(
        "agents for {}% answered within {} s, {} s handle time (Erlang C)",
        staffing.service_level * 100.0,
        staffing.within_secs,
        staffing.handle_secs
    );
    Ok(())
}
