//! `tickets`: the current customer's open tickets.

use crate::bindings::tickets::{Host, TicketStatus, TicketSummary};
use crate::model;
use crate::runtime::HostState;

/// Most tickets one call returns.
const MAX_TICKETS: usize = 20;

impl Host for HostState {
    fn open_tickets(&mut self) -> wasmtime::Result<Vec<TicketSummary>> {
        let _span = tracing::trace_span!("tickets.open_tickets").entered();
        let Some(call) = self.context("tickets.open-tickets")? else {
            return Ok(Vec::new());
        };
        let tickets = call
            .storage
            .open_tickets_of(&call.tenant, &call.customer.id)
            .map_err(super::host_fault)?;
        Ok(tickets
            .into_iter()
            .take(MAX_TICKETS)
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
