//! Coaching from an agent's gaps (seeds 000 and 001): their adoption and
//! edit rates, first response and handling times and CSAT beside the
//! team's over the same period, and a study list: the articles peers use
//! for the intents this agent handles and this agent has never used.
//!
//! "Uses" are suggestions carrying the article that an agent sent as they
//! were or edited: the desk does not report which articles were only read,
//! so an agent who reads an article and writes their own answer counts as
//! not using it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::report::{Period, read};
use super::{Kpis, Outcomes};
use crate::app::{Error, Result, Switchyard};

/// Articles on a study list.
pub const STUDY: usize = 10;

#[derive(Clone, Debug, Serialize)]
pub struct Study {
    pub article_id: String,
    pub title: String,
    /// The intent peers used it for.
    pub intent: String,
    /// Peers' uses of it for that intent...
    pub peer_uses: u64,
    /// ...by this many peers.
    pub peers: usize,
    /// Conversations of that intent this agent was given.
    pub your_conversations: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Coaching {
    pub agent: String,
    pub from_ms: u64,
    pub to_ms: u64,
    pub agent_kpis: Kpis,
    /// All agents' outcomes together, for comparison.
    pub team_kpis: Kpis,
    /// Suggestions edited, of those acted on.
    pub edit_rate: Option<f64>,
    pub team_edit_rate: Option<f64>,
    /// Plain-language gaps where the agent is behind the team by a margin.
    pub gaps: Vec<String>,
    pub study: Vec<Study>,
}

fn edit_rate(o: &Outcomes) -> Option<f64> {
    let acted = o.accepted + o.edited + o.dismissed;
    (acted > 0).then(|| o.edited as f64 / acted as f64)
}

pub fn coaching(app: &Switchyard, tenant: &str, agent: &str, period: Period) -> Result<Coaching> {
    crate::app::check_id("agent id", agent)?;
    if app.storage.agent(tenant, agent)?.is_none() {
        return Err(Error::NotFound(format!("agent {agent:?} does not exist")));
    }
    let read = read(app, tenant, period)?;
    let mine = read
        .groups
        .get(&super::count::group_agent(agent))
        .cloned()
        .unwrap_or_default();
    let mut team = Outcomes::default();
    for (group, outcomes) in &read.groups {
        if group.starts_with("a:") {
            team.add(outcomes);
        }
    }
    let (agent_kpis, team_kpis) = (Kpis::of(&mine), Kpis::of(&team));
    let gaps = gaps(&agent_kpis, &team_kpis);
    Ok(Coaching {
        agent: agent.to_string(),
        from_ms: period.from_hour * crate::traffic::HOUR_MS,
        to_ms: period.to_hour * crate::traffic::HOUR_MS,
        edit_rate: edit_rate(&mine),
        team_edit_rate: edit_rate(&team),
        agent_kpis,
        team_kpis,
        gaps,
        study: study_list(app, tenant, agent)?,
    })
}

/// Where the agent trails the team by more than a tenth (times) or five
/// points (rates), with enough of their own observations to say so.
fn gaps(me: &Kpis, team: &Kpis) -> Vec<String> {
    let mut out = Vec::new();
    let slower = |mine: Option<f64>, theirs: Option<f64>| match (mine, theirs) {
        (Some(m), Some(t)) if t > 0.0 && m > t * 1.1 => Some((m, t)),
        _ => None,
    };
    if me.first_responses >= 5
        && let Some((m, t)) = slower(
            me.first_response_median_secs,
            team.first_response_median_secs,
        )
    {
        out.push(format!("first response: median {m:.0} s, team {t:.0} s"));
    }
    if me.resolved >= 5
        && let Some((m, t)) = slower(me.handling_mean_secs, team.handling_mean_secs)
    {
        out.push(format!("handling: mean {m:.0} s, team {t:.0} s"));
    }
    if me.accepted + me.edited + me.dismissed >= 10
        && let (Some(m), Some(t)) = (me.adoption_rate, team.adoption_rate)
        && m + 0.05 < t
    {
        out.push(format!(
            "suggestions used: {:.0}%, team {:.0}%",
            m * 100.0,
            t * 100.0
        ));
    }
    if me.surveys_answered >= 5
        && let (Some(m), Some(t)) = (me.csat_average, team.csat_average)
        && m + 0.2 < t
    {
        out.push(format!("CSAT: {m:.2}, team {t:.2}"));
    }
    out
}

/// Articles peers used for the intents this agent is given, that this
/// agent has used for none: most used by peers, weighted by how often the
/// agent meets the intent.
fn study_list(app: &Switchyard, tenant: &str, agent: &str) -> Result<Vec<Study>> {
    let uses = app.storage.kpi_article_uses(tenant)?;
    let given = app.storage.kpi_agent_intents(tenant)?;
    let mine: BTreeSet<&String> = uses
        .keys()
        .filter(|(a, _, _)| a == agent)
        .map(|(_, _, article)| article)
        .collect();
    // (intent, article) -> (peer uses, peers)
    let mut peers: BTreeMap<(&String, &String), (u64, BTreeSet<&String>)> = BTreeMap::new();
    for ((who, intent, article), n) in &uses {
        if who != agent && !mine.contains(article) {
            let entry = peers.entry((intent, article)).or_default();
            entry.0 += n;
            entry.1.insert(who);
        }
    }
    let mut out: Vec<(u64, Study)> = Vec::new();
    for ((intent, article), (peer_uses, who)) in peers {
        let yours = given
            .get(&(agent.to_string(), intent.clone()))
            .copied()
            .unwrap_or(0);
        if yours == 0 {
            continue;
        }
        let title = app
            .storage
            .article(tenant, article)?
            .map(|a| a.title)
            .unwrap_or_default();
        out.push((
            peer_uses * yours,
            Study {
                article_id: article.clone(),
                title,
                intent: intent.clone(),
                peer_uses,
                peers: who.len(),
                your_conversations: yours,
            },
        ));
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.article_id.cmp(&b.1.article_id)));
    // One entry per article (its strongest intent).
    let mut seen = BTreeSet::new();
    Ok(out
        .into_iter()
        .map(|(_, s)| s)
        .filter(|s| seen.insert(s.article_id.clone()))
        .take(STUDY)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_need_enough_of_the_agents_own_work() {
        let team = Kpis {
            first_response_median_secs: Some(20.0),
            csat_average: Some(4.5),
            ..Kpis::default()
        };
        let slow_on_few = Kpis {
            first_response_median_secs: Some(60.0),
            first_responses: 4,
            ..Kpis::default()
        };
        assert!(gaps(&slow_on_few, &team).is_empty());
        let slow = Kpis {
            first_responses: 5,
            surveys_answered: 5,
            csat_average: Some(4.2),
            ..slow_on_few
        };
        assert_eq!(
            gaps(&slow, &team),
            vec![
                "first response: median 60 s, team 20 s",
                "CSAT: 4.20, team 4.50"
            ]
        );
    }
}
