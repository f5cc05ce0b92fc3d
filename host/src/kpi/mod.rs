//! The numbers a service team is run by, per conversation outcome: the AI's
//! instant answers, containment, handoffs, first response and resolution
//! times, first-contact resolution, CSAT, the adoption of suggestions, the
//! agents' corrections and tickets, each beside the seeds' target.
//!
//! Counted incrementally from the event log by the traffic counter
//! ([`crate::traffic::count_new`], same pass, same atomic batch): a
//! conversation's outcomes go to the bucket of the hour it **began**
//! (whenever they happen), so a period's figures are those of the
//! conversations begun in it and a late handoff or survey moves the figure
//! of the day it belongs to. `count.rs` holds the rules, `report.rs`
//! reads a period, `compare.rs` sets two plugin versions side by side
//! with confidence intervals, `weak_spots.rs` ranks the bot's weak intents
//! and `coaching.rs` an agent's gaps.

pub mod coaching;
pub mod compare;
pub mod count;
pub mod report;
pub mod weak_spots;

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How a customer is named in the event log and the counts: an HMAC of
/// tenant and id under a secret of the store (`Switchyard::customer_key`),
/// so a customer forgotten (`DELETE /v1/customers/{id}`) is not named by
/// what outlives them, and an id (an e-mail address, a phone number) cannot
/// be found again by hashing guesses.
pub fn customer_key(secret: &[u8], tenant: &str, customer: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(tenant.as_bytes());
    mac.update(&[0]);
    mac.update(customer.as_bytes());
    mac.finalize().into_bytes()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Upper bounds (seconds) of the duration histogram's buckets; a last
/// bucket holds the rest. Close where targets sit (30 s first response),
/// wider further out.
pub const BOUNDS_SECS: [u64; 24] = [
    1, 2, 5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1_800, 3_600, 7_200, 14_400,
    28_800, 86_400, 172_800, 604_800,
];

/// Durations as a histogram: buckets add up, so a period's median and p90
/// come from its hours' buckets without the single values. A quantile is
/// interpolated inside its bucket: exact at the bounds, off by at most the
/// bucket's width between them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Durations {
    pub n: u64,
    pub sum_ms: u64,
    /// Per bucket of [`BOUNDS_SECS`] and one past it; empty when `n` is 0.
    pub buckets: Vec<u64>,
}

impl Durations {
    pub fn record(&mut self, ms: u64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; BOUNDS_SECS.len() + 1];
        }
        let index = BOUNDS_SECS
            .iter()
            .position(|bound| ms <= bound * 1000)
            .unwrap_or(BOUNDS_SECS.len());
        self.buckets[index] += 1;
        self.n += 1;
        self.sum_ms += ms;
    }

    pub fn add(&mut self, other: &Durations) {
        if other.n == 0 {
            return;
        }
        if self.buckets.is_empty() {
            self.buckets = vec![0; BOUNDS_SECS.len() + 1];
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.n += other.n;
        self.sum_ms += other.sum_ms;
    }

    pub fn mean_secs(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_ms as f64 / self.n as f64 / 1000.0)
    }

    /// The `q` quantile in seconds (0 < q < 1), by linear interpolation
    /// inside the bucket that holds it; the open last bucket answers its
    /// lower bound.
    pub fn quantile_secs(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = q * self.n as f64;
        let mut below = 0u64;
        for (index, count) in self.buckets.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            if (below + count) as f64 >= rank {
                let low = if index == 0 {
                    0
                } else {
                    BOUNDS_SECS[index - 1]
                } as f64;
                let Some(high) = BOUNDS_SECS.get(index) else {
                    return Some(low);
                };
                let within = ((rank - below as f64) / *count as f64).clamp(0.0, 1.0);
                return Some(low + within * (*high as f64 - low));
            }
            below += count;
        }
        BOUNDS_SECS.last().map(|b| *b as f64)
    }
}

/// At most this many example conversations per kind in a day's intent bucket.
pub const EXAMPLES: usize = 3;

