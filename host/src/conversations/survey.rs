//! The satisfaction survey and the service summary of a resolution.
//!
//! When a conversation is resolved (and the tenant has the survey on, and
//! its topic is not excluded) the customer gets a survey: an entry in the
//! conversation and, with a channel endpoint, a delivery (after
//! `delay_secs`). Within the window the customer answers 1 to 5 through
//! the API or with a reply that is only a rating (a digit, stars, a rating
//! word or emoji in Chinese or English), at most once per resolution. A
//! score at or below `follow_up_at_or_below` opens a follow-up ticket for
//! the supervisors with the conversation attached. After the window the
//! conversation closes (`close_expired`).

use crate::app::{Error, Result, Switchyard, check_id};
use crate::model::*;
use crate::storage::{Commit, ConversationFilter, TicketChange};

/// What an answer writes with the conversation.
pub(crate) struct Answered {
    posts: Vec<Post>,
    ticket: Option<TicketChange>,
    events: Vec<Event>,
    outbox: Vec<OutboxItem>,
}

/// Longest survey comment, in bytes.
pub const MAX_COMMENT_BYTES: usize = 2_000;

/// A message that is only a rating, read as 1 to 5: `5`, `５`, `4分`,
/// `3星`, `★★★★`, `5/5`, `非常满意`, `一般`, `great`, `terrible`, `👍`.
pub fn rating_of(text: &str) -> Option<u8> {
    let t = text
        .trim()
        .trim_end_matches(['.', '!', '。', '！', '~'])
        .trim();
    if t.is_empty() || t.chars().count() > 12 {
        return None;
    }
    let lower = t.to_lowercase();
    let digit = |c: char| match c {
        '1'..='5' => Some(c as u8 - b'0'),
        '１'..='５' => Some((c as u32 - '０' as u32) as u8),
        _ => None,
    };
    let mut chars = lower.chars();
    if let Some(first) = chars.next()
        && let Some(score) = digit(first)
    {
        let rest: String = chars.collect();
        let rest = rest.trim();
        if [
            "",
            "分",
            "星",
            "颗星",
            "/5",
            "/ 5",
            "分满意",
            " stars",
            " star",
            " out of 5",
        ]
        .contains(&rest)
        {
            return Some(score);
        }
    }
    let stars = t.chars().filter(|c| *c == '★' || *c == '⭐').count();
    if stars > 0
        && t.chars()
            .all(|c| c == '★' || c == '⭐' || c == '☆' || c.is_whitespace())
    {
        return u8::try_from(stars.min(5)).ok();
    }
    const WORDS: &[(&str, u8)] = &[
        ("非常满意", 5),
        ("很满意", 5),
        ("超级满意", 5),
        ("非常好", 5),
        ("很好", 5),
        ("太棒了", 5),
        ("满意", 4),
        ("好", 4),
        ("还不错", 4),
        ("不错", 4),
        ("一般", 3),
        ("还行", 3),
        ("凑合", 3),
        ("不满意", 2),
        ("不太满意", 2),
        ("差", 2),
        ("很差", 1),
        ("非常差", 1),
        ("非常不满意", 1),
        ("很不满意", 1),
        ("太差了", 1),
        ("excellent", 5),
        ("great", 5),
        ("amazing", 5),
        ("very good", 5),
        ("perfect", 5),
        ("good", 4),
        ("satisfied", 4),
        ("ok", 3),
        ("okay", 3),
        ("average", 3),
        ("fine", 3),
        ("meh", 3),
        ("poor", 2),
        ("bad", 2),
        ("unsatisfied", 2),
        ("dissatisfied", 2),
        ("very bad", 1),
        ("terrible", 1),
        ("awful", 1),
        ("horrible", 1),
        ("😍", 5),
        ("🤩", 5),
        ("😀", 4),
        ("😊", 4),
        ("🙂", 4),
        ("👍", 4),
        ("😐", 3),
        ("🙁", 2),
        ("👎", 2),
        ("😞", 2),
        ("😡", 1),
        ("😠", 1),
    ];
    WORDS.iter().find(|(w, _)| *w == lower).map(|(_, s)| *s)
}

/// The survey question in the conversation's language.
fn question(language: Option<&str>) -> &'static str {
    match language {
        Some("en") => "How did we do? Reply with a number from 1 (poor) to 5 (excellent).",
        _ => "请为本次服务打分：回复 1-5 的数字（5 为非常满意）。",
    }
}

fn thanks(language: Option<&str>) -> &'static str {
    match language {
        Some("en") => "Thank you for your rating.",
        _ => "感谢您的评价！",
    }
}

