//! The weekly look at the bot's weak points (seed 004): the intents whose
//! conversations most often went to a person, were corrected by agents,
//! left customers unhappy or brought them back, each with example
//! conversations; and the blind-spot clusters mining drafted and nobody
//! has answered yet, with where to mine again and edit knowledge.
//!
//! Rankings use the lower bound of each rate's Wilson interval (the upper
//! bound of the CSAT mean, for low CSAT), so an intent seen twice and
//! handed over twice does not top a list above one handed over 400 times
//! in 1,000.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Outcomes;
use super::compare::{Estimate, mean, wilson};
use super::report::{Period, read};
use crate::app::{Result, Switchyard};

/// Intents in each ranking.
pub const RANKED: usize = 10;
/// Drafted clusters listed.
pub const CLUSTERS: usize = 10;
/// Survey answers an intent needs to be ranked by low CSAT.
pub const MIN_SURVEYS: u64 = 5;

#[derive(Clone, Debug, Serialize)]
pub struct WeakIntent {
    pub intent: String,
    pub conversations: u64,
    pub messages: u64,
    pub transfer: Estimate,
    pub correction: Estimate,
    pub csat: Estimate,
    pub repeat: Estimate,
    /// Example conversation ids per kind (`handoff`, `corrected`,
    /// `low_csat`, `repeat`).
    pub examples: BTreeMap<String, Vec<String>>,
    /// Where to look and act: the conversations through the API, the
    /// articles of the intent, mining.
    pub links: Links,
}

#[derive(Clone, Debug, Serialize)]
pub struct Links {
    pub knowledge: String,
    pub mine: String,
    pub console: String,
}

/// A cluster of questions the bot could not answer, drafted by mining and
/// not published yet.
#[derive(Clone, Debug, Serialize)]
pub struct BlindSpot {
    pub article_id: String,
    pub title: String,
    /// Messages in the cluster.
    pub size: usize,
    pub escalated: u32,
    pub intent_guess: Option<String>,
    pub mined_at_ms: u64,
    pub edit: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct WeakSpots {
    pub from_ms: u64,
    pub to_ms: u64,
    /// Intent names, worst first, per measure.
    pub by_transfer: Vec<String>,
    pub by_correction: Vec<String>,
    pub by_low_csat: Vec<String>,
    pub by_repeat: Vec<String>,
    /// Every intent in a ranking, with its figures.
    pub intents: Vec<WeakIntent>,
    pub blind_spots: Vec<BlindSpot>,
    /// Run mining again (`POST`), and the console's knowledge section.
    pub mine: Links,
}

fn links(intent: Option<&str>) -> Links {
    Links {
        knowledge: match intent {
            Some(intent) => format!(
                "/v1/knowledge/search?q={}",
                crate::model::percent_encode(intent)
            ),
            None => "/v1/knowledge/drafts".into(),
        },
        mine: "/v1/knowledge/mine".into(),
        console: "/console#knowledge".into(),
    }
}

fn rank(rows: &[(String, Outcomes)], key: impl Fn(&Outcomes) -> Option<f64>) -> Vec<String> {
    let mut scored: Vec<(f64, &String)> = rows
        .iter()
        .filter_map(|(intent, o)| key(o).map(|k| (k, intent)))
        .filter(|(k, _)| *k > 0.0)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(RANKED)
        .map(|(_, i)| i.clone())
        .collect()
}

pub fn weak_spots(app: &Switchyard, tenant: &str, period: Period) -> Result<WeakSpots> {
    let read = read(app, tenant, period)?;
    let rows: Vec<(String, Outcomes)> = read
        .groups
        .iter()
        .filter_map(|(g, o)| Some((g.strip_prefix("i:")?.to_string(), o.clone())))
        .collect();
    let transfer = |o: &Outcomes| wilson(o.handed_off, o.started);
    let correction = |o: &Outcomes| wilson(o.corrected.max(0) as u64, o.messages);
    let repeat = |o: &Outcomes| wilson(o.repeats, o.fcr_resolved);
    let csat = |o: &Outcomes| mean(o.surveys_answered, o.csat_sum, o.csat_sum_sq).0;
    let by_transfer = rank(&rows, |o| transfer(o).low);
    let by_correction = rank(&rows, |o| correction(o).low);
    let by_repeat = rank(&rows, |o| repeat(o).low);
    // Lowest CSAT first: rank by how far the upper bound sits below 5,
    // from enough answers for the interval to mean something.
    let by_low_csat = rank(&rows, |o| {
        (o.surveys_answered >= MIN_SURVEYS)
            .then(|| csat(o).high.map(|h| 5.0 - h.min(5.0)))
            .flatten()
    });
    let mut named: Vec<&String> = by_transfer
        .iter()
        .chain(&by_correction)
        .chain(&by_low_csat)
        .chain(&by_repeat)
        .collect();
    named.sort();
    named.dedup();
    let intents = named
        .into_iter()
        .filter_map(|intent| rows.iter().find(|(i, _)| i == intent))
        .map(|(intent, o)| WeakIntent {
            intent: intent.clone(),
            conversations: o.started,
            messages: o.messages,
            transfer: transfer(o),
            correction: correction(o),
            csat: csat(o),
            repeat: repeat(o),
            examples: o.examples.clone(),
            links: links(Some(intent)),
        })
        .collect();
    let drafts = app.drafts(tenant, None, 200)?;
    let mut blind_spots: Vec<BlindSpot> = drafts
        .items
        .into_iter()
        .filter_map(|d| {
            let mined = d.article.mined?;
            Some(BlindSpot {
                edit: format!("/v1/knowledge/articles/{}", d.article.id),
                article_id: d.article.id,
                title: d.article.title,
                size: mined.messages.len(),
                escalated: mined.escalated,
                intent_guess: mined.intent_guess,
                mined_at_ms: mined.mined_at_ms,
            })
        })
        .collect();
    blind_spots.sort_by(|a, b| b.size.cmp(&a.size).then(a.article_id.cmp(&b.article_id)));
    blind_spots.truncate(CLUSTERS);
    Ok(WeakSpots {
        from_ms: period.from_hour * crate::traffic::HOUR_MS,
        to_ms: period.to_hour * crate::traffic::HOUR_MS,
        by_transfer,
        by_correction,
        by_low_csat,
        by_repeat,
        intents,
        blind_spots,
        mine: links(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_on_two_conversations_ranks_below_one_on_a_thousand() {
        let rows = vec![
            (
                "tiny".to_string(),
                Outcomes {
                    started: 2,
                    handed_off: 2,
                    ..Outcomes::default()
                },
            ),
            (
                "big".to_string(),
                Outcomes {
                    started: 1000,
                    handed_off: 400,
                    ..Outcomes::default()
                },
            ),
            (
                "never".to_string(),
                Outcomes {
                    started: 50,
                    ..Outcomes::default()
                },
            ),
        ];
        let ranked = rank(&rows, |o| wilson(o.handed_off, o.started).low);
        assert_eq!(ranked, vec!["big", "tiny"]);
    }

    #[test]
    fn intent_names_are_escaped_in_links() {
        assert_eq!(
            links(Some("card lost&x")).knowledge,
            "/v1/knowledge/search?q=card%20lost%26x"
        );
        assert_eq!(
            links(Some("退款")).knowledge,
            "/v1/knowledge/search?q=%E9%80%80%E6%AC%BE"
        );
    }
}
