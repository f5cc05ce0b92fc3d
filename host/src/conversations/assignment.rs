//! Who gets a waiting conversation when an agent has room (they resolved,
//! transferred away, came online, or a colleague went offline): waiting
//! conversations are taken highest priority first, then longest waiting,
//! and each is placed by the tenant's own router (`Pipeline::route_again`
//! with its latest customer message and the roster as it is now), so
//! skills, languages, reserved VIP places and capacity count exactly as
//! they do for a new message. Nothing is left stuck in a queue while an
//! agent who serves it has room (chatwoot#10583).

use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::Arc;

use crate::app::{Result, Switchyard};
use crate::model::*;
use crate::pipeline::{Inbound, Pipeline};
use crate::storage::{Commit, ConversationFilter, StorageError};

/// Waiting conversations looked at per offer: the oldest ones. Beyond it,
/// the next offer (the next freed place) looks again.
pub const MAX_OFFERED: usize = 500;

/// What became of one waiting conversation.
enum Placed {
    Assigned,
    /// The router found nobody free in this queue.
    NobodyFree(Option<String>),
    /// It no longer waits, or has no message to route by.
    Skipped,
}

impl Switchyard {
    /// Offer the tenant's waiting conversations to agents with room; errors
    /// are logged (the action that freed the place has succeeded).
    pub(crate) fn offer_waiting(&self, tenant: &str) {
        match self.assign_waiting(tenant) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(tenant, assigned = n, "waiting conversations assigned"),
            Err(e) => tracing::error!(tenant, "assigning waiting conversations: {e}"),
        }
    }

    /// Assign waiting conversations by the router's rules while agents have
    /// room; returns how many were assigned.
    pub fn assign_waiting(&self, tenant: &str) -> Result<usize> {
        let filter = ConversationFilter {
            statuses: vec![ConversationStatus::Waiting],
            ..Default::default()
        };
        let mut waiting = self
            .storage
            .conversations_page(tenant, &filter, None, MAX_OFFERED)?
            .items;
        if waiting.is_empty() || !self.anyone_has_room(tenant)? {
            return Ok(0);
        }
        waiting.sort_by_key(|h| {
            (
                Reverse(h.priority),
                h.waiting_since_ms.unwrap_or(h.updated_at_ms),
            )
        });
        let pipeline = self.pipeline(tenant)?;
        let knowledge = self.knowledge(tenant)?;
        let mut nobody_free: HashSet<Option<String>> = HashSet::new();
        let mut assigned = 0;
        for head in waiting {
            if nobody_free.contains(&head.queue) {
                continue;
            }
            match self.place(tenant, &head.id, &pipeline, &knowledge)? {
                Placed::Assigned => {
                    assigned += 1;
                    if !self.anyone_has_room(tenant)? {
                        break;
                    }
                }
                Placed::NobodyFree(queue) => {
                    nobody_free.insert(queue);
                }
                Placed::Skipped => {}
            }
        }
        Ok(assigned)
    }

    fn anyone_has_room(&self, tenant: &str) -> Result<bool> {
        Ok(self
            .storage
            .agents(tenant)?
            .iter()
            .any(|a| a.agent.status == AgentStatus::Online && a.load < a.agent.capacity))
    }

    /// Route one waiting conversation again and assign it if the router
    /// names an agent.
    fn place(
        &self,
        tenant: &str,
        conversation_id: &str,
        pipeline: &Arc<Pipeline>,
        knowledge: &Arc<crate::knowledge::KnowledgeIndex>,
    ) -> Result<Placed> {
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let Some(mut conversation) = self.storage.conversation(tenant, conversation_id)? else {
            return Ok(Placed::Skipped);
        };
        if conversation.status != ConversationStatus::Waiting {
            return Ok(Placed::Skipped);
        }
        let Some(last) = self.storage.last_message(tenant, conversation_id)? else {
            return Ok(Placed::Skipped);
        };
        let settings = self.settings(tenant)?;
        let inbound = Inbound {
            tenant: Arc::from(tenant),
            conversation_id: conversation_id.into(),
            message_id: last.id.clone(),
            text: last.text.clone(),
            channel: last.channel.clone(),
            customer: conversation.customer.clone(),
            received_at_ms: last.received_at_ms,
            assigned_agent: None,
            state: conversation.state.clone(),
            declared_queues: settings.queues,
        };
        let (route, stats) =
            pipeline.route_again(&self.storage, knowledge.clone(), &inbound, &last.decision);
        self.observe_calls(tenant, &stats);
        let agent = match (route.to, &route.agent) {
            (RouteTarget::Agent, Some(agent)) => agent.clone(),
            _ => return Ok(Placed::NobodyFree(conversation.queue.clone())),
        };
        let now = now_ms();
        if route.queue.is_some() {
            conversation.queue = route.queue.clone();
        }
        conversation.assigned_agent = Some(agent.clone());
        conversation.last_agent = Some(agent.clone());
        conversation.state.holder = Holder::Agent(agent.clone());
        super::status::set_status(&mut conversation, ConversationStatus::Assigned, now);
        conversation.updated_at_ms = now;
        let post = self
            .post(
                tenant,
                &conversation,
                (Author::System, Some(agent.clone())),
                format!("agent {agent} joined the conversation"),
                now,
            )?
            .action("assigned");
        let events = vec![
            Event::about(EventKind::Assigned, &conversation, now)
                .with_detail(serde_json::json!({"reason": route.reason})),
            Event::about(EventKind::ConversationStatus, &conversation, now),
            Event::about(EventKind::MessageCreated, &conversation, now).with_message(&post.id),
        ];
        match self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation),
            assigned_agent: Some(agent),
            posts: vec![post],
            events,
            ..Default::default()
        }) {
            Ok(_) => Ok(Placed::Assigned),
            // Someone else took the place meanwhile: it waits for the next.
            Err(crate::app::Error::Storage(
                StorageError::AgentFull(_) | StorageError::AgentOffline(_),
            )) => Ok(Placed::Skipped),
            Err(e) => Err(e),
        }
    }
}
