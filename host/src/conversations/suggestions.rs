//! Whether suggestions helped: every suggestion has an id
//! (`<message id>.<n>`); an agent's reply may name the one it started
//! from (`accepted` when sent as it was, `edited` with the edit distance),
//! or the agent dismisses one. Each outcome keeps who, which kind, which
//! article or script and which plugin version made it. On an agent's
//! no-assist day (`TenantSettings::no_assist_days`) suggestions are made
//! and compared with what the agent writes, but not shown to them.

use crate::app::{Error, Result, Switchyard, check_id};
use crate::model::*;
use crate::storage::Commit;

/// Longest text (in characters) the edit distance compares; beyond it the
/// tails count as changed. Suggestions are a few hundred characters.
pub const MAX_COMPARED_CHARS: usize = 2_000;

/// Levenshtein distance in characters, over at most [`MAX_COMPARED_CHARS`]
/// of each text (the rest counted as changed).
pub fn edit_distance(a: &str, b: &str) -> u32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let over = a
        .len()
        .saturating_sub(MAX_COMPARED_CHARS)
        .max(b.len().saturating_sub(MAX_COMPARED_CHARS));
    let (a, b) = (
        &a[..a.len().min(MAX_COMPARED_CHARS)],
        &b[..b.len().min(MAX_COMPARED_CHARS)],
    );
    let mut previous: Vec<u32> = (0..=b.len() as u32).collect();
    let mut current = vec![0u32; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i as u32 + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + u32::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()] + over as u32
}

/// Accepted when the sent text is the suggestion (whitespace aside),
/// otherwise edited by so many characters.
fn compare(suggested: &str, sent: &str) -> (Outcome, Option<u32>) {
    let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeeze(suggested) == squeeze(sent) {
        (Outcome::Accepted, Some(0))
    } else {
        (
            Outcome::Edited,
            Some(edit_distance(suggested.trim(), sent.trim())),
        )
    }
}