/// What the conversations begun in one bucket (an hour, or a day of one
/// group) came to. Signed fields go down when an outcome is taken back (a
/// correction undone, a bot resolution that later reached a person).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcomes {
    /// Conversations begun.
    pub started: u64,
    /// Conversations handed to people (once each, however often).
    pub handed_off: u64,
    /// Handoffs, a reopened conversation handed again included.
    pub handoffs: u64,
    /// Conversations resolved while no person had ever held them.
    pub bot_resolved: i64,
    /// Customer messages.
    pub messages: u64,
    /// Customer messages that came while the bot held the conversation...
    pub bot_turns: u64,
    /// ...and the bot answered at once.
    pub bot_answered: u64,
    /// Customer messages whose intent an agent corrected (net of undos).
    pub corrected: i64,
    /// From a handoff to the first reply a person sent the customer.
    pub first_response: Durations,
    /// Agents given the conversation (claimed, routed or assigned).
    pub assigned: u64,
    /// Agents' transfers to another queue or agent.
    pub transfers: u64,
    /// Conversations resolved (once each: the first resolution).
    pub resolved: u64,
    /// From the first message to the first resolution.
    pub resolution: Durations,
    /// From the resolving agent's assignment to the resolution.
    pub handling: Durations,
    /// Resolved conversations whose customer and intent are known...
    pub fcr_resolved: u64,
    /// ...that the same customer came back about within 7 days.
    pub repeats: u64,
    pub surveys_sent: u64,
    pub surveys_answered: u64,
    pub csat_sum: u64,
    pub csat_sum_sq: u64,
    /// Answers of 4 or 5.
    pub csat_high: u64,
    /// Suggestions sent as they were, edited, or dismissed.
    pub accepted: u64,
    pub edited: u64,
    pub dismissed: u64,
    pub tickets_opened: u64,
    /// Tickets solved or closed (each closure once)...
    pub tickets_closed: u64,
    /// ...within 24 h of being opened.
    pub tickets_closed_24h: u64,
    /// From a ticket's opening to its closure.
    pub ticket_handling: Durations,
    /// A few conversations per kind (`handoff`, `corrected`, `low_csat`,
    /// `repeat`), kept in the day buckets of an intent for the weak spots.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub examples: BTreeMap<String, Vec<String>>,
}

impl Outcomes {
    pub fn add(&mut self, other: &Outcomes) {
        self.started += other.started;
        self.handed_off += other.handed_off;
        self.handoffs += other.handoffs;
        self.bot_resolved += other.bot_resolved;
        self.messages += other.messages;
        self.bot_turns += other.bot_turns;
        self.bot_answered += other.bot_answered;
        self.corrected += other.corrected;
        self.first_response.add(&other.first_response);
        self.assigned += other.assigned;
        self.transfers += other.transfers;
        self.resolved += other.resolved;
        self.resolution.add(&other.resolution);
        self.handling.add(&other.handling);
        self.fcr_resolved += other.fcr_resolved;
        self.repeats += other.repeats;
        self.surveys_sent += other.surveys_sent;
        self.surveys_answered += other.surveys_answered;
        self.csat_sum += other.csat_sum;
        self.csat_sum_sq += other.csat_sum_sq;
        self.csat_high += other.csat_high;
        self.accepted += other.accepted;
        self.edited += other.edited;
        self.dismissed += other.dismissed;
        self.tickets_opened += other.tickets_opened;
        self.tickets_closed += other.tickets_closed;
        self.tickets_closed_24h += other.tickets_closed_24h;
        self.ticket_handling.add(&other.ticket_handling);
        for (kind, ids) in &other.examples {
            let mine = self.examples.entry(kind.clone()).or_default();
            for id in ids {
                if mine.len() < EXAMPLES && !mine.contains(id) {
                    mine.push(id.clone());
                }
            }
        }
    }
}

/// Whether higher or lower is better for a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtLeast,
    AtMost,
}

/// One figure the seeds manage by (seed 004), and its target.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Target {
    pub kpi: &'static str,
    pub goal: Goal,
    pub value: f64,
}

pub const TARGETS: [Target; 7] = [
    Target {
        kpi: "ai_instant_response_rate",
        goal: Goal::AtLeast,
        value: 0.95,
    },
    Target {
        kpi: "transfer_rate",
        goal: Goal::AtMost,
        value: 0.15,
    },
    Target {
        kpi: "first_response_median_secs",
        goal: Goal::AtMost,
        value: 30.0,
    },
    Target {
        kpi: "first_contact_resolution",
        goal: Goal::AtLeast,
        value: 0.85,
    },
    Target {
        kpi: "ai_accuracy_as_agents_judge",
        goal: Goal::AtLeast,
        value: 0.90,
    },
    Target {
        kpi: "csat_average",
        goal: Goal::AtLeast,
        value: 4.2,
    },
    // Seed 004 asks tickets handed to other departments to close within
    // 24 h; it gives no share, so the bound is on the median.
    Target {
        kpi: "ticket_handling_median_secs",
        goal: Goal::AtMost,
        value: 86_400.0,
    },
];

