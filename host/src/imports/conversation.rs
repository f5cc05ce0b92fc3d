//! `conversation`: the current conversation's history and customer.

use crate::bindings::conversation::{Host, PastMessage};
use crate::bindings::types::{Customer, Intent, Tier};
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
}
