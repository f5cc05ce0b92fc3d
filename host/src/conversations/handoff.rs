//! Everything an agent needs to take a conversation over, in one call, so
//! they never ask what the customer already said: the history, the
//! customer (tier, tags, earlier conversations, open tickets), every fact
//! the conversation established, every escalation reason and finding, the
//! conversation's ticket, and the suggested first reply.

use serde::Serialize;

use super::DeskActor;
use crate::app::{Result, Switchyard, check_id};
use crate::model::*;
use crate::storage::TicketHead;

/// Entries of the history a handoff carries (the newest).
pub const HISTORY_ENTRIES: usize = 200;
/// Earlier conversations of the customer it lists.
pub const EARLIER_CONVERSATIONS: usize = 10;

#[derive(Serialize)]
pub struct Handoff {
    pub conversation: Conversation,
    pub customer: CustomerContext,
    /// Every fact of the conversation (entities of all its messages, one
    /// per kind and value), oldest first.
    pub facts: Vec<ConversationFact>,
    /// Why it came to people: each reason once, with the message that gave it.
    pub escalation_reasons: Vec<Noted<EscalationReason>>,
    /// Sensitive words, drug interactions, personal data: each with its message.
    pub findings: Vec<Noted<FindingResult>>,
    /// The ticket the conversation opened or updated last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Ticket>,
    /// The best reply suggestion for the latest customer message (none on
    /// the agent's no-assist day).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_reply: Option<SuggestionResult>,
    /// One line: topic, facts, ticket.
    pub summary: String,
    /// The newest entries, oldest first.
    pub history: Vec<Entry>,
    /// The history was longer than what is here.
    pub history_truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_assist_today: bool,
}

#[derive(Serialize)]
pub struct CustomerContext {
    pub id: String,
    pub tier: Tier,
    pub tags: Vec<String>,
    /// Their other conversations, newest first.
    pub earlier_conversations: Vec<ConversationHead>,
    pub open_tickets: Vec<TicketHead>,
}

/// Something a message said, with that message.
#[derive(Serialize)]
pub struct Noted<T> {
    pub message_id: String,
    #[serde(flatten)]
    pub item: T,
}

impl Switchyard {
    pub fn handoff(
        &self,
        tenant: &str,
        conversation_id: &str,
        actor: &DeskActor,
    ) -> Result<Handoff> {
        check_id("conversation id", conversation_id)?;
        let conversation = self.existing_conversation(tenant, conversation_id)?;
        let mut entries = self.storage.entries(tenant, conversation_id)?;
        let no_assist_today = self.no_assist_for(tenant, actor)?;
        let mut escalation_reasons: Vec<Noted<EscalationReason>> = Vec::new();
        let mut findings: Vec<Noted<FindingResult>> = Vec::new();
        let mut suggested_reply = None;
        for entry in &entries {
            let Entry::Customer { message, .. } = entry else {
                continue;
            };
            for reason in &message.decision.escalation.reasons {
                let seen = escalation_reasons
                    .iter()
                    .any(|r| r.item.code == reason.code && r.item.detail == reason.detail);
                if !seen {
                    escalation_reasons.push(Noted {
                        message_id: message.id.clone(),
                        item: reason.clone(),
                    });
                }
            }
            for finding in &message.decision.findings {
                findings.push(Noted {
                    message_id: message.id.clone(),
                    item: finding.clone(),
                });
            }
            suggested_reply = super::suggestions::best_reply(&message.decision).cloned();
        }
        if no_assist_today {
            suggested_reply = None;
            for entry in &mut entries {
                if let Entry::Customer { message, .. } = entry {
                    super::suggestions::hide_suggestions(&mut message.decision);
                }
            }
        }
        let history_truncated = entries.len() > HISTORY_ENTRIES;
        let history = entries.split_off(entries.len().saturating_sub(HISTORY_ENTRIES));
        let ticket = match &conversation.state.ticket_id {
            Some(id) => self.storage.ticket(tenant, id)?,
            None => None,
        };
        let customer = &conversation.customer;
        let earlier_conversations = self
            .storage
            .customer_conversations(tenant, &customer.id, EARLIER_CONVERSATIONS + 1)?
            .into_iter()
            .filter(|c| c.id != conversation.id)
            .take(EARLIER_CONVERSATIONS)
            .map(|c| ConversationHead::of(&c, String::new()))
            .collect();
        let open_tickets = self.storage.open_tickets_of(tenant, &customer.id)?;
        let summary = summary_line(&conversation, ticket.as_ref());
        Ok(Handoff {
            customer: CustomerContext {
                id: customer.id.clone(),
                tier: customer.tier,
                tags: customer.tags.clone(),
                earlier_conversations,
                open_tickets,
            },
            facts: conversation.state.facts.clone(),
            escalation_reasons,
            findings,
            ticket,
            suggested_reply,
            summary,
            history,
            history_truncated,
            no_assist_today,
            conversation,
        })
    }
}

/// `refund · order-id 2024113012345 · ticket t-1f (open)`.
pub fn summary_line(conversation: &Conversation, ticket: Option<&Ticket>) -> String {
    let mut parts = Vec::new();
    if let Some(intent) = &conversation.state.intent {
        parts.push(intent.name.clone());
    }
    for fact in &conversation.state.facts {
        parts.push(format!("{} {}", fact.kind, fact.value));
    }
    if let Some(ticket) = ticket {
        let status = serde_json::to_value(ticket.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        parts.push(format!("ticket {} ({status})", ticket.id));
    }
    if parts.is_empty() {
        "nothing established yet".into()
    } else {
        parts.join(" · ")
    }
}
