//! A canary (or a just-activated version) judged by business outcomes:
//! its conversations' containment, transfer rate, CSAT, adoption of
//! suggestions and corrections beside those of the version it competes
//! with, over the same period, each with its counts and a 95% interval,
//! and the interval of the difference, so a small sample reads as "not
//! clear yet" and not as a win.
//!
//! Rates use Wilson's score interval; a difference of two rates
//! Newcombe's hybrid score interval (method 10 of Newcombe 1998), which
//! stays inside [-1, 1] and behaves at small counts; the CSAT average uses
//! the normal interval of a mean from its sum of squares, and Welch's for
//! the difference. A canary decides a random (sticky) share of
//! conversations, so its comparison is a controlled one; an activation is
//! compared before and after, which days of the week and campaigns can
//! also move: the answer says which.

use serde::Serialize;

use super::Outcomes;
use super::report::{Period, read};
use crate::app::{Result, Switchyard};
use crate::model::{RolloutState, Slot};

/// 95% two-sided.
const Z: f64 = 1.959_964;
/// Fewer observations than this on either side: no verdict (the interval
/// is still shown). The intervals themselves carry the sample size; this
/// floor only keeps a verdict off a handful of conversations.
pub const MIN_SAMPLE: u64 = 10;

/// A rate and its Wilson interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    pub value: Option<f64>,
    /// Observations (the denominator).
    pub n: u64,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

