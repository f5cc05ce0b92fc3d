//! What a decided customer message does to its conversation: who holds it
//! and its status afterwards, the bot's reply as an entry (never once a
//! person owns the conversation), the events and deliveries, all in one
//! commit; an agent who filled up since the router chose them leaves the
//! conversation waiting in the queue instead.

use crate::app::{Result, Switchyard};
use crate::durability::WriteIntent;
use crate::model::*;
use crate::storage::{Commit, StorageError, TicketChange};

impl Switchyard {
    /// Write a decided customer message with everything it changes; returns
    /// the record as stored (its route says where it went), once durable.
    pub(crate) fn commit_customer_message(
        &self,
        tenant_record: &Tenant,
        conversation: Conversation,
        status_before: ConversationStatus,
        mut record: MessageRecord,
        ticket_change: Option<TicketChange>,
        write: Option<WriteIntent>,
    ) -> Result<MessageRecord> {
        let tenant = tenant_record.id.as_str();
        let conversation_id = conversation.id.clone();
        let now = record.received_at_ms;
        // Once a person owns the conversation the bot never answers in it:
        // whatever a plugin replied becomes a suggestion for that person.
        if status_before == ConversationStatus::Assigned
            && let Some(reply) = record.decision.reply.take()
        {
            record.decision.suggestions.insert(
                0,
                SuggestionResult {
                    id: String::new(),
                    kind: "reply".into(),
                    title: "The bot's answer (not sent: an agent holds the conversation)".into(),
                    text: reply,
                    score: 1.0,
                    article_id: None,
                    plugin: None,
                    version_id: None,
                },
            );
        }
        // Every suggestion gets an id an agent's reply or dismissal can name.
        for (n, suggestion) in record.decision.suggestions.iter_mut().enumerate() {
            suggestion.id = format!("{}.{n}", record.id);
        }
        let customer_key = self.customer_key(tenant, &conversation.customer.id)?;
        let bot_reply = match &record.decision.reply {
            Some(text) => Some(Post {
                id: format!("p-{:x}", self.storage.next_id(tenant)?),
                conversation_id: conversation_id.clone(),
                author: Author::Bot,
                agent_id: None,
                text: text.clone(),
                private: false,
                at_ms: now,
                action: None,
                in_reply_to: Some(record.id.clone()),
                detail: None,
            }),
            None => None,
        };
        // The router saw the loads before this message; if its agent filled up
        // since, the message waits in the queue instead of overloading them.
        let mut write = write;
        loop {
            let mut conversation = conversation.clone();
            let route = &record.decision.route;
            let (mut released_agent, mut assigned_agent) = (None, None);
            // A route to an agent that names none changes nobody.
            if route.to == RouteTarget::Agent
                && route.agent.is_some()
                && route.agent != conversation.assigned_agent
            {
                released_agent = conversation.assigned_agent.take();
                assigned_agent = route.agent.clone();
                conversation.assigned_agent = assigned_agent.clone();
            }
            if route.to != RouteTarget::Bot {
                conversation.priority = route.priority;
            }
            if status_before == ConversationStatus::Assigned
                && route.to != RouteTarget::Agent
                && let Some(agent) = &conversation.assigned_agent
            {
                // The router may not take a conversation from its owner;
                // only the owner (or the tenant) transfers it.
                let reason = format!(
                    "{}; agent {agent} owns the conversation and keeps it",
                    route.reason
                );
                record.decision.route.reason = reason;
            }
            let route = &record.decision.route;
            let status = crate::conversations::status::after_customer_message(
                status_before,
                conversation.assigned_agent.is_some(),
                route.to,
            );
            crate::conversations::status::set_status(&mut conversation, status, now);
            if let Some(agent) = &conversation.assigned_agent {
                conversation.last_agent = Some(agent.clone());
            }
            conversation.state.holder = match (&conversation.assigned_agent, route) {
                (Some(agent), _) => Holder::Agent(agent.clone()),
                (None, r) if r.to == RouteTarget::Bot => Holder::Bot,
                (None, r) => Holder::Queue(r.queue.clone().unwrap_or_default()),
            };
            let mut events = vec![
                Event::about(EventKind::MessageCreated, &conversation, now)
                    .with_message(&record.id)
                    .with_detail(crate::traffic::message_detail(
                        &crate::traffic::CustomerMessage {
                            customer_key: &customer_key,
                            conversation: &conversation,
                            decision: &record.decision,
                            before: status_before,
                            answered: bot_reply.is_some(),
                            opened_ticket: match &ticket_change {
                                Some(TicketChange::Open(t)) => Some(t),
                                _ => None,
                            },
                        },
                    )),
            ];
            if let Some(post) = &bot_reply {
                events.push(
                    Event::about(EventKind::MessageCreated, &conversation, now)
                        .with_message(&post.id),
                );
            }
            if conversation.status != status_before {
                events.push(Event::about(
                    EventKind::ConversationStatus,
                    &conversation,
                    now,
                ));
            }
            if assigned_agent.is_some() {
                events.push(Event::about(EventKind::Assigned, &conversation, now));
            }
            let mut posts: Vec<Post> = bot_reply.iter().cloned().collect();
            // The router moved an owned conversation to another agent (urgent
            // work to its team): recorded as a transfer, seen by both desks.
            if let (Some(from), Some(to)) = (&released_agent, &assigned_agent) {
                let post = self
                    .post(
                        tenant,
                        &conversation,
                        (Author::System, None),
                        format!(
                            "routed from agent {from} to agent {to}: {}",
                            record.decision.route.reason
                        ),
                        now,
                    )?
                    .action("transferred")
                    .detail(serde_json::json!({"agent": to}));
                let was = Some(from.clone());
                events.push(
                    Event::about(EventKind::Transferred, &conversation, now).with_detail(
                        serde_json::json!({
                            "from_agent": from, "to": {"agent": to}, "by": "router", "note": null,
                        }),
                    ),
                );
                events.push(
                    Event::about(EventKind::MessageCreated, &conversation, now)
                        .with_message(&post.id)
                        .or_agent(was.as_ref()),
                );
                posts.push(post);
            }
            let outbox = match &bot_reply {
                Some(post) => self
                    .outbound_message(tenant_record, &conversation, post)?
                    .into_iter()
                    .collect(),
                None => vec![],
            };
            let commit = Commit {
                tenant: tenant.into(),
                conversation: Some(conversation),
                released_agent,
                assigned_agent,
                message: Some(record.clone()),
                posts,
                ticket: ticket_change.clone(),
                agent_status: None,
                events,
                outbox,
                outcomes: vec![],
            };
            let delivers = !commit.outbox.is_empty();
            // Applied with the other messages queued meanwhile, then flushed.
            match self.storage.commit_durably(commit, write.take()) {
                Ok(_) => {
                    if delivers {
                        self.outbox_queued();
                    }
                    break;
                }
                Err(StorageError::AgentFull(agent) | StorageError::AgentOffline(agent))
                    if record.decision.route.to == RouteTarget::Agent =>
                {
                    let route = &mut record.decision.route;
                    route.to = RouteTarget::Queue;
                    route.agent = None;
                    route.reason = format!(
                        "{}; agent {agent} reached capacity, waiting in the queue",
                        route.reason
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(record)
    }
}