/// The summary of a conversation at its resolution.
pub fn service_summary(
    conversation: &Conversation,
    ticket: Option<&Ticket>,
    entries: &[Entry],
    resolved_by: Option<&str>,
    at_ms: u64,
) -> ServiceSummary {
    let mut actions = Vec::new();
    let bot_replies = entries
        .iter()
        .filter(|e| matches!(e, Entry::Post(p) if p.author == Author::Bot))
        .count();
    if bot_replies > 0 {
        actions.push(format!("the assistant answered {bot_replies} time(s)"));
    }
    let mut agents: Vec<(String, usize)> = Vec::new();
    for entry in entries {
        if let Entry::Post(p) = entry
            && p.author == Author::Agent
            && !p.private
            && let Some(agent) = &p.agent_id
        {
            match agents.iter_mut().find(|(a, _)| a == agent) {
                Some((_, n)) => *n += 1,
                None => agents.push((agent.clone(), 1)),
            }
        }
    }
    for (agent, n) in &agents {
        actions.push(format!("agent {agent} replied {n} time(s)"));
    }
    if let Some(ticket) = ticket {
        actions.push(format!("ticket {} for {}", ticket.id, ticket.department));
    }
    actions.push(match resolved_by {
        Some(agent) => format!("resolved by agent {agent}"),
        None => "resolved".into(),
    });
    let line = super::handoff::summary_line(conversation, ticket);
    ServiceSummary {
        text: format!("{line}. {}.", actions.join("; ")),
        intent: conversation.state.intent.as_ref().map(|i| i.name.clone()),
        facts: conversation.state.facts.clone(),
        actions,
        ticket_id: ticket.map(|t| t.id.clone()),
        ticket_status: ticket.map(|t| t.status),
        at_ms,
    }
}

impl Switchyard {
    /// What a resolution adds to its commit: the summary (stored; sent
    /// when the tenant wants it) and the survey. Returns the posts and
    /// deliveries to write with it.
    pub(crate) fn on_resolution(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        resolved_by: Option<&str>,
        now: u64,
    ) -> Result<(Vec<Post>, Vec<OutboxItem>)> {
        let ticket = match &conversation.state.ticket_id {
            Some(id) => self.storage.ticket(&tenant.id, id)?,
            None => None,
        };
        let entries = self.storage.entries(&tenant.id, &conversation.id)?;
        let summary = service_summary(conversation, ticket.as_ref(), &entries, resolved_by, now);
        let (mut posts, mut outbox) = (Vec::new(), Vec::new());
        if tenant.settings.send_summary {
            let post = self
                .post(
                    &tenant.id,
                    conversation,
                    (Author::System, None),
                    summary.text.clone(),
                    now,
                )?
                .action("summary");
            outbox.extend(self.outbound(
                tenant,
                conversation,
                OutboundKind::Summary,
                serde_json::to_value(&summary).unwrap_or_default(),
                now,
            )?);
            posts.push(post);
        }
        conversation.summary = Some(summary);
        let survey = &tenant.settings.survey;
        let topic = conversation.state.intent.as_ref().map(|i| i.name.as_str());
        let skipped = topic.is_some_and(|t| survey.skip_intents.iter().any(|s| s == t));
        conversation.survey = None;
        if survey.enabled && !skipped {
            let text = question(conversation.state.language.as_deref()).to_string();
            let post = self
                .post(
                    &tenant.id,
                    conversation,
                    (Author::System, None),
                    text.clone(),
                    now,
                )?
                .action("survey");
            let send_at = now + survey.delay_secs.saturating_mul(1000);
            if let Some(mut item) = self.outbound(
                tenant,
                conversation,
                OutboundKind::Survey,
                serde_json::json!({"id": post.id, "question": text, "scale": [1, 5]}),
                now,
            )? {
                item.next_attempt_ms = send_at;
                outbox.push(item);
            }
            conversation.survey = Some(SurveyRecord {
                sent_at_ms: send_at,
                open_until_ms: now + u64::from(survey.window_hours) * 3_600_000,
                score: None,
                comment: None,
                answered_at_ms: None,
                follow_up_ticket: None,
            });
            posts.push(post);
        }
        Ok((posts, outbox))
    }

    /// Whether a customer message is the answer to an open survey.
    pub(crate) fn survey_answer_in(
        conversation: &Conversation,
        text: &str,
        now: u64,
    ) -> Option<u8> {
        let survey = conversation.survey.as_ref()?;
        // Not before the survey went out (a delayed one): "ok" said then
        // is no rating.
        (conversation.status == ConversationStatus::Resolved
            && survey.score.is_none()
            && now >= survey.sent_at_ms
            && now <= survey.open_until_ms)
            .then(|| rating_of(text))
            .flatten()
    }

