//! A period's KPIs: totals beside the targets, a series by hour, day or
//! week, and one row per group (channel, intent, queue, agent, plugin
//! version or ticket department). A range read of the outcome buckets:
//! hours of the tenant's totals and days of the groups, never the
//! conversations themselves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Kpis, Outcomes, TargetCheck};
use crate::app::{Error, Result, Switchyard};
use crate::traffic::{DAY_MS, HOUR_MS, MAX_DAYS};

/// Whole UTC hours `from_hour..to_hour`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from_hour: u64,
    pub to_hour: u64,
}

impl Period {
    /// The last `days` whole days up to now, today (so far) included.
    pub fn last_days(days: u32, now_ms: u64) -> Result<Period> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(Error::Invalid(format!("days is {days}; 1 to {MAX_DAYS}")));
        }
        let to_hour = now_ms / HOUR_MS + 1;
        let from_hour = (now_ms / DAY_MS + 1).saturating_sub(u64::from(days)) * 24;
        Ok(Period { from_hour, to_hour })
    }

    /// The days `from` to `to` (`YYYY-MM-DD`, UTC), both included.
    pub fn dates(from: &str, to: &str) -> Result<Period> {
        let day = |text: &str| {
            crate::forecast::parse_hour(&format!("{}T00", text.trim()))
                .filter(|h| *h >= 0)
                .map(|h| h as u64 / 24)
                .ok_or_else(|| Error::Invalid(format!("{text:?} is not a date (YYYY-MM-DD)")))
        };
        let (first, last) = (day(from)?, day(to)?);
        if last < first {
            return Err(Error::Invalid(format!("{to} is before {from}")));
        }
        if last - first + 1 > u64::from(MAX_DAYS) {
            return Err(Error::Invalid(format!(
                "{from} to {to} is {} days; at most {MAX_DAYS}",
                last - first + 1
            )));
        }
        Ok(Period {
            from_hour: first * 24,
            to_hour: (last + 1) * 24,
        })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    Hour,
    #[default]
    Day,
    /// ISO weeks, Monday to Sunday (UTC).
    Week,
}

impl Grouping {
    /// The first hour of the hour's row.
    fn row_start(self, hour: u64) -> u64 {
        match self {
            Grouping::Hour => hour,
            Grouping::Day => hour / 24 * 24,
            // 1970-01-01 was a Thursday: day 4 of its ISO week.
            Grouping::Week => ((hour / 24 + 3) / 7 * 7).saturating_sub(3) * 24,
        }
    }
}

/// What a report's rows are split by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    Channel,
    Intent,
    Queue,
    Agent,
    /// A plugin version, named `slot:id` (classify, route: the versions that
    /// decided the conversation's first message; assist: the suggestion's).
    Version,
    /// A ticket's department.
    Department,
}

