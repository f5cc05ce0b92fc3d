//! The counting rules: how each event of the log moves the outcomes of the
//! conversation it is about. A conversation's [`Track`] remembers what
//! the rules need between its events (when it began and its groups,
//! whether a person ever held it, when a handoff is waiting for its first
//! reply); one pass of the counter reads the tracks it touches once and
//! writes them back with the counts, in the same atomic batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::Outcomes;
use crate::model::{Author, ConversationStatus, Event, EventKind};
use crate::storage::{Result, Storage};
use crate::traffic::{DAY_MS, HOUR_MS};

/// A new conversation about the same intent within this long of the last
/// one's end means the last one was not resolved at first contact.
pub const REPEAT_WINDOW_MS: u64 = 7 * DAY_MS;

/// A conversation nothing happened in for this long is forgotten by the
/// counter (its track deleted): should it come back, it counts as a
/// conversation begun before the log. Longer than the event log's default
/// retention (30 days) and the repeat window.
pub const TRACK_RETENTION_MS: u64 = 45 * DAY_MS;

/// What the counter remembers of one conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Track {
    pub start_ms: u64,
    /// Its latest event: what [`TRACK_RETENTION_MS`] counts from.
    pub last_ms: u64,
    /// Counted from a log that began after the conversation did: its start
    /// and groups are unknown, so it counts under no group.
    pub partial: bool,
    pub customer: Option<String>,
    pub channel: Option<String>,
    pub intent: Option<String>,
    pub classify_version: Option<u64>,
    pub route_version: Option<u64>,
    /// A person holds it now (waiting in a queue or assigned).
    pub with_people: bool,
    /// A person ever held it.
    pub handed_off: bool,
    pub bot_resolved: bool,
    pub resolved: bool,
    /// The handoff still waiting for a person's first reply.
    pub awaiting_since_ms: Option<u64>,
    /// When its current agent got it.
    pub assigned_at_ms: Option<u64>,
    pub queue: Option<String>,
    pub survey_answered: bool,
    /// The customer came back about the same intent within the window.
    pub repeat: bool,
    /// The suggestions whose outcome is counted (the first one only).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub suggestions: BTreeSet<String>,
    /// Tickets whose closure is counted (each once).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub closed_tickets: Vec<String>,
}

/// The last conversation of a customer about an intent, for repeats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LastContact {
    pub conversation_id: String,
    /// Its start, or its resolution once resolved.
    pub at_ms: u64,
}

/// What one pass counted, written by [`Storage::add_counts`].
#[derive(Default)]
pub struct Changes {
    /// (hour, group) -> outcomes to add. The whole tenant (`""`) per hour;
    /// groups per day (the hour is the day's first).
    pub buckets: BTreeMap<(u64, String), Outcomes>,
    pub tracks: HashMap<String, Track>,
    /// (customer key, intent) -> last contact.
    pub last_contacts: HashMap<(String, String), LastContact>,
    /// (agent, intent, article) -> uses (a suggestion with the article sent
    /// as is or edited).
    pub article_uses: BTreeMap<(String, String, String), u64>,
    /// (agent, intent) -> conversations given to the agent.
    pub agent_intents: BTreeMap<(String, String), u64>,
}

/// One tenant's pass over new events.
pub struct Counting<'a> {
    storage: &'a Storage,
    tenant: &'a str,
    pub changes: Changes,
}

/// A group of a conversation's outcomes.
pub fn group_channel(channel: &str) -> String {
    format!("c:{channel}")
}
pub fn group_intent(intent: &str) -> String {
    format!("i:{intent}")
}
pub fn group_queue(queue: &str) -> String {
    format!("q:{queue}")
}
pub fn group_agent(agent: &str) -> String {
    format!("a:{agent}")
}
pub fn group_version(slot: &str, id: u64) -> String {
    format!("v:{slot}:{id}")
}
pub fn group_department(department: &str) -> String {
    format!("d:{department}")
}

/// Who an outcome is also counted for, beside the conversation's groups.
#[derive(Default)]
struct Also<'e> {
    agent: Option<&'e str>,
    assist_version: Option<u64>,
    department: Option<&'e str>,
    /// Count under the conversation's queue (once a person has it).
    queue: bool,
}

