//! Taylor's double-seasonal Holt-Winters for hourly volume (J. W. Taylor,
//! "Short-term electricity demand forecasting using double seasonal
//! exponential smoothing", JORS 54, 2003): a level, a within-day cycle
//! (24 hours) and a within-week cycle (168 hours), additive, with the
//! first-order autocorrelation of the one-step errors (`phi`) carried into
//! the forecast. In error-correction form: with the one-step error
//! `e = y - (level + day[h] + week[h] + phi * e_prev)`, each component
//! moves by its smoothing weight times `e`.
//!
//! Closed hours (absent from the series) are skipped, neither learnt from
//! nor forecast: the components of an hour of the week that is always
//! closed keep their start. The start: the level is the mean of the first
//! two weeks' open hours, the weekly cycle each hour of the week's mean
//! over those weeks less the level, the daily cycle zero (the weekly cycle
//! holds the whole shape at first; the daily one learns what repeats every
//! day since).

use super::{HOURS_PER_WEEK, Series};

/// Smoothing weights of the level, the daily and the weekly cycle, and the
/// error autocorrelation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HwParams {
    pub alpha: f64,
    pub delta: f64,
    pub omega: f64,
    pub phi: f64,
}

/// Hours the start is estimated from.
const START_HOURS: i64 = 2 * HOURS_PER_WEEK;

struct State {
    level: f64,
    day: [f64; 24],
    week: [f64; HOURS_PER_WEEK as usize],
    error: f64,
}

impl State {
    fn start(series: &Series, first: i64) -> Option<State> {
        let (mut sum, mut n) = (0.0, 0usize);
        let mut week_sum = [0.0; HOURS_PER_WEEK as usize];
        let mut week_n = [0usize; HOURS_PER_WEEK as usize];
        for (&hour, &y) in series.points.range(first..first + START_HOURS) {
            sum += y;
            n += 1;
            let i = hour.rem_euclid(HOURS_PER_WEEK) as usize;
            week_sum[i] += y;
            week_n[i] += 1;
        }
        if n == 0 {
            return None;
        }
        let level = sum / n as f64;
        let mut week = [0.0; HOURS_PER_WEEK as usize];
        for i in 0..week.len() {
            if week_n[i] > 0 {
                week[i] = week_sum[i] / week_n[i] as f64 - level;
            }
        }
        Some(State {
            level,
            day: [0.0; 24],
            week,
            error: 0.0,
        })
    }

    /// The forecast `steps` hours after the last one learnt, for `hour`.
    fn predict(&self, hour: i64, steps: i64, phi: f64) -> f64 {
        self.level
            + self.day[hour.rem_euclid(24) as usize]
            + self.week[hour.rem_euclid(HOURS_PER_WEEK) as usize]
            + phi.powi(steps.clamp(0, 1_000) as i32) * self.error
    }

    fn learn(&mut self, hour: i64, y: f64, p: HwParams) {
        let e = y - self.predict(hour, 1, p.phi);
        self.level += p.alpha * e;
        self.day[hour.rem_euclid(24) as usize] += p.delta * e;
        self.week[hour.rem_euclid(HOURS_PER_WEEK) as usize] += p.omega * e;
        self.error = e;
    }
}