impl By {
    pub fn prefix(self) -> &'static str {
        match self {
            By::Channel => "c:",
            By::Intent => "i:",
            By::Queue => "q:",
            By::Agent => "a:",
            By::Version => "v:",
            By::Department => "d:",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SeriesRow {
    pub start_ms: u64,
    #[serde(flatten)]
    pub kpis: Kpis,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupRow {
    pub key: String,
    #[serde(flatten)]
    pub kpis: Kpis,
}

#[derive(Clone, Debug, Serialize)]
pub struct KpiReport {
    pub from_ms: u64,
    pub to_ms: u64,
    pub group: Grouping,
    /// Figures of the conversations begun in the period.
    pub totals: Kpis,
    /// Each seed target with the period's figure.
    pub targets: Vec<TargetCheck>,
    pub series: Vec<SeriesRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<By>,
    /// One row per group, most conversations (then messages) first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupRow>,
    /// Events are counted every few seconds: up to this one.
    pub counted_up_to_event: u64,
}

/// The tenant's outcomes over a period: the totals by hour, and every
/// group's days summed per group.
pub struct Read {
    pub hours: BTreeMap<u64, Outcomes>,
    pub groups: BTreeMap<String, Outcomes>,
}

/// Read a period's buckets (counting what is new first).
pub fn read(app: &Switchyard, tenant: &str, period: Period) -> Result<Read> {
    app.tenant(tenant)?;
    crate::traffic::count_new(&app.storage, tenant)?;
    // Group buckets sit at their day's first hour: a period starting
    // inside a day still reads that day's groups (hours of totals only
    // from the period).
    let from_day_hour = period.from_hour / 24 * 24;
    let buckets = app
        .storage
        .kpi_range(tenant, from_day_hour, period.to_hour)?;
    let mut hours = BTreeMap::new();
    let mut groups: BTreeMap<String, Outcomes> = BTreeMap::new();
    for ((hour, group), outcomes) in buckets {
        if group.is_empty() {
            if hour >= period.from_hour {
                hours.insert(hour, outcomes);
            }
        } else {
            groups.entry(group).or_default().add(&outcomes);
        }
    }
    Ok(Read { hours, groups })
}

pub fn report(
    app: &Switchyard,
    tenant: &str,
    period: Period,
    grouping: Grouping,
    by: Option<By>,
) -> Result<KpiReport> {
    let read = read(app, tenant, period)?;
    let mut totals = Outcomes::default();
    let mut rows: BTreeMap<u64, Outcomes> = BTreeMap::new();
    // Every row of the period, a quiet one included.
    for hour in period.from_hour..period.to_hour {
        rows.entry(grouping.row_start(hour)).or_default();
    }
    for (hour, outcomes) in &read.hours {
        totals.add(outcomes);
        rows.entry(grouping.row_start(*hour))
            .or_default()
            .add(outcomes);
    }
    let series = rows
        .into_iter()
        .map(|(hour, outcomes)| SeriesRow {
            start_ms: hour * HOUR_MS,
            kpis: Kpis::of(&outcomes),
        })
        .collect();
    let mut groups: Vec<GroupRow> = match by {
        None => vec![],
        Some(by) => read
            .groups
            .iter()
            .filter_map(|(group, outcomes)| {
                Some(GroupRow {
                    key: group.strip_prefix(by.prefix())?.to_string(),
                    kpis: Kpis::of(outcomes),
                })
            })
            .collect(),
    };
    groups.sort_by(|a, b| {
        (b.kpis.conversations, b.kpis.messages, b.kpis.handoffs)
            .cmp(&(a.kpis.conversations, a.kpis.messages, a.kpis.handoffs))
            .then(a.key.cmp(&b.key))
    });
    let totals = Kpis::of(&totals);
    Ok(KpiReport {
        from_ms: period.from_hour * HOUR_MS,
        to_ms: period.to_hour * HOUR_MS,
        group: grouping,
        targets: totals.against_targets(),
        totals,
        series,
        by,
        groups,
        counted_up_to_event: app.storage.traffic_counted(tenant)?,
    })
}

/// The figures of the conversations begun today (UTC) as counted so far,
/// for the gauges: read only, never counting (a scrape must not wait for
/// the counter; it lags by its interval).
pub fn today(app: &Switchyard, tenant: &str, now_ms: u64) -> Result<Kpis> {
    let to_hour = now_ms / HOUR_MS + 1;
    let from_hour = now_ms / DAY_MS * 24;
    let mut totals = Outcomes::default();
    for ((_, group), outcomes) in app.storage.kpi_range(tenant, from_hour, to_hour)? {
        if group.is_empty() {
            totals.add(&outcomes);
        }
    }
    Ok(Kpis::of(&totals))
}

/// The series (or, with `by`, the groups) as CSV: the first column the
/// row's start (ISO hour, UTC) or its group's key, then every figure;
/// empty cells where nothing was measured.
pub fn to_csv(report: &KpiReport) -> String {
    let columns = super::COLUMNS;
    let mut out = String::new();
    let first = if report.by.is_some() {
        "group"
    } else {
        "start"
    };
    out.push_str(first);
    for column in columns {
        out.push(',');
        out.push_str(column);
    }
    out.push('\n');
    let mut line = |label: String, kpis: &Kpis| {
        let value = serde_json::to_value(kpis).unwrap_or_default();
        out.push_str(&csv_cell(&label));
        for column in columns {
            out.push(',');
            match &value[column] {
                serde_json::Value::Null => {}
                serde_json::Value::Number(n) => out.push_str(&n.to_string()),
                other => out.push_str(&csv_cell(&other.to_string())),
            }
        }
        out.push('\n');
    };
    if report.by.is_some() {
        for row in &report.groups {
            line(row.key.clone(), &row.kpis);
        }
    } else {
        for row in &report.series {
            line(
                crate::forecast::format_hour((row.start_ms / HOUR_MS) as i64),
                &row.kpis,
            );
        }
    }
    out
}

/// A CSV cell: quoted when it holds a comma, quote or line break, and
/// with a leading `'` when a spreadsheet would read it as a formula.
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday() {
        // 2026-11-30 was a Monday; 2026-12-06 a Sunday.
        let monday = crate::forecast::parse_hour("2026-11-30T00").unwrap() as u64;
        let sunday_night = crate::forecast::parse_hour("2026-12-06T23").unwrap() as u64;
        assert_eq!(Grouping::Week.row_start(sunday_night), monday);
        assert_eq!(Grouping::Week.row_start(monday), monday);
        assert_eq!(Grouping::Week.row_start(monday - 1), monday - 7 * 24);
        assert_eq!(Grouping::Day.row_start(monday + 13), monday);
    }

    #[test]
    fn dates_are_whole_days_both_included_and_bounded() {
        let p = Period::dates("2026-11-01", "2026-11-30").unwrap();
        assert_eq!(p.to_hour - p.from_hour, 30 * 24);
        assert!(Period::dates("2026-11-30", "2026-11-01").is_err());
        assert!(Period::dates("2026-02-30", "2026-03-01").is_err());
        // MAX_DAYS passes, one more does not.
        assert!(Period::dates("2026-01-01", "2026-04-02").is_ok());
        assert!(Period::dates("2026-01-01", "2026-04-03").is_err());
        assert!(Period::last_days(MAX_DAYS, 0).is_ok());
        assert!(Period::last_days(MAX_DAYS + 1, 0).is_err());
        assert!(Period::last_days(0, 0).is_err());
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("refund"), "refund");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
        assert_eq!(csv_cell("\t=cmd()"), "'\t=cmd()");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
