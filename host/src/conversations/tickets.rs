//! A ticket's status set by the team (`PATCH /v1/tickets/{id}`): written
//! with a `ticket.status` event in one commit, so the numbers
//! (`crate::kpi`: ticket handling time, closure within 24 h) count it.

use crate::app::{Error, Result, Switchyard, check_id};
use crate::model::*;
use crate::storage::{Commit, TicketChange};

impl Switchyard {
    pub fn set_ticket_status(
        &self,
        tenant: &str,
        ticket_id: &str,
        status: TicketStatus,
    ) -> Result<Ticket> {
        check_id("ticket id", ticket_id)?;
        let missing = || Error::NotFound(format!("ticket {ticket_id:?} does not exist"));
        let peek = self
            .storage
            .ticket(tenant, ticket_id)?
            .ok_or_else(missing)?;
        // Under the lock of the conversation it was last updated from, two
        // status changes of the ticket read and write one after the other
        // (the event says what the status was); the status itself is set
        // inside the commit on the ticket as stored then, so a customer
        // message updating the ticket from another conversation loses
        // nothing.
        let conversation_id = peek
            .last_conversation_id
            .clone()
            .unwrap_or(peek.conversation_id.clone());
        let _serial = self
            .conversation_locks
            .conversation(tenant, &conversation_id);
        let ticket = self
            .storage
            .ticket(tenant, ticket_id)?
            .ok_or_else(missing)?;
        let from = ticket.status;
        if from == status {
            return Ok(ticket);
        }
        let now = now_ms();
        let event = Event {
            id: 0,
            at_ms: now,
            kind: EventKind::TicketStatus,
            conversation_id: Some(ticket.conversation_id.clone()),
            message_id: None,
            queue: None,
            agent: ticket.agent.clone(),
            status: None,
            detail: Some(serde_json::json!({
                "ticket": ticket.id,
                "department": ticket.department,
                "from": from,
                "to": status,
                "created_at_ms": ticket.created_at_ms,
            })),
        };
        let applied = self.commit_change(Commit {
            tenant: tenant.into(),
            ticket: Some(TicketChange::Status {
                id: ticket.id.clone(),
                status,
                at_ms: now,
            }),
            events: vec![event],
            ..Default::default()
        })?;
        Ok(applied.ticket.unwrap_or(ticket))
    }
}