/// Forecasts from each origin (ascending) for its targets, learning the
/// series once up to each origin in turn; `None` for an origin with less
/// than the start's two weeks behind it (zeros are returned there).
pub fn forecasts(
    series: &Series,
    origins: &[i64],
    targets: &[Vec<i64>],
    p: HwParams,
) -> Vec<Vec<f64>> {
    let Some(first) = series.first_hour() else {
        return targets.iter().map(|t| vec![0.0; t.len()]).collect();
    };
    let learn_from = first + START_HOURS;
    let mut state = State::start(series, first);
    let mut learnt_to = learn_from;
    let mut last_learnt = learn_from - 1;
    let mut out = Vec::with_capacity(origins.len());
    for (origin, wanted) in origins.iter().zip(targets) {
        let Some(s) = state.as_mut() else {
            out.push(vec![0.0; wanted.len()]);
            continue;
        };
        if *origin < learn_from {
            out.push(vec![0.0; wanted.len()]);
            continue;
        }
        for (&hour, &y) in series.points.range(learnt_to..*origin) {
            s.learn(hour, y, p);
            last_learnt = hour;
        }
        learnt_to = learnt_to.max(*origin);
        out.push(
            wanted
                .iter()
                .map(|t| s.predict(*t, t - last_learnt, p.phi).max(0.0))
                .collect(),
        );
    }
    out
}

/// The weights tried when choosing on validation origins.
pub fn grid() -> Vec<HwParams> {
    let mut out = Vec::new();
    for alpha in [0.005, 0.01, 0.02, 0.05, 0.1] {
        for delta in [0.0, 0.05, 0.1, 0.2] {
            for omega in [0.05, 0.1, 0.2, 0.3, 0.4] {
                for phi in [0.0, 0.5, 0.8] {
                    out.push(HwParams {
                        alpha,
                        delta,
                        omega,
                        phi,
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn series(f: impl Fn(i64) -> Option<f64>, hours: i64) -> Series {
        Series {
            points: (0..hours)
                .filter_map(|h| f(h).map(|y| (h, y)))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn a_pure_weekly_pattern_is_forecast_exactly() {
        // 10 weeks of the same week: after the start nothing is learnt
        // (every error is 0), so the forecast is the week again.
        let shape =
            |h: i64| ((h.rem_euclid(168)) % 24) as f64 * 3.0 + (h.rem_euclid(168) / 24) as f64;
        let s = series(|h| Some(shape(h)), 10 * 168);
        let origin = 10 * 168;
        let targets: Vec<i64> = (origin..origin + 48).collect();
        let p = HwParams {
            alpha: 0.1,
            delta: 0.1,
            omega: 0.2,
            phi: 0.5,
        };
        let got = &forecasts(&s, &[origin], std::slice::from_ref(&targets), p)[0];
        for (t, f) in targets.iter().zip(got) {
            assert!(
                (f - shape(*t)).abs() < 1e-9,
                "hour {t}: {f} against {}",
                shape(*t)
            );
        }
    }

    #[test]
    fn a_step_in_level_is_followed() {
        // Flat 10 a hour for 6 weeks, then 20: the level moves towards 20.
        let s = series(|h| Some(if h < 6 * 168 { 10.0 } else { 20.0 }), 8 * 168);
        let origin = 8 * 168;
        let p = HwParams {
            alpha: 0.05,
            delta: 0.0,
            omega: 0.0,
            phi: 0.0,
        };
        let got = forecasts(&s, &[origin], &[vec![origin]], p)[0][0];
        assert!(got > 19.0 && got <= 20.0 + 1e-9, "{got}");
    }

    #[test]
    fn closed_hours_are_neither_learnt_nor_forecast_and_early_origins_give_zeros() {
        // Open 8 to 18 only; closed hours absent.
        let open = |h: i64| (8..18).contains(&h.rem_euclid(24)).then_some(5.0);
        let s = series(open, 6 * 168);
        let origin = 6 * 168;
        let targets: Vec<i64> = (origin..origin + 24)
            .filter(|h| open(*h).is_some())
            .collect();
        let p = HwParams {
            alpha: 0.1,
            delta: 0.1,
            omega: 0.1,
            phi: 0.8,
        };
        let got = &forecasts(&s, &[100, origin], &[vec![100], targets.clone()], p);
        assert_eq!(got[0], vec![0.0], "before two weeks: no forecast");
        assert!(
            got[1].iter().all(|f| (f - 5.0).abs() < 1e-9),
            "{:?}",
            got[1]
        );
    }
}
