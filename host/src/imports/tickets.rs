//! `tickets`: the current customer's open tickets.

use crate::bindings::tickets::{Host, TicketStatus, TicketSummary};
use crate::model;
use crate::runtime::CallContext;
use crate::runtime::HostState;
use crate::storage::TicketHead;

/// Most tickets one call returns.
pub(super) const MAX_TICKETS: usize = 20;

/// The customer's open and pending tickets, newest first, read once per
/// message (the escalator, the router and the ticketer all ask).
pub(super) fn open_tickets(call: &CallContext) -> wasmtime::Result<std::sync::Arc<[TicketHead]>> {
    let mut memo = call
        .reads
        .open_tickets
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(tickets) = &*memo {
        return Ok(tickets.clone());
    }
    let tickets: std::sync::Arc<[_]> = call
        .storage
        .open_tickets_of(&call.tenant, &call.customer.id)
        .map_err(super::host_fault)?
        .into();
    *memo = Some(tickets.clone());
    Ok(tickets)
}

impl Host for HostState {
    fn open_tickets(&mut self) -> wasmtime::Result<Vec<TicketSummary>> {
        let _span = tracing::trace_span!("tickets.open_tickets").entered();
        let Some(call) = self.context("tickets.open-tickets")? else {
            return Ok(Vec::new());
        };
        let tickets = open_tickets(&call)?;
        Ok(tickets
            .iter()
            .take(MAX_TICKETS)
            .cloned()
            .map(|t| TicketSummary {
                id: t.id,
                title: t.title,
                department: t.department,
                intent: t.intent,
                status: match t.status {
                    model::TicketStatus::Open => TicketStatus::Open,
                    model::TicketStatus::Pending => TicketStatus::Pending,
                    model::TicketStatus::Solved => TicketStatus::Solved,
                    model::TicketStatus::Closed => TicketStatus::Closed,
                },
                created_at_ms: t.created_at_ms,
            })
            .collect())
    }
}