pub fn target_of(kpi: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.kpi == kpi)
}

/// The figures of a set of outcomes: each rate with the counts it comes
/// from; `None` where nothing was there to measure.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Kpis {
    pub conversations: u64,
    pub messages: u64,
    /// Customer messages the bot answered at once, of those that came
    /// while it held the conversation.
    pub ai_instant_response_rate: Option<f64>,
    /// Conversations resolved without a person, of those that ended that
    /// way or reached a person (one resolved by the bot and later handed
    /// over counts as handed over; one still with the bot, neither).
    pub containment_rate: Option<f64>,
    /// Conversations handed to a person, of those begun.
    pub transfer_rate: Option<f64>,
    pub first_response_median_secs: Option<f64>,
    pub first_response_p90_secs: Option<f64>,
    pub first_responses: u64,
    pub resolution_median_secs: Option<f64>,
    pub resolution_p90_secs: Option<f64>,
    pub resolved: u64,
    /// Mean time from the resolving agent's assignment to the resolution:
    /// the handle time staffing reads.
    pub handling_mean_secs: Option<f64>,
    /// Resolved conversations the same customer did not come back about
    /// (same intent) within 7 days.
    pub first_contact_resolution: Option<f64>,
    pub csat_average: Option<f64>,
    /// Share of answers that were 4 or 5.
    pub csat_high_share: Option<f64>,
    /// Surveys answered of those sent.
    pub csat_response_rate: Option<f64>,
    pub surveys_answered: u64,
    /// Suggestions used (sent as is or edited) of those acted on.
    pub adoption_rate: Option<f64>,
    pub accepted: u64,
    pub edited: u64,
    pub dismissed: u64,
    /// Customer messages whose intent no agent corrected.
    pub ai_accuracy_as_agents_judge: Option<f64>,
    pub corrected: i64,
    pub handoffs: u64,
    pub transfers: u64,
    pub ticket_handling_median_secs: Option<f64>,
    pub tickets_opened: u64,
    pub tickets_closed: u64,
    /// Tickets closed within 24 h of opening, of those closed (each
    /// ticket once, whoever opened it: a message, a plugin or a survey).
    pub cross_department_closure_24h: Option<f64>,
}

/// The figures of [`Kpis`] in their order, for tables (CSV, CLI).
pub const COLUMNS: [&str; 29] = [
    "conversations",
    "messages",
    "ai_instant_response_rate",
    "containment_rate",
    "transfer_rate",
    "first_response_median_secs",
    "first_response_p90_secs",
    "first_responses",
    "resolution_median_secs",
    "resolution_p90_secs",
    "resolved",
    "handling_mean_secs",
    "first_contact_resolution",
    "csat_average",
    "csat_high_share",
    "csat_response_rate",
    "surveys_answered",
    "adoption_rate",
    "accepted",
    "edited",
    "dismissed",
    "ai_accuracy_as_agents_judge",
    "corrected",
    "handoffs",
    "transfers",
    "ticket_handling_median_secs",
    "tickets_opened",
    "tickets_closed",
    "cross_department_closure_24h",
];

fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| (part / whole).clamp(0.0, 1.0))
}

impl Kpis {
    pub fn of(o: &Outcomes) -> Kpis {
        let bot_resolved = o.bot_resolved.max(0) as f64;
        let acted = (o.accepted + o.edited + o.dismissed) as f64;
        Kpis {
            conversations: o.started,
            messages: o.messages,
            ai_instant_response_rate: ratio(o.bot_answered as f64, o.bot_turns as f64),
            containment_rate: ratio(bot_resolved, bot_resolved + o.handed_off as f64),
            transfer_rate: ratio(o.handed_off as f64, o.started as f64),
            first_response_median_secs: o.first_response.quantile_secs(0.5),
            first_response_p90_secs: o.first_response.quantile_secs(0.9),
            first_responses: o.first_response.n,
            resolution_median_secs: o.resolution.quantile_secs(0.5),
            resolution_p90_secs: o.resolution.quantile_secs(0.9),
            resolved: o.resolved,
            handling_mean_secs: o.handling.mean_secs(),
            first_contact_resolution: ratio(
                o.fcr_resolved.saturating_sub(o.repeats) as f64,
                o.fcr_resolved as f64,
            ),
            csat_average: (o.surveys_answered > 0)
                .then(|| o.csat_sum as f64 / o.surveys_answered as f64),
            csat_high_share: ratio(o.csat_high as f64, o.surveys_answered as f64),
            csat_response_rate: ratio(o.surveys_answered as f64, o.surveys_sent as f64),
            surveys_answered: o.surveys_answered,
            adoption_rate: ratio((o.accepted + o.edited) as f64, acted),
            accepted: o.accepted,
            edited: o.edited,
            dismissed: o.dismissed,
            ai_accuracy_as_agents_judge: ratio(
                o.messages as f64 - o.corrected.max(0) as f64,
                o.messages as f64,
            ),
            corrected: o.corrected,
            handoffs: o.handoffs,
            transfers: o.transfers,
            ticket_handling_median_secs: o.ticket_handling.quantile_secs(0.5),
            tickets_opened: o.tickets_opened,
            tickets_closed: o.tickets_closed,
            cross_department_closure_24h: ratio(
                o.tickets_closed_24h as f64,
                o.tickets_closed as f64,
            ),
        }
    }