pub fn wilson(successes: u64, n: u64) -> Estimate {
    if n == 0 {
        return Estimate {
            value: None,
            n,
            low: None,
            high: None,
        };
    }
    let (s, n_f) = (successes.min(n) as f64, n as f64);
    let p = s / n_f;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n_f)) / (1.0 + z2 / n_f);
    let half = Z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / (1.0 + z2 / n_f);
    Estimate {
        value: Some(p),
        n,
        low: Some((centre - half).max(0.0)),
        high: Some((centre + half).min(1.0)),
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom, by the
/// Cornish-Fisher expansion around the normal one (Abramowitz & Stegun
/// 26.7.5): within 0.01 of the tables from 3 degrees of freedom, and the
/// normal quantile in the limit.
pub fn t_975(df: f64) -> f64 {
    if !df.is_finite() || df <= 0.0 {
        return Z;
    }
    let z = Z;
    let g1 = (z.powi(3) + z) / 4.0;
    let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
    let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
    let g4 = (79.0 * z.powi(9) + 776.0 * z.powi(7) + 1482.0 * z.powi(5)
        - 1920.0 * z.powi(3)
        - 945.0 * z)
        / 92_160.0;
    z + g1 / df + g2 / df.powi(2) + g3 / df.powi(3) + g4 / df.powi(4)
}

/// A mean of scores from their count, sum and sum of squares, with its
/// 95% t interval (none from a single score); the second value is the
/// standard error.
pub fn mean(n: u64, sum: u64, sum_sq: u64) -> (Estimate, f64) {
    if n == 0 {
        return (
            Estimate {
                value: None,
                n,
                low: None,
                high: None,
            },
            0.0,
        );
    }
    let n_f = n as f64;
    let m = sum as f64 / n_f;
    let variance = if n > 1 {
        ((sum_sq as f64 - n_f * m * m) / (n_f - 1.0)).max(0.0)
    } else {
        0.0
    };
    let se = (variance / n_f).sqrt();
    let half = t_975(n_f - 1.0) * se;
    (
        Estimate {
            value: Some(m),
            n,
            low: (n > 1).then_some(m - half),
            high: (n > 1).then_some(m + half),
        },
        se,
    )
}

/// Newcombe's hybrid score interval of `a - b`.
pub fn rate_difference(a: &Estimate, b: &Estimate) -> Option<(f64, f64, f64)> {
    let (pa, la, ua) = (a.value?, a.low?, a.high?);
    let (pb, lb, ub) = (b.value?, b.low?, b.high?);
    let d = pa - pb;
    let low = d - ((pa - la).powi(2) + (ub - pb).powi(2)).sqrt();
    let high = d + ((ua - pa).powi(2) + (pb - lb).powi(2)).sqrt();
    Some((d, low.max(-1.0), high.min(1.0)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The interval of the difference lies on the better side of 0.
    Better,
    Worse,
    /// Enough observations; the interval holds 0.
    NoClearDifference,
    /// Fewer than [`MIN_SAMPLE`] observations on a side.
    TooFewToTell,
}

#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub kpi: &'static str,
    /// Higher is better (containment) or lower (transfer rate).
    pub higher_is_better: bool,
    pub candidate: Estimate,
    pub baseline: Estimate,
    /// Candidate minus baseline, with its 95% interval.
    pub difference: Option<f64>,
    pub difference_low: Option<f64>,
    pub difference_high: Option<f64>,
    pub verdict: Verdict,
}

fn figure(
    kpi: &'static str,
    higher_is_better: bool,
    candidate: Estimate,
    baseline: Estimate,
    difference: Option<(f64, f64, f64)>,
) -> Figure {
    let verdict = match difference {
        _ if candidate.n < MIN_SAMPLE || baseline.n < MIN_SAMPLE => Verdict::TooFewToTell,
        Some((_, low, _)) if low > 0.0 => {
            if higher_is_better {
                Verdict::Better
            } else {
                Verdict::Worse
            }
        }
        Some((_, _, high)) if high < 0.0 => {
            if higher_is_better {
                Verdict::Worse
            } else {
                Verdict::Better
            }
        }
        Some(_) => Verdict::NoClearDifference,
        None => Verdict::TooFewToTell,
    };
    Figure {
        kpi,
        higher_is_better,
        candidate,
        baseline,
        difference: difference.map(|d| d.0),
        difference_low: difference.map(|d| d.1),
        difference_high: difference.map(|d| d.2),
        verdict,
    }
}

/// The outcomes compared, candidate against baseline.
pub fn figures(candidate: &Outcomes, baseline: &Outcomes) -> Vec<Figure> {
    let rate = |name: &'static str, better_high: bool, f: &dyn Fn(&Outcomes) -> (u64, u64)| {
        let (cs, cn) = f(candidate);
        let (bs, bn) = f(baseline);
        let (c, b) = (wilson(cs, cn), wilson(bs, bn));
        figure(name, better_high, c, b, rate_difference(&c, &b))
    };
    let bot_resolved = |o: &Outcomes| o.bot_resolved.max(0) as u64;
    let (c_csat, c_se) = mean(
        candidate.surveys_answered,
        candidate.csat_sum,
        candidate.csat_sum_sq,
    );
    let (b_csat, b_se) = mean(
        baseline.surveys_answered,
        baseline.csat_sum,
        baseline.csat_sum_sq,
    );
    // Welch: the t quantile at the Welch-Satterthwaite degrees of freedom.
    let csat_difference = match (c_csat.value, b_csat.value) {
        (Some(c), Some(b)) if c_csat.n > 1 && b_csat.n > 1 => {
            let (vc, vb) = (c_se * c_se, b_se * b_se);
            let df = if vc + vb > 0.0 {
                (vc + vb).powi(2)
                    / (vc * vc / (c_csat.n as f64 - 1.0) + vb * vb / (b_csat.n as f64 - 1.0))
            } else {
                f64::INFINITY
            };
            let half = t_975(df) * (vc + vb).sqrt();
            Some((c - b, c - b - half, c - b + half))
        }
        _ => None,
    };
    vec![
        rate("containment_rate", true, &|o| {
            (bot_resolved(o), bot_resolved(o) + o.handed_off)
        }),
        rate("transfer_rate", false, &|o| (o.handed_off, o.started)),
        rate("ai_instant_response_rate", true, &|o| {
            (o.bot_answered, o.bot_turns)
        }),
        rate("csat_high_share", true, &|o| {
            (o.csat_high, o.surveys_answered)
        }),
        figure("csat_average", true, c_csat, b_csat, csat_difference),
        rate("adoption_rate", true, &|o| {
            (o.accepted + o.edited, o.accepted + o.edited + o.dismissed)
        }),
        rate("correction_rate", false, &|o| {
            (o.corrected.max(0) as u64, o.messages)
        }),
        rate("first_contact_resolution", true, &|o| {
            (o.fcr_resolved.saturating_sub(o.repeats), o.fcr_resolved)
        }),
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub version_id: u64,
    pub name: String,
    pub version: String,
    pub state: RolloutState,
    pub conversations: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub slot: Slot,
    /// `canary` (decided a random share of the same days' conversations) or
    /// `activation` (before and after: other things changed too).
    pub design: &'static str,
    pub candidate: Side,
    pub baseline: Side,
    pub figures: Vec<Figure>,
}

/// Every canary of the tenant against the active version of its lane,
/// and every version activated in the period against the version of its
/// lane that decided before; `slot`/`candidate`/`baseline` pick one pair.
pub fn compare(
    app: &Switchyard,
    tenant: &str,
    period: Period,
    pick: Option<(Slot, u64, u64)>,
) -> Result<Vec<Comparison>> {
    let read = read(app, tenant, period)?;
    let bindings = app.storage.bindings(tenant)?;
    let outcomes_of = |slot: Slot, id: u64| {
        read.groups
            .get(&super::count::group_version(slot.as_str(), id))
            .cloned()
            .unwrap_or_default()
    };
    let mut pairs: Vec<(Slot, u64, u64, &'static str)> = Vec::new();
    if let Some((slot, candidate, baseline)) = pick {
        let rollout = bindings.slots.get(&slot);
        for id in [candidate, baseline] {
            if rollout.and_then(|r| r.version(id)).is_none() {
                return Err(crate::app::Error::NotFound(format!(
                    "version {id} is not one of the tenant's {} versions",
                    slot.as_str()
                )));
            }
        }
        pairs.push((slot, candidate, baseline, "chosen"));
    } else {
        for (slot, rollout) in &bindings.slots {
            for version in &rollout.versions {
                let lane_active = || {
                    rollout
                        .versions
                        .iter()
                        .find(|v| v.lane == version.lane && v.state == RolloutState::Active)
                };
                match version.state {
                    RolloutState::Canary => {
                        if let Some(active) = lane_active() {
                            pairs.push((*slot, version.id, active.id, "canary"));
                        }
                    }
                    RolloutState::Active
                        if version.changed_at_ms >= period.from_hour * crate::traffic::HOUR_MS =>
                    {
                        // The predecessor: the lane's version in the
                        // active set this activation replaced (the newest
                        // set without this version: later changes of
                        // other lanes keep it in theirs), if it decided
                        // anything in the period.
                        let before = rollout
                            .history
                            .iter()
                            .rev()
                            .find(|ids| !ids.contains(&version.id))
                            .and_then(|ids| {
                                rollout.versions.iter().find(|v| {
                                    v.lane == version.lane
                                        && v.id != version.id
                                        && ids.contains(&v.id)
                                })
                            });
                        if let Some(before) = before
                            && outcomes_of(*slot, before.id).started > 0
                        {
                            pairs.push((*slot, version.id, before.id, "activation"));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let side = |slot: Slot, id: u64| {
        let known = bindings.slots.get(&slot).and_then(|r| r.version(id));
        Side {
            version_id: id,
            name: known.map(|v| v.name.clone()).unwrap_or_default(),
            version: known.map(|v| v.version.clone()).unwrap_or_default(),
            state: known.map_or(RolloutState::Retired, |v| v.state),
            conversations: outcomes_of(slot, id).started,
        }
    };
    Ok(pairs
        .into_iter()
        .map(|(slot, candidate, baseline, design)| Comparison {
            slot,
            design,
            candidate: side(slot, candidate),
            baseline: side(slot, baseline),
            figures: figures(&outcomes_of(slot, candidate), &outcomes_of(slot, baseline)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662.
        let e = wilson(81, 263);
        assert!((e.low.unwrap() - 0.2553).abs() < 5e-4, "{e:?}");
        assert!((e.high.unwrap() - 0.3662).abs() < 5e-4, "{e:?}");
        // 0 of 10 still has an upper bound: 0.2775.
        let zero = wilson(0, 10);
        assert_eq!(zero.low, Some(0.0));
        assert!((zero.high.unwrap() - 0.2775).abs() < 5e-4);
        assert_eq!(wilson(0, 0).value, None);
    }

    #[test]
    fn newcombe_difference_matches_published_values() {
        // Newcombe (1998), table II example: 56/70 - 48/80 = 0.2000,
        // method 10 interval 0.0524 to 0.3339.
        let (d, low, high) = rate_difference(&wilson(56, 70), &wilson(48, 80)).unwrap();
        assert!((d - 0.2).abs() < 1e-9);
        assert!((low - 0.0524).abs() < 5e-4, "{low}");
        assert!((high - 0.3339).abs() < 5e-4, "{high}");
    }

    #[test]
    fn a_small_sample_is_not_a_difference() {
        // 1 in 10 against 300 in 1,000: the interval of the difference
        // holds 0, so no verdict however different the rates look.
        let candidate = Outcomes {
            started: 10,
            handed_off: 1,
            ..Outcomes::default()
        };
        let baseline = Outcomes {
            started: 1000,
            handed_off: 300,
            ..Outcomes::default()
        };
        let transfer = figures(&candidate, &baseline)
            .into_iter()
            .find(|f| f.kpi == "transfer_rate")
            .unwrap();
        assert_eq!(transfer.verdict, Verdict::NoClearDifference);
        assert!(transfer.difference_low.unwrap() < 0.0 && transfer.difference_high.unwrap() > 0.0);
        // Under the floor: no verdict at all.
        let nine = Outcomes {
            started: 9,
            handed_off: 0,
            ..Outcomes::default()
        };
        let transfer = figures(&nine, &baseline)
            .into_iter()
            .find(|f| f.kpi == "transfer_rate")
            .unwrap();
        assert_eq!(transfer.verdict, Verdict::TooFewToTell);
        // The same rates on enough conversations: the canary hands fewer over.
        let candidate = Outcomes {
            started: 1000,
            handed_off: 100,
            ..Outcomes::default()
        };
        let transfer = figures(&candidate, &baseline)
            .into_iter()
            .find(|f| f.kpi == "transfer_rate")
            .unwrap();
        assert_eq!(transfer.verdict, Verdict::Better);
        assert!(transfer.difference_high.unwrap() < 0.0);
        // Equal rates: no clear difference, the interval holds 0.
        let same = figures(&baseline, &baseline);
        let transfer = same.iter().find(|f| f.kpi == "transfer_rate").unwrap();
        assert_eq!(transfer.verdict, Verdict::NoClearDifference);
        assert!(transfer.difference_low.unwrap() < 0.0 && transfer.difference_high.unwrap() > 0.0);
    }

    #[test]
    fn t_quantiles_match_the_tables() {
        // Student's t, 97.5%: df 3 3.182, 10 2.228, 30 2.042, 100 1.984.
        for (df, table) in [(3.0, 3.182), (10.0, 2.228), (30.0, 2.042), (100.0, 1.984)] {
            assert!((t_975(df) - table).abs() < 0.01, "df {df}: {}", t_975(df));
        }
        assert!((t_975(f64::INFINITY) - 1.96).abs() < 0.001);
    }

    #[test]
    fn csat_mean_interval_from_sums() {
        // Scores 4, 5, 3, 4: mean 4, sample variance 2/3.
        let (e, se) = mean(4, 16, 16 + 25 + 9 + 16);
        assert_eq!(e.value, Some(4.0));
        assert!((se - (2.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
        assert!(e.low.unwrap() < 4.0 && e.high.unwrap() > 4.0);
        // t with 3 degrees of freedom, not the normal 1.96.
        let half = e.high.unwrap() - 4.0;
        assert!((half - 3.182 * se).abs() < 0.01, "{half}");
        // One score: a value, no interval.
        let (one, _) = mean(1, 5, 25);
        assert_eq!((one.value, one.low, one.high), (Some(5.0), None, None));
    }
}