    /// Record the customer's answer (API or reply), at most once per
    /// resolution; a low score opens the follow-up ticket. `message` is the
    /// customer's reply that carried it, when it came as one.
    pub(crate) fn answer_survey_in(
        &self,
        tenant: &Tenant,
        conversation: &mut Conversation,
        score: u8,
        comment: Option<String>,
        now: u64,
    ) -> Result<Answered> {
        let settings = &tenant.settings.survey;
        let survey = conversation.survey.as_mut().ok_or_else(|| {
            Error::Conflict(format!(
                "conversation {:?} has no survey open: it is sent when the conversation is resolved",
                conversation.id
            ))
        })?;
        if survey.score.is_some() {
            return Err(Error::Conflict(
                "the survey of this resolution is answered already".into(),
            ));
        }
        if now > survey.open_until_ms {
            return Err(Error::Conflict(format!(
                "the survey closed {} h after the resolution",
                settings.window_hours
            )));
        }
        survey.score = Some(score);
        survey.comment = comment.clone();
        survey.answered_at_ms = Some(now);
        let mut ticket = None;
        if score <= settings.follow_up_at_or_below {
            let id = format!("t-{:x}", self.storage.next_id(&tenant.id)?);
            survey.follow_up_ticket = Some(id.clone());
            let mut facts = vec![
                TicketFact {
                    key: "score".into(),
                    value: format!("{score}/5"),
                },
                TicketFact {
                    key: "conversation".into(),
                    value: conversation.id.clone(),
                },
            ];
            if let Some(agent) = &conversation.resolved_by {
                facts.push(TicketFact {
                    key: "agent".into(),
                    value: agent.clone(),
                });
            }
            if let Some(comment) = &comment {
                facts.push(TicketFact {
                    key: "comment".into(),
                    value: crate::pii::mask(comment).into_owned(),
                });
            }
            let summary = conversation
                .summary
                .as_ref()
                .map(|s| s.text.clone())
                .unwrap_or_default();
            ticket = Some(TicketChange::Open(Ticket {
                id,
                conversation_id: conversation.id.clone(),
                customer_id: conversation.customer.id.clone(),
                intent: "csat-follow-up".into(),
                title: format!(
                    "Low satisfaction ({score}/5) on conversation {}",
                    conversation.id
                ),
                department: settings.follow_up_department.clone(),
                priority: 7,
                summary,
                facts,
                status: TicketStatus::Open,
                created_at_ms: now,
                updated_at_ms: now,
                message_ids: vec![],
                agent: None,
                last_conversation_id: None,
            }));
        }
        conversation.updated_at_ms = now;
        let post = self
            .post(
                &tenant.id,
                conversation,
                (Author::System, None),
                thanks(conversation.state.language.as_deref()).to_string(),
                now,
            )?
            .action("survey-answered");
        let outbox: Vec<OutboxItem> = self
            .outbound_message(tenant, conversation, &post)?
            .into_iter()
            .collect();
        let survey = conversation.survey.clone().expect("set above");
        let events = vec![
            Event::about(EventKind::SurveyAnswered, conversation, now).with_detail(
                serde_json::json!({
                    "score": score,
                    "comment": comment.map(|c| crate::pii::mask(&c).into_owned()),
                    "follow_up_ticket": survey.follow_up_ticket,
                    "agent": conversation.resolved_by,
                }),
            ),
            Event::about(EventKind::MessageCreated, conversation, now).with_message(&post.id),
        ];
        Ok(Answered {
            posts: vec![post],
            ticket,
            events,
            outbox,
        })
    }