    /// Each target with this set's figure and whether it meets it.
    pub fn against_targets(&self) -> Vec<TargetCheck> {
        let value = serde_json::to_value(self).unwrap_or_default();
        TARGETS
            .iter()
            .map(|t| {
                let figure = value[t.kpi].as_f64();
                TargetCheck {
                    target: *t,
                    figure,
                    meets: figure.map(|f| match t.goal {
                        Goal::AtLeast => f >= t.value,
                        Goal::AtMost => f <= t.value,
                    }),
                }
            })
            .collect()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetCheck {
    #[serde(flatten)]
    pub target: Target,
    pub figure: Option<f64>,
    pub meets: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_exact_at_bucket_bounds_and_inside_the_bucket_between() {
        let mut d = Durations::default();
        assert_eq!(d.quantile_secs(0.5), None);
        for secs in [10, 20, 30, 60] {
            d.record(secs * 1000);
        }
        // Two of four at or below 20 s: the median is the 20 s bound.
        assert_eq!(d.quantile_secs(0.5), Some(20.0));
        // p90 lies in the 45-60 s bucket.
        let p90 = d.quantile_secs(0.9).unwrap();
        assert!((45.0..=60.0).contains(&p90), "{p90}");
        assert_eq!(d.mean_secs(), Some(30.0));
        // Past the last bound: its lower bound, never more.
        let mut long = Durations::default();
        long.record(30 * 86_400_000);
        assert_eq!(long.quantile_secs(0.5), Some(604_800.0));
    }

    #[test]
    fn outcomes_add_keeps_a_few_examples_without_repeats() {
        let mut a = Outcomes::default();
        a.examples
            .insert("handoff".into(), vec!["c1".into(), "c2".into()]);
        let mut b = Outcomes::default();
        b.examples.insert(
            "handoff".into(),
            vec!["c2".into(), "c3".into(), "c4".into()],
        );
        b.first_response.record(5_000);
        a.add(&b);
        assert_eq!(a.examples["handoff"], vec!["c1", "c2", "c3"]);
        assert_eq!(a.first_response.n, 1);
    }

    #[test]
    fn targets_read_their_figures() {
        let kpis = Kpis {
            transfer_rate: Some(0.2),
            csat_average: Some(4.5),
            ..Kpis::default()
        };
        let checks = kpis.against_targets();
        let check = |name: &str| checks.iter().find(|c| c.target.kpi == name).unwrap();
        assert_eq!(check("transfer_rate").meets, Some(false));
        assert_eq!(check("csat_average").meets, Some(true));
        assert_eq!(check("first_contact_resolution").meets, None);
        for target in TARGETS {
            assert!(
                serde_json::to_value(&kpis)
                    .unwrap()
                    .get(target.kpi)
                    .is_some(),
                "{} is a figure",
                target.kpi
            );
        }
    }

    #[test]
    fn the_columns_are_every_figure_once() {
        let value = serde_json::to_value(Kpis::default()).unwrap();
        let fields: std::collections::BTreeSet<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let columns: std::collections::BTreeSet<&str> = COLUMNS.into_iter().collect();
        assert_eq!(fields, columns);
        assert_eq!(columns.len(), COLUMNS.len());
    }

    #[test]
    fn a_customer_key_names_no_one_and_differs_by_tenant_and_secret() {
        let a = customer_key(b"secret", "acme", "alice@example.com");
        assert_eq!(a.len(), 20);
        assert!(!a.contains("alice"));
        assert_eq!(a, customer_key(b"secret", "acme", "alice@example.com"));
        assert_ne!(a, customer_key(b"secret", "other", "alice@example.com"));
        assert_ne!(a, customer_key(b"another", "acme", "alice@example.com"));
    }
}
