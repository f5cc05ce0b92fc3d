//! `conversation`: the current conversation's history and customer.

use crate::bindings::conversation::{
    ConversationState, Fact, Holder, Host, PastMessage, TicketHolder,
};
use crate::bindings::types::{Customer, Intent, Tier};
use crate::model;
use crate::runtime::HostState;

/// Most earlier messages a plugin may read in one call.
const MAX_HISTORY: u32 = 50;

impl Host for HostState {
    fn history(&mut self, limit: u32) -> wasmtime::Result<Vec<PastMessage>> {
        let _span = tracing::trace_span!("conversation.history", limit).entered();
        let Some(call) = self.context("conversation.history")? else {
            return Ok(Vec::new());
        };
        let limit = limit.min(MAX_HISTORY) as usize;
        // One more than asked: the current message, if already stored, is
        // left out below.
        let wanted = limit + 1;
        let records = {
            let mut memo = call.reads.history.lock().unwrap_or_else(|p| p.into_inner());
            match &*memo {
                Some((fetched, records)) if *fetched >= wanted => {
                    // The newest `wanted` of what an earlier call read.
                    let skip = records.len().saturating_sub(wanted);
                    records[skip..].to_vec()
                }
                _ => {
                    let records: std::sync::Arc<[_]> = call
                        .storage
                        .recent_history(&call.tenant, &call.conversation_id, wanted)
                        .map_err(super::host_fault)?
                        .into();
                    *memo = Some((wanted, records.clone()));
                    records.to_vec()
                }
            }
        };
        let mut past: Vec<PastMessage> = records
            .into_iter()
            .filter(|m| m.id != call.message_id)
            .map(|m| PastMessage {
                id: m.id,
                text: m.text,
                intent: (m.decision.intent.name != "unknown").then_some(Intent {
                    name: m.decision.intent.name,
                    confidence: m.decision.intent.confidence,
                }),
                escalated: m.decision.escalation.escalate,
                received_at_ms: m.received_at_ms,
            })
            .collect();
        let skip = past.len().saturating_sub(limit);
        past.drain(..skip);
        Ok(past)
    }

    fn customer_profile(&mut self) -> wasmtime::Result<Customer> {
        let _span = tracing::trace_span!("conversation.customer_profile").entered();
        Ok(match self.context("conversation.customer-profile")? {
            Some(call) => call.customer,
            None => Customer {
                id: String::new(),
                tier: Tier::Standard,
                tags: vec![],
            },
        })
    }

    fn assigned_agent(&mut self) -> wasmtime::Result<Option<String>> {
        let _span = tracing::trace_span!("conversation.assigned_agent").entered();
        Ok(self
            .context("conversation.assigned-agent")?
            .and_then(|call| call.assigned_agent))
    }

    fn state(&mut self) -> wasmtime::Result<ConversationState> {
        let _span = tracing::trace_span!("conversation.state").entered();
        let Some(call) = self.context("conversation.state")? else {
            return Ok(ConversationState {
                intent: None,
                ticket_id: None,
                facts: vec![],
                holder: Holder::Bot,
                language: None,
                ticket_holders: vec![],
            });
        };
        let state = &call.state;
        let open = super::tickets::open_tickets(&call)?;
        Ok(ConversationState {
            intent: state.intent.as_ref().map(|i| Intent {
                name: i.name.clone(),
                confidence: i.confidence,
            }),
            // Only while it is still open: a solved ticket is not updated.
            ticket_id: state
                .ticket_id
                .clone()
                .filter(|id| open.iter().any(|t| &t.id == id)),
            facts: state
                .facts
                .iter()
                .map(|f| Fact {
                    kind: f.kind.clone(),
                    value: f.value.clone(),
                    message_id: f.message_id.clone(),
                })
                .collect(),
            holder: match &state.holder {
                model::Holder::Bot => Holder::Bot,
                model::Holder::Queue(q) => Holder::Queue(q.clone()),
                model::Holder::Agent(a) => Holder::Agent(a.clone()),
            },
            language: state.language.clone(),
            ticket_holders: open
                .iter()
                .take(super::tickets::MAX_TICKETS)
                .map(|t| TicketHolder {
                    ticket_id: t.id.clone(),
                    intent: t.intent.clone(),
                    agent: t.agent.clone(),
                    conversation_id: t
                        .last_conversation_id
                        .clone()
                        .unwrap_or_else(|| t.conversation_id.clone()),
                })
                .collect(),
        })
    }
}