    /// A customer's reply that answers the survey: stored as their message
    /// (with a decision that says so; no plugin runs), with the answer.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn take_survey_reply(
        &self,
        tenant: &Tenant,
        mut conversation: Conversation,
        message_id: String,
        message: crate::app::NewMessage,
        score: u8,
        now: u64,
        write: Option<crate::durability::WriteIntent>,
    ) -> Result<MessageRecord> {
        let text = if tenant.settings.mask_stored_messages {
            crate::pii::mask(&message.text).into_owned()
        } else {
            message.text
        };
        let record = MessageRecord {
            id: message_id,
            conversation_id: conversation.id.clone(),
            text,
            channel: message.channel,
            customer: message.customer,
            received_at_ms: now,
            decision: Decision::survey_answer(score),
            correction: None,
        };
        conversation.message_count += 1;
        let Answered {
            posts,
            ticket,
            mut events,
            outbox,
        } = self.answer_survey_in(tenant, &mut conversation, score, None, now)?;
        events.insert(
            0,
            Event::about(EventKind::MessageCreated, &conversation, now).with_message(&record.id),
        );
        let delivers = !outbox.is_empty();
        self.storage
            .commit_durably(
                Commit {
                    tenant: tenant.id.clone(),
                    conversation: Some(conversation),
                    message: Some(record.clone()),
                    posts,
                    ticket,
                    events,
                    outbox,
                    ..Default::default()
                },
                write,
            )
            .map_err(Error::from)?;
        if delivers {
            self.outbox_queued();
        }
        Ok(record)
    }

    /// The customer's answer through the API (`POST .../survey`).
    pub fn answer_survey(
        &self,
        tenant: &str,
        conversation_id: &str,
        score: u8,
        comment: Option<String>,
    ) -> Result<Conversation> {
        check_id("conversation id", conversation_id)?;
        if !(1..=5).contains(&score) {
            return Err(Error::Invalid(format!("a score is 1 to 5, not {score}")));
        }
        if comment
            .as_ref()
            .is_some_and(|c| c.len() > MAX_COMMENT_BYTES)
        {
            return Err(Error::Invalid(format!(
                "a comment is at most {MAX_COMMENT_BYTES} bytes"
            )));
        }
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let mut conversation = self.existing_conversation(tenant, conversation_id)?;
        let record = self.tenant(tenant)?;
        let now = now_ms();
        let Answered {
            posts,
            ticket,
            events,
            outbox,
        } = self.answer_survey_in(&record, &mut conversation, score, comment, now)?;
        let delivers = !outbox.is_empty();
        self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation.clone()),
            posts,
            ticket,
            events,
            outbox,
            ..Default::default()
        })?;
        if delivers {
            self.outbox_queued();
        }
        Ok(conversation)
    }

    /// Close the tenant's resolved conversations whose survey window has
    /// passed; returns how many.
    pub fn close_expired(&self, tenant: &str) -> Result<usize> {
        let window_ms = u64::from(self.settings(tenant)?.survey.window_hours) * 3_600_000;
        let now = now_ms();
        let filter = ConversationFilter {
            statuses: vec![ConversationStatus::Resolved],
            ..Default::default()
        };
        // Oldest first: stop at the first still inside its window.
        let page = self
            .storage
            .conversations_page(tenant, &filter, None, 200)?;
        let mut closed = 0;
        for head in page.items {
            if head.updated_at_ms + window_ms > now {
                break;
            }
            let _serial = self.conversation_locks.conversation(tenant, &head.id);
            let Some(mut conversation) = self.storage.conversation(tenant, &head.id)? else {
                continue;
            };
            let ended = conversation
                .survey
                .as_ref()
                .map_or(conversation.updated_at_ms + window_ms, |s| s.open_until_ms);
            if conversation.status != ConversationStatus::Resolved || ended > now {
                continue;
            }
            super::status::set_status(&mut conversation, ConversationStatus::Closed, now);
            conversation.updated_at_ms = now;
            let event = Event::about(EventKind::ConversationStatus, &conversation, now)
                .with_detail(serde_json::json!({"why": "survey window passed"}));
            self.commit_change(Commit {
                tenant: tenant.into(),
                conversation: Some(conversation),
                events: vec![event],
                ..Default::default()
            })?;
            closed += 1;
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::rating_of;

    #[test]
    fn a_reply_that_is_only_a_rating_is_read_in_chinese_and_english() {
        for (text, score) in [
            ("5", 5),
            (" 1 ", 1),
            ("５", 5),
            ("4分", 4),
            ("3星", 3),
            ("2/5", 2),
            ("★★★★", 4),
            ("⭐⭐⭐⭐⭐", 5),
            ("非常满意", 5),
            ("满意！", 4),
            ("一般", 3),
            ("不满意", 2),
            ("很差", 1),
            ("Excellent!", 5),
            ("good", 4),
            ("OK", 3),
            ("bad", 2),
            ("terrible.", 1),
            ("👍", 4),
            ("😡", 1),
        ] {
            assert_eq!(rating_of(text), Some(score), "{text}");
        }
        for text in [
            "6",
            "0",
            "12345",
            "5 items were missing",
            "我的订单 5 天没到",
            "not good at all, the parcel never came",
            "",
            "好的，谢谢",
        ] {
            assert_eq!(rating_of(text), None, "{text}");
        }
    }
}