/// The day of the month (1 to 31) of a time in ms since the epoch, UTC.
pub fn day_of_month(ms: u64) -> u8 {
    // Howard Hinnant's civil-from-days.
    let days = (ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    (doy - (153 * mp + 2) / 5 + 1) as u8
}

/// Whether `agent` works without suggestions today.
pub fn no_assist_today(settings: &TenantSettings, agent: &str, now_ms: u64) -> bool {
    settings
        .no_assist_days
        .get(agent)
        .is_some_and(|day| *day == day_of_month(now_ms))
}

/// The best reply a decision suggests: the highest-scored of kind `reply`.
pub fn best_reply(decision: &Decision) -> Option<&SuggestionResult> {
    decision
        .suggestions
        .iter()
        .filter(|s| s.kind == "reply" && !s.id.is_empty())
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

/// Take the suggestions out of what an agent is shown (kept in storage).
pub fn hide_suggestions(decision: &mut Decision) {
    decision.suggestions.clear();
}

impl Switchyard {
    /// Whether the caller is an agent on their no-assist day now.
    pub fn no_assist_for(&self, tenant: &str, actor: &super::DeskActor) -> Result<bool> {
        Ok(match actor.agent_id() {
            Some(agent) => no_assist_today(&self.settings(tenant)?, agent, now_ms()),
            None => false,
        })
    }

    /// A suggestion of this conversation by id, with the message whose
    /// decision made it.
    fn suggestion(
        &self,
        tenant: &str,
        conversation_id: &str,
        suggestion_id: &str,
    ) -> Result<(MessageRecord, SuggestionResult)> {
        check_id("suggestion id", suggestion_id)?;
        let not_found = || {
            Error::NotFound(format!(
                "suggestion {suggestion_id:?} is not one of conversation {conversation_id:?}'s"
            ))
        };
        let (message_id, _) = suggestion_id.rsplit_once('.').ok_or_else(not_found)?;
        let message = self
            .storage
            .message(tenant, conversation_id, message_id)?
            .ok_or_else(not_found)?;
        let suggestion = message
            .decision
            .suggestions
            .iter()
            .find(|s| s.id == suggestion_id)
            .cloned()
            .ok_or_else(not_found)?;
        Ok((message, suggestion))
    }

    /// The outcome of the reply `sent` by `agent`: for the suggestion it
    /// names, or on a no-assist day, compared with the best reply suggestion
    /// of the latest customer message (not shown, for comparison).
    pub(crate) fn reply_outcome(
        &self,
        tenant: &str,
        conversation_id: &str,
        agent: &str,
        suggestion_id: Option<&str>,
        sent: &Post,
    ) -> Result<Option<SuggestionOutcome>> {
        let settings = self.settings(tenant)?;
        let hidden = no_assist_today(&settings, agent, sent.at_ms);
        let (message, suggestion) = match suggestion_id {
            Some(id) => self.suggestion(tenant, conversation_id, id)?,
            None if hidden => {
                let Some(last) = self.storage.last_message(tenant, conversation_id)? else {
                    return Ok(None);
                };
                let best = best_reply(&last.decision).cloned();
                match best {
                    Some(best) => (last, best),
                    None => return Ok(None),
                }
            }
            None => return Ok(None),
        };
        let (outcome, edit_distance) = compare(&suggestion.text, &sent.text);
        Ok(Some(SuggestionOutcome {
            suggestion_id: suggestion.id,
            conversation_id: conversation_id.to_string(),
            message_id: message.id,
            agent: agent.to_string(),
            outcome,
            kind: suggestion.kind,
            title: suggestion.title,
            article_id: suggestion.article_id,
            plugin: suggestion.plugin,
            version_id: suggestion.version_id,
            edit_distance,
            reply_id: Some(sent.id.clone()),
            shown: !hidden,
            at_ms: sent.at_ms,
        }))
    }

    /// An agent sets a suggestion aside.
    pub fn dismiss_suggestion(
        &self,
        tenant: &str,
        conversation_id: &str,
        agent: &str,
        suggestion_id: &str,
    ) -> Result<SuggestionOutcome> {
        check_id("conversation id", conversation_id)?;
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let conversation = self.existing_conversation(tenant, conversation_id)?;
        let (message, suggestion) = self.suggestion(tenant, conversation_id, suggestion_id)?;
        let now = now_ms();
        let outcome = SuggestionOutcome {
            suggestion_id: suggestion.id,
            conversation_id: conversation_id.to_string(),
            message_id: message.id,
            agent: agent.to_string(),
            outcome: Outcome::Dismissed,
            kind: suggestion.kind,
            title: suggestion.title,
            article_id: suggestion.article_id,
            plugin: suggestion.plugin,
            version_id: suggestion.version_id,
            edit_distance: None,
            reply_id: None,
            shown: !no_assist_today(&self.settings(tenant)?, agent, now),
            at_ms: now,
        };
        let event = outcome_event(&conversation, &outcome, now);
        self.commit_change(Commit {
            tenant: tenant.into(),
            outcomes: vec![outcome.clone()],
            events: vec![event],
            ..Default::default()
        })?;
        Ok(outcome)
    }
}

/// The `suggestion.outcome` event of an outcome.
pub(crate) fn outcome_event(
    conversation: &Conversation,
    outcome: &SuggestionOutcome,
    now: u64,
) -> Event {
    let mut event = Event::about(EventKind::SuggestionOutcome, conversation, now)
        .with_message(&outcome.message_id)
        .with_detail(serde_json::json!({
            "suggestion_id": outcome.suggestion_id,
            "outcome": outcome.outcome,
            "kind": outcome.kind,
            "edit_distance": outcome.edit_distance,
            "shown": outcome.shown,
            "article_id": outcome.article_id,
            "version_id": outcome.version_id,
        }));
    event.agent = Some(outcome.agent.clone());
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_characters_in_any_script() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("退款三天到账", "退款五天到账"), 1);
        assert_eq!(edit_distance("abc", ""), 3);
        // Past the compared length the tails count as changed.
        let long = "a".repeat(MAX_COMPARED_CHARS + 10);
        assert_eq!(edit_distance(&long, &"a".repeat(MAX_COMPARED_CHARS)), 10);
        assert_eq!(
            compare("您好， 退款 已提交", "您好， 退款  已提交 ").0,
            Outcome::Accepted
        );
        assert_eq!(compare("退款已提交", "退款已经提交").1, Some(1));
    }

    #[test]
    fn the_day_of_the_month_is_read_in_utc() {
        // 2026-12-07T23:59:59Z and the next second.
        assert_eq!(day_of_month(1_796_687_999_000), 7);
        assert_eq!(day_of_month(1_796_688_000_000), 8);
        assert_eq!(day_of_month(0), 1);
        // 2024-02-29 (leap day).
        assert_eq!(day_of_month(1_709_164_800_000), 29);
        let mut settings = TenantSettings::default();
        settings.no_assist_days.insert("li.na".into(), 8);
        assert!(no_assist_today(&settings, "li.na", 1_796_688_000_000));
        assert!(!no_assist_today(&settings, "li.na", 1_796_687_999_000));
        assert!(!no_assist_today(&settings, "emma", 1_796_688_000_000));
    }
}