impl<'a> Counting<'a> {
    pub fn new(storage: &'a Storage, tenant: &'a str) -> Counting<'a> {
        Counting {
            storage,
            tenant,
            changes: Changes::default(),
        }
    }

    fn track(&mut self, conversation: &str) -> Result<Option<&mut Track>> {
        if !self.changes.tracks.contains_key(conversation) {
            match self.storage.kpi_track(self.tenant, conversation)? {
                Some(track) => {
                    self.changes.tracks.insert(conversation.to_string(), track);
                }
                None => return Ok(None),
            }
        }
        Ok(self.changes.tracks.get_mut(conversation))
    }

    /// The track, begun now as partial when the log does not have the
    /// conversation's first message.
    fn track_or_partial(&mut self, conversation: &str, at_ms: u64) -> Result<&mut Track> {
        if self.track(conversation)?.is_none() {
            self.changes.tracks.insert(
                conversation.to_string(),
                Track {
                    start_ms: at_ms,
                    partial: true,
                    ..Track::default()
                },
            );
        }
        Ok(self
            .changes
            .tracks
            .get_mut(conversation)
            .expect("inserted above"))
    }

    /// Add `delta` to the conversation's buckets: the tenant's hour, and
    /// the day of each of its groups and of `also`'s.
    fn add(&mut self, conversation: &str, delta: Outcomes, also: Also) {
        let Some(track) = self.changes.tracks.get(conversation) else {
            return;
        };
        let hour = track.start_ms / HOUR_MS;
        let day_hour = track.start_ms / DAY_MS * 24;
        let mut groups: Vec<String> = Vec::new();
        if !track.partial {
            if let Some(channel) = &track.channel {
                groups.push(group_channel(channel));
            }
            if let Some(version) = track.classify_version {
                groups.push(group_version("classify", version));
            }
            if let Some(version) = track.route_version {
                groups.push(group_version("route", version));
            }
        }
        if also.queue
            && let Some(queue) = &track.queue
        {
            groups.push(group_queue(queue));
        }
        if let Some(agent) = also.agent {
            groups.push(group_agent(agent));
        }
        if let Some(version) = also.assist_version {
            groups.push(group_version("assist", version));
        }
        if let Some(department) = also.department {
            groups.push(group_department(department));
        }
        let intent = (!track.partial)
            .then(|| track.intent.as_ref().map(|i| group_intent(i)))
            .flatten();
        // Examples only where the weak spots look: the intent's days.
        let mut plain = delta.clone();
        plain.examples.clear();
        if let Some(intent) = intent {
            self.changes
                .buckets
                .entry((day_hour, intent))
                .or_default()
                .add(&delta);
        }
        self.changes
            .buckets
            .entry((hour, String::new()))
            .or_default()
            .add(&plain);
        for group in groups {
            self.changes
                .buckets
                .entry((day_hour, group))
                .or_default()
                .add(&plain);
        }
    }

    /// Count one event.
    pub fn event(&mut self, event: &Event) -> Result<()> {
        let Some(conversation) = event.conversation_id.as_deref() else {
            return Ok(());
        };
        let detail = event.detail.as_ref().unwrap_or(&serde_json::Value::Null);
        self.count(conversation, event, detail)?;
        if let Some(track) = self.changes.tracks.get_mut(conversation) {
            track.last_ms = track.last_ms.max(event.at_ms);
        }
        Ok(())
    }

    fn count(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        match event.kind {
            EventKind::MessageCreated if detail.get("route").is_some() => {
                self.customer_message(conversation, event, detail)
            }
            EventKind::MessageCreated => self.post(conversation, event, detail),
            EventKind::ConversationStatus => self.status(conversation, event, detail),
            EventKind::Assigned => {
                let at = event.at_ms;
                let track = self.track_or_partial(conversation, at)?;
                track.assigned_at_ms = Some(at);
                let intent = track.intent.clone();
                if let (Some(agent), Some(intent)) = (&event.agent, intent) {
                    *self
                        .changes
                        .agent_intents
                        .entry((agent.clone(), intent))
                        .or_default() += 1;
                }
                let delta = Outcomes {
                    assigned: 1,
                    ..Outcomes::default()
                };
                let also = Also {
                    agent: event.agent.as_deref(),
                    queue: true,
                    ..Also::default()
                };
                self.add(conversation, delta, also);
                Ok(())
            }
            EventKind::Transferred => {
                let track = self.track_or_partial(conversation, event.at_ms)?;
                if let Some(queue) = &event.queue {
                    track.queue = Some(queue.clone());
                }
                let delta = Outcomes {
                    transfers: 1,
                    ..Outcomes::default()
                };
                let also = Also {
                    agent: detail["from_agent"].as_str(),
                    queue: true,
                    ..Also::default()
                };
                self.add(conversation, delta, also);
                Ok(())
            }
            EventKind::SurveyAnswered => self.survey(conversation, event, detail),
            EventKind::SuggestionOutcome => self.suggestion(conversation, event, detail),
            EventKind::MessageCorrected => self.correction(conversation, event, detail),
            EventKind::TicketStatus => self.ticket(conversation, event, detail),
            EventKind::AgentStatus => Ok(()),
        }
    }

    fn customer_message(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let first = detail["first"].as_bool().unwrap_or(false);
        let intent = detail["intent"]
            .as_str()
            .filter(|i| !i.is_empty())
            .map(str::to_string);
        let mut delta = Outcomes {
            messages: 1,
            ..Outcomes::default()
        };
        if first && self.track(conversation)?.is_none() {
            let track = Track {
                start_ms: event.at_ms,
                customer: detail["customer"].as_str().map(str::to_string),
                channel: detail["channel"].as_str().map(str::to_string),
                intent: intent.clone(),
                classify_version: detail["classify_version"].as_u64(),
                route_version: detail["route_version"].as_u64(),
                ..Track::default()
            };
            self.changes
                .tracks
                .insert(conversation.to_string(), track.clone());
            delta.started = 1;
            if let (Some(customer), Some(intent)) = (&track.customer, &track.intent) {
                self.new_contact(conversation, customer, intent, event.at_ms)?;
            }
        } else {
            let track = self.track_or_partial(conversation, event.at_ms)?;
            if track.intent.is_none() && !track.partial && intent.is_some() {
                // The first message had no intent: the first that has one
                // names the conversation from here on, and makes it a
                // contact about it.
                track.intent = intent.clone();
                if let (Some(customer), Some(intent)) = (track.customer.clone(), intent) {
                    self.new_contact(conversation, &customer, &intent, event.at_ms)?;
                }
            }
        }
        // Messages that reached people count without `bot_turn` in logs
        // written before it existed: the handoff says which those were.
        let bot_turn = detail["bot_turn"].as_bool().unwrap_or(false);
        if bot_turn {
            delta.bot_turns = 1;
            delta.bot_answered = u64::from(detail["answered"].as_bool().unwrap_or(false));
        }
        let department = detail["ticket_department"].as_str();
        if department.is_some() {
            delta.tickets_opened = 1;
        }
        let also = Also {
            department,
            ..Also::default()
        };
        self.add(conversation, delta, also);
        Ok(())
    }

    /// A new conversation of `customer` about `intent`: the last one about
    /// it, if within the window, was not resolved at first contact.
    fn new_contact(
        &mut self,
        conversation: &str,
        customer: &str,
        intent: &str,
        at_ms: u64,
    ) -> Result<()> {
        let key = (customer.to_string(), intent.to_string());
        let last = match self.changes.last_contacts.get(&key) {
            Some(last) => Some(last.clone()),
            None => self
                .storage
                .kpi_last_contact(self.tenant, customer, intent)?,
        };
        if let Some(last) = last
            && last.conversation_id != conversation
            && at_ms.saturating_sub(last.at_ms) <= REPEAT_WINDOW_MS
            && let Some(earlier) = self.track(&last.conversation_id)?
            && !earlier.repeat
        {
            earlier.repeat = true;
            // Counted now if it was resolved; at its resolution otherwise.
            if earlier.resolved {
                let mut delta = Outcomes {
                    repeats: 1,
                    ..Outcomes::default()
                };
                delta
                    .examples
                    .insert("repeat".into(), vec![last.conversation_id.clone()]);
                self.add(&last.conversation_id, delta, Also::default());
            }
        }
        self.changes.last_contacts.insert(
            key,
            LastContact {
                conversation_id: conversation.to_string(),
                at_ms,
            },
        );
        Ok(())
    }

    /// A post: a person's first public reply after a handoff is the first
    /// response.
    fn post(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let by_agent = detail["author"] == serde_json::json!(Author::Agent);
        // A note is for the team; an entry with an action (a transfer's
        // notice) is the host's wording, not an answer.
        let answer = !detail["private"].as_bool().unwrap_or(false) && detail["action"].is_null();
        if !by_agent || !answer {
            return Ok(());
        }
        let Some(track) = self.track(conversation)? else {
            return Ok(());
        };
        let Some(since) = track.awaiting_since_ms.take() else {
            return Ok(());
        };
        let mut delta = Outcomes::default();
        delta
            .first_response
            .record(event.at_ms.saturating_sub(since));
        let also = Also {
            agent: detail["agent"].as_str().or(event.agent.as_deref()),
            queue: true,
            ..Also::default()
        };
        self.add(conversation, delta, also);
        Ok(())
    }

    fn status(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let Some(status) = event.status else {
            return Ok(());
        };
        let at = event.at_ms;
        let track = self.track_or_partial(conversation, at)?;
        let mut delta = Outcomes::default();
        let mut also = Also {
            queue: true,
            ..Also::default()
        };
        match status {
            ConversationStatus::Waiting | ConversationStatus::Assigned => {
                if let Some(queue) = &event.queue {
                    track.queue = Some(queue.clone());
                }
                let mut taken_back = false;
                if !track.with_people {
                    track.with_people = true;
                    track.awaiting_since_ms = Some(at);
                    delta.handoffs = 1;
                    // A conversation begun before the log is no "begun"
                    // for a rate: its handoff stays out of the rates.
                    if !track.handed_off && !track.partial {
                        track.handed_off = true;
                        delta.handed_off = 1;
                        delta
                            .examples
                            .insert("handoff".into(), vec![conversation.to_string()]);
                        // Resolved by the bot, then handed over: a handoff.
                        taken_back = std::mem::take(&mut track.bot_resolved);
                    }
                }
                if taken_back {
                    // Taken back where it was counted (never under a queue).
                    let undo = Outcomes {
                        bot_resolved: -1,
                        ..Outcomes::default()
                    };
                    self.add(conversation, undo, Also::default());
                }
            }
            ConversationStatus::Resolved => {
                let was_with_people = track.with_people;
                track.with_people = false;
                track.awaiting_since_ms = None;
                if detail["survey"].as_bool().unwrap_or(false) {
                    // A new survey: its answer counts (a reopened
                    // conversation is asked again).
                    delta.surveys_sent = 1;
                    track.survey_answered = false;
                }
                let by = detail["by"].as_str();
                if was_with_people
                    && by.is_some()
                    && let Some(assigned) = track.assigned_at_ms
                {
                    delta.handling.record(at.saturating_sub(assigned));
                }
                track.assigned_at_ms = None;
                if !track.resolved {
                    track.resolved = true;
                    delta.resolved = 1;
                    if !track.partial {
                        delta.resolution.record(at.saturating_sub(track.start_ms));
                    }
                    if !track.handed_off && !track.partial {
                        track.bot_resolved = true;
                        delta.bot_resolved = 1;
                    }
                    if track.customer.is_some() && track.intent.is_some() && !track.partial {
                        delta.fcr_resolved = 1;
                        if track.repeat {
                            delta.repeats = 1;
                            delta
                                .examples
                                .insert("repeat".into(), vec![conversation.to_string()]);
                        }
                    }
                }
                // A repeat is looked for from the resolution on.
                if let (Some(customer), Some(intent)) =
                    (track.customer.clone(), track.intent.clone())
                {
                    let key = (customer.clone(), intent.clone());
                    let last = match self.changes.last_contacts.get(&key) {
                        Some(last) => Some(last.clone()),
                        None => self
                            .storage
                            .kpi_last_contact(self.tenant, &customer, &intent)?,
                    };
                    // Its own contact (or none left: pruned while it was
                    // open) is dated from the resolution on.
                    if last.is_none_or(|l| l.conversation_id == conversation) {
                        self.changes.last_contacts.insert(
                            key,
                            LastContact {
                                conversation_id: conversation.to_string(),
                                at_ms: at,
                            },
                        );
                    }
                }
                also.agent = by;
            }
            ConversationStatus::Bot | ConversationStatus::Reopened | ConversationStatus::Closed => {
                track.with_people = false;
                track.awaiting_since_ms = None;
                track.assigned_at_ms = None;
            }
        }
        self.add(conversation, delta, also);
        Ok(())
    }

    fn survey(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let Some(score) = detail["score"].as_u64().filter(|s| (1..=5).contains(s)) else {
            return Ok(());
        };
        let track = self.track_or_partial(conversation, event.at_ms)?;
        if track.survey_answered {
            return Ok(());
        }
        track.survey_answered = true;
        let mut delta = Outcomes {
            surveys_answered: 1,
            csat_sum: score,
            csat_sum_sq: score * score,
            csat_high: u64::from(score >= 4),
            ..Outcomes::default()
        };
        if score <= 2 {
            delta
                .examples
                .insert("low_csat".into(), vec![conversation.to_string()]);
        }
        let also = Also {
            agent: detail["agent"].as_str(),
            queue: true,
            ..Also::default()
        };
        self.add(conversation, delta, also);
        Ok(())
    }

    fn suggestion(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let outcome = detail["outcome"].as_str().unwrap_or_default();
        let mut delta = Outcomes::default();
        match outcome {
            "accepted" => delta.accepted = 1,
            "edited" => delta.edited = 1,
            "dismissed" => delta.dismissed = 1,
            _ => return Ok(()),
        }
        // Replies compared with a suggestion the agent was not shown (their
        // no-assist day) say nothing of adoption.
        if detail["shown"] == serde_json::json!(false) {
            return Ok(());
        }
        let track = self.track_or_partial(conversation, event.at_ms)?;
        // What the agent first did with a suggestion counts; doing
        // something else with it later (or the same again) does not.
        if let Some(id) = detail["suggestion_id"].as_str()
            && !track.suggestions.insert(id.to_string())
        {
            return Ok(());
        }
        let intent = track.intent.clone();
        let agent = event.agent.as_deref();
        if outcome != "dismissed"
            && let (Some(agent), Some(intent), Some(article)) =
                (agent, intent, detail["article_id"].as_str())
        {
            *self
                .changes
                .article_uses
                .entry((agent.to_string(), intent, article.to_string()))
                .or_default() += 1;
        }
        let also = Also {
            agent,
            assist_version: detail["version_id"].as_u64(),
            queue: true,
            ..Also::default()
        };
        self.add(conversation, delta, also);
        Ok(())
    }

    fn correction(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let (Some(before), Some(after)) = (
            detail["corrected_before"].as_bool(),
            detail["corrected"].as_bool(),
        ) else {
            return Ok(());
        };
        let change = i64::from(after) - i64::from(before);
        if change == 0 {
            return Ok(());
        }
        self.track_or_partial(conversation, event.at_ms)?;
        let mut delta = Outcomes {
            corrected: change,
            ..Outcomes::default()
        };
        if change > 0 {
            delta
                .examples
                .insert("corrected".into(), vec![conversation.to_string()]);
        }
        let also = Also {
            agent: detail["by"].as_str(),
            ..Also::default()
        };
        self.add(conversation, delta, also);
        Ok(())
    }

    fn ticket(
        &mut self,
        conversation: &str,
        event: &Event,
        detail: &serde_json::Value,
    ) -> Result<()> {
        let open = |s: &serde_json::Value| matches!(s.as_str(), Some("open" | "pending"));
        let closes = open(&detail["from"]) && !open(&detail["to"]);
        if !closes {
            return Ok(());
        }
        let Some(created) = detail["created_at_ms"].as_u64() else {
            return Ok(());
        };
        let track = self.track_or_partial(conversation, created)?;
        // Each ticket's closure once: reopened and closed again, it was
        // still closed when it first was.
        if let Some(ticket) = detail["ticket"].as_str() {
            if track.closed_tickets.iter().any(|t| t == ticket) {
                return Ok(());
            }
            track.closed_tickets.push(ticket.to_string());
        }
        let took = event.at_ms.saturating_sub(created);
        let mut delta = Outcomes {
            tickets_closed: 1,
            tickets_closed_24h: u64::from(took <= DAY_MS),
            ..Outcomes::default()
        };
        delta.ticket_handling.record(took);
        let also = Also {
            department: detail["department"].as_str(),
            ..Also::default()
        };
        self.add(conversation, delta, also);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::kpi::Kpis;

    const T0: u64 = 20_000 * DAY_MS + 9 * HOUR_MS;
    const SEC: u64 = 1000;

    fn event(at_ms: u64, kind: EventKind, conversation: &str, detail: serde_json::Value) -> Event {
        Event {
            id: 0,
            at_ms,
            kind,
            conversation_id: Some(conversation.into()),
            message_id: None,
            queue: None,
            agent: None,
            status: None,
            detail: (!detail.is_null()).then_some(detail),
        }
    }

    fn customer(at: u64, c: &str, who: &str, first: bool, answered: bool) -> Event {
        event(
            at,
            EventKind::MessageCreated,
            c,
            json!({"route": if answered {"bot"} else {"billing"}, "first": first,
                "intent": "card_arrival", "customer": who, "channel": "web",
                "classify_version": 3, "bot_turn": true, "answered": answered}),
        )
    }

    fn status(
        at: u64,
        c: &str,
        s: ConversationStatus,
        queue: &str,
        detail: serde_json::Value,
    ) -> Event {
        let mut e = event(at, EventKind::ConversationStatus, c, detail);
        e.status = Some(s);
        e.queue = (!queue.is_empty()).then(|| queue.to_string());
        e
    }

    fn with_agent(mut e: Event, agent: &str) -> Event {
        e.agent = Some(agent.into());
        e
    }

    /// Count `events` in passes of `page` (the tracks must carry across).
    fn count(events: &[Event], page: usize) -> (Storage, BTreeMap<(u64, String), Outcomes>) {
        let storage = Storage::temporary().unwrap();
        for (n, chunk) in events.chunks(page).enumerate() {
            let mut counting = Counting::new(&storage, "t");
            for e in chunk {
                counting.event(e).unwrap();
            }
            storage
                .add_traffic("t", &BTreeMap::new(), &counting.changes, n as u64 + 1)
                .unwrap();
        }
        let buckets = storage.kpi_range("t", 0, u64::MAX / HOUR_MS).unwrap();
        (storage, buckets)
    }

    fn day_total(buckets: &BTreeMap<(u64, String), Outcomes>, day: u64) -> Outcomes {
        let mut total = Outcomes::default();
        for ((hour, group), o) in buckets {
            if group.is_empty() && hour / 24 == day {
                total.add(o);
            }
        }
        total
    }

    /// Three conversations with every edge the KPIs have: c1 handed over,
    /// answered in 40 s, resolved, surveyed 5, its customer back about the
    /// same intent two days later (c3); c2 resolved by the bot, its survey
    /// never answered, then reopened and handed over; a correction undone;
    /// suggestions used, edited and dismissed; a ticket closed in 2 h.
    fn history() -> Vec<Event> {
        use ConversationStatus::*;
        let mut c1_first = customer(T0, "c1", "alice", true, true);
        c1_first.detail.as_mut().unwrap()["ticket_department"] = json!("logistics");
        vec![
            c1_first,
            customer(T0 + 60 * SEC, "c1", "alice", false, false),
            status(T0 + 60 * SEC, "c1", Waiting, "billing", json!(null)),
            with_agent(
                event(T0 + 90 * SEC, EventKind::Assigned, "c1", json!(null)),
                "ann",
            ),
            event(
                T0 + 95 * SEC,
                EventKind::MessageCreated,
                "c1",
                json!({"author": "agent", "agent": "ann", "private": true}),
            ),
            // A transfer's notice is the host's wording: no first response.
            event(
                T0 + 97 * SEC,
                EventKind::MessageCreated,
                "c1",
                json!({"author": "agent", "agent": "ann", "private": false, "action": "transferred"}),
            ),
            event(
                T0 + 100 * SEC,
                EventKind::MessageCreated,
                "c1",
                json!({"author": "agent", "agent": "ann", "private": false}),
            ),
            event(
                T0 + 110 * SEC,
                EventKind::MessageCreated,
                "c1",
                json!({"author": "agent", "agent": "ann", "private": false}),
            ),
            with_agent(
                event(
                    T0 + 120 * SEC,
                    EventKind::SuggestionOutcome,
                    "c1",
                    json!({"outcome": "accepted", "article_id": "a-1", "version_id": 7,
                        "suggestion_id": "m1.0", "shown": true}),
                ),
                "ann",
            ),
            // The same suggestion sent again, and a reply compared with a
            // suggestion ann was not shown: neither counts.
            with_agent(
                event(
                    T0 + 125 * SEC,
                    EventKind::SuggestionOutcome,
                    "c1",
                    json!({"outcome": "edited", "article_id": "a-1", "version_id": 7,
                        "suggestion_id": "m1.0", "shown": true}),
                ),
                "ann",
            ),
            with_agent(
                event(
                    T0 + 126 * SEC,
                    EventKind::SuggestionOutcome,
                    "c1",
                    json!({"outcome": "accepted", "article_id": "a-3", "version_id": 7,
                        "suggestion_id": "m1.2", "shown": false}),
                ),
                "ann",
            ),
            with_agent(
                event(
                    T0 + 130 * SEC,
                    EventKind::SuggestionOutcome,
                    "c1",
                    json!({"outcome": "dismissed", "article_id": "a-2", "version_id": 7}),
                ),
                "ann",
            ),
            event(
                T0 + 140 * SEC,
                EventKind::MessageCorrected,
                "c1",
                json!({"was": "card_arrival", "corrected_before": false, "corrected": true, "by": "ann"}),
            ),
            event(
                T0 + 150 * SEC,
                EventKind::MessageCorrected,
                "c1",
                json!({"was": "card_arrival", "corrected_before": true, "corrected": false, "by": "ann"}),
            ),
            status(
                T0 + 600 * SEC,
                "c1",
                Resolved,
                "billing",
                json!({"by": "ann", "survey": true}),
            ),
            event(
                T0 + 700 * SEC,
                EventKind::SurveyAnswered,
                "c1",
                json!({"score": 5, "agent": "ann"}),
            ),
            // A second answer to the same survey counts once.
            event(
                T0 + 710 * SEC,
                EventKind::SurveyAnswered,
                "c1",
                json!({"score": 1, "agent": "ann"}),
            ),
            event(
                T0 + 2 * 3600 * SEC,
                EventKind::TicketStatus,
                "c1",
                json!({"ticket": "t-1", "department": "logistics", "from": "open", "to": "solved", "created_at_ms": T0}),
            ),
            // Reopened and solved again: its closure counted once.
            event(
                T0 + 3 * 3600 * SEC,
                EventKind::TicketStatus,
                "c1",
                json!({"ticket": "t-1", "department": "logistics", "from": "open", "to": "closed", "created_at_ms": T0}),
            ),
            customer(T0 + 30 * SEC, "c2", "bert", true, true),
            status(
                T0 + 120 * SEC,
                "c2",
                Resolved,
                "",
                json!({"by": null, "survey": true}),
            ),
            status(T0 + 3600 * SEC, "c2", Waiting, "general", json!(null)),
            with_agent(
                event(
                    T0 + 3700 * SEC,
                    EventKind::SuggestionOutcome,
                    "c2",
                    json!({"outcome": "edited", "article_id": "a-2", "version_id": 8}),
                ),
                "bob",
            ),
            customer(T0 + 2 * DAY_MS, "c3", "alice", true, false),
            event(
                T0 + 2 * DAY_MS + 5 * SEC,
                EventKind::MessageCorrected,
                "c3",
                json!({"was": "card_arrival", "corrected_before": false, "corrected": true, "by": "bob"}),
            ),
        ]
    }

    #[test]
    fn known_answers_for_every_kpi() {
        for page in [1, 4, 100] {
            let (storage, buckets) = count(&history(), page);
            let day = T0 / DAY_MS;
            let o = day_total(&buckets, day);
            let k = Kpis::of(&o);
            assert_eq!(k.conversations, 2, "page {page}");
            assert_eq!(k.messages, 3);
            assert_eq!(k.ai_instant_response_rate, Some(2.0 / 3.0));
            // c2 was resolved by the bot, then handed over: a handoff.
            assert_eq!(o.bot_resolved, 0);
            assert_eq!(k.containment_rate, Some(0.0));
            assert_eq!(k.transfer_rate, Some(1.0));
            // One first response, 40 s after the handoff (the private note
            // and the second reply do not count): inside the 30-45 s bucket.
            assert_eq!(k.first_responses, 1);
            assert_eq!(o.first_response.sum_ms, 40 * SEC);
            let median = k.first_response_median_secs.unwrap();
            assert!((30.0..=45.0).contains(&median), "{median}");
            // Resolutions 600 s (c1) and 90 s (c2): the median is 90 s.
            assert_eq!(k.resolved, 2);
            assert_eq!(k.resolution_median_secs, Some(90.0));
            assert_eq!(k.handling_mean_secs, Some(510.0));
            // alice came back about the same intent within 7 days.
            assert_eq!(k.first_contact_resolution, Some(0.5));
            assert_eq!(k.csat_average, Some(5.0));
            assert_eq!(k.csat_high_share, Some(1.0));
            assert_eq!(k.csat_response_rate, Some(0.5));
            assert_eq!(k.adoption_rate, Some(2.0 / 3.0));
            // The correction undone nets 0 on day one...
            assert_eq!(k.ai_accuracy_as_agents_judge, Some(1.0));
            assert_eq!(k.tickets_closed, 1);
            assert_eq!(k.cross_department_closure_24h, Some(1.0));
            assert_eq!(
                k.ticket_handling_median_secs.map(|s| s <= 7200.0),
                Some(true)
            );
            // ...and c3's counts on its own day.
            let later = day_total(&buckets, day + 2);
            assert_eq!((later.started, later.corrected, later.messages), (1, 1, 1));
            assert_eq!(Kpis::of(&later).ai_accuracy_as_agents_judge, Some(0.0));

            let group = |g: &str| {
                buckets.iter().filter(|((_, name), _)| name == g).fold(
                    Outcomes::default(),
                    |mut sum, (_, o)| {
                        sum.add(o);
                        sum
                    },
                )
            };
            let ann = group("a:ann");
            assert_eq!(
                (ann.assigned, ann.first_response.n, ann.handling.n),
                (1, 1, 1)
            );
            assert_eq!(
                (ann.accepted, ann.dismissed, ann.surveys_answered),
                (1, 1, 1)
            );
            assert_eq!(group("a:bob").edited, 1);
            assert_eq!(group("v:assist:7").accepted, 1);
            assert_eq!(group("v:assist:8").edited, 1);
            assert_eq!(group("v:classify:3").started, 3);
            assert_eq!(group("q:billing").handoffs, 1);
            assert_eq!(group("q:general").handoffs, 1);
            assert_eq!(group("c:web").started, 3);
            assert_eq!(group("d:logistics").tickets_closed, 1);
            let intent = group("i:card_arrival");
            assert_eq!(intent.started, 3);
            assert_eq!(intent.examples["handoff"], vec!["c1", "c2"]);
            assert_eq!(intent.examples["repeat"], vec!["c1"]);
            assert_eq!(intent.examples["corrected"], vec!["c1", "c3"]);
            // Examples stay in the intent's buckets only.
            assert!(
                buckets
                    .iter()
                    .all(|((_, g), o)| g.starts_with("i:") || o.examples.is_empty())
            );

            let uses = storage.kpi_article_uses("t").unwrap();
            assert_eq!(
                uses.into_iter().collect::<Vec<_>>(),
                vec![
                    (("ann".into(), "card_arrival".into(), "a-1".into()), 1),
                    (("bob".into(), "card_arrival".into(), "a-2".into()), 1),
                ]
            );
            let given = storage.kpi_agent_intents("t").unwrap();
            assert_eq!(given[&("ann".to_string(), "card_arrival".to_string())], 1);
        }
    }

    #[test]
    fn old_tracks_and_contacts_are_forgotten_at_their_exact_age() {
        // The newest event: c3's correction. alice's last contact is c3's
        // start, bert's c2's resolution.
        let newest = T0 + 2 * DAY_MS + 5 * SEC;
        let alice = T0 + 2 * DAY_MS;
        let (storage, _) = count(&history(), 100);
        // alice's contact exactly a window old is kept; bert's older one goes.
        assert_eq!(
            crate::traffic::prune(&storage, "t", alice + REPEAT_WINDOW_MS).unwrap(),
            (0, 1)
        );
        assert!(
            storage
                .kpi_last_contact("t", "alice", "card_arrival")
                .unwrap()
                .is_some()
        );
        assert!(
            storage
                .kpi_last_contact("t", "bert", "card_arrival")
                .unwrap()
                .is_none()
        );
        assert_eq!(
            crate::traffic::prune(&storage, "t", alice + REPEAT_WINDOW_MS + 1).unwrap(),
            (0, 1)
        );
        // c3, quiet exactly the retention, is kept; c1 and c2 go.
        assert_eq!(
            crate::traffic::prune(&storage, "t", newest + TRACK_RETENTION_MS).unwrap(),
            (2, 0)
        );
        assert!(storage.kpi_track("t", "c3").unwrap().is_some());
        assert_eq!(
            crate::traffic::prune(&storage, "t", newest + TRACK_RETENTION_MS + 1).unwrap(),
            (1, 0)
        );
        assert!(storage.kpi_track("t", "c3").unwrap().is_none());
        // The counts stay.
        let day = day_total(
            &storage.kpi_range("t", 0, u64::MAX / HOUR_MS).unwrap(),
            T0 / DAY_MS,
        );
        assert_eq!(day.started, 2);
    }

    #[test]
    fn a_prune_goes_page_by_page_through_many_conversations() {
        let events: Vec<Event> = (0..12_000)
            .map(|n| customer(T0, &format!("p{n}"), &format!("who{n}"), true, true))
            .collect();
        let (storage, _) = count(&events, 5_000);
        let now = T0 + TRACK_RETENTION_MS + 1;
        let (_, _, next) = storage.kpi_prune_page("t", now, None).unwrap();
        assert!(next.is_some(), "24,000 keys are more than a page");
        // The first page was 5,000 tracks (they sort before the contacts);
        // the rest, page by page from the start again: nothing left behind.
        assert_eq!(
            crate::traffic::prune(&storage, "t", now).unwrap(),
            (7_000, 12_000)
        );
        assert_eq!(crate::traffic::prune(&storage, "t", now).unwrap(), (0, 0));
    }

    #[test]
    fn a_reopened_conversation_is_surveyed_again_and_both_answers_count() {
        use ConversationStatus::*;
        let events = vec![
            customer(T0, "c1", "alice", true, true),
            status(
                T0 + 60 * SEC,
                "c1",
                Resolved,
                "",
                json!({"by": null, "survey": true}),
            ),
            event(
                T0 + 70 * SEC,
                EventKind::SurveyAnswered,
                "c1",
                json!({"score": 2}),
            ),
            status(T0 + 80 * SEC, "c1", Reopened, "", json!(null)),
            status(
                T0 + 90 * SEC,
                "c1",
                Resolved,
                "",
                json!({"by": null, "survey": true}),
            ),
            event(
                T0 + 95 * SEC,
                EventKind::SurveyAnswered,
                "c1",
                json!({"score": 4}),
            ),
        ];
        let (_, buckets) = count(&events, 3);
        let k = Kpis::of(&day_total(&buckets, T0 / DAY_MS));
        assert_eq!(k.surveys_answered, 2);
        assert_eq!(k.csat_response_rate, Some(1.0));
        assert_eq!(k.csat_average, Some(3.0));
        // Resolved twice, counted once.
        assert_eq!(k.resolved, 1);
    }

    #[test]
    fn an_intent_named_after_the_first_message_still_finds_a_repeat() {
        use ConversationStatus::*;
        let mut no_intent = customer(T0 + DAY_MS, "c2", "alice", true, true);
        no_intent.detail.as_mut().unwrap()["intent"] = json!(null);
        let events = vec![
            customer(T0, "c1", "alice", true, true),
            status(T0 + 60 * SEC, "c1", Resolved, "", json!({"by": null})),
            no_intent,
            customer(T0 + DAY_MS + 10 * SEC, "c2", "alice", false, true),
        ];
        let (_, buckets) = count(&events, 2);
        let k = Kpis::of(&day_total(&buckets, T0 / DAY_MS));
        assert_eq!(
            k.first_contact_resolution,
            Some(0.0),
            "c1 was not resolved at first contact"
        );
    }

    #[test]
    fn a_contact_after_seven_days_is_not_a_repeat() {
        use ConversationStatus::*;
        let events = vec![
            customer(T0, "c1", "alice", true, true),
            status(T0 + 60 * SEC, "c1", Resolved, "", json!({"by": null})),
            // 7 days after the resolution: still a repeat...
            customer(T0 + 60 * SEC + REPEAT_WINDOW_MS, "c2", "alice", true, true),
            status(
                T0 + 2 * REPEAT_WINDOW_MS,
                "c2",
                Resolved,
                "",
                json!({"by": null}),
            ),
            // ...one millisecond later than that, after c2: not.
            customer(T0 + 3 * REPEAT_WINDOW_MS + 1, "c3", "alice", true, true),
        ];
        let (_, buckets) = count(&events, 2);
        let of = |day: u64| Kpis::of(&day_total(&buckets, day));
        assert_eq!(of(T0 / DAY_MS).first_contact_resolution, Some(0.0));
        let c2_day = (T0 + 60 * SEC + REPEAT_WINDOW_MS) / DAY_MS;
        assert_eq!(of(c2_day).first_contact_resolution, Some(1.0));
    }

    #[test]
    fn a_conversation_begun_before_the_log_counts_under_no_group_and_in_no_rate() {
        let events = vec![
            status(
                T0,
                "old",
                ConversationStatus::Waiting,
                "billing",
                json!(null),
            ),
            event(
                T0 + 5 * SEC,
                EventKind::MessageCreated,
                "old",
                json!({"author": "agent", "agent": "ann", "private": false}),
            ),
        ];
        let (_, buckets) = count(&events, 10);
        let total = day_total(&buckets, T0 / DAY_MS);
        // Its handoff and first response count; as it was not "begun",
        // it is no handed-over conversation of a transfer rate.
        assert_eq!(
            (
                total.started,
                total.handoffs,
                total.handed_off,
                total.first_response.n
            ),
            (0, 1, 0, 1)
        );
        assert!(
            buckets
                .keys()
                .all(|(_, g)| g.is_empty() || g.starts_with("q:") || g.starts_with("a:"))
        );
    }
}
