//! What agents (and the tenant's admin key) do with a conversation. Each
//! action takes the conversation's lock, reads it, checks who may do what,
//! and writes the change with its entries and events in one durable commit.
//! Capacity is checked in that commit (an agent full since the check is a
//! 409); actions that free capacity then offer waiting conversations to the
//! agents who have room (`assignment.rs`), outside any conversation lock.

use serde::Deserialize;

use super::status::{claimable, set_status};
use crate::app::{Error, MAX_MESSAGE_BYTES, Result, Switchyard, check_id};
use crate::model::*;
use crate::storage::{Applied, Commit, ConversationFilter, StorageError};

/// Who acts on a conversation through the desk API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeskActor {
    /// An agent, with their own key: acts only as themselves.
    Agent(String),
    /// The tenant's admin key (a team lead's tool, an integration).
    Admin,
}

impl DeskActor {
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            DeskActor::Agent(id) => Some(id),
            DeskActor::Admin => None,
        }
    }

    fn author(&self) -> (Author, Option<String>) {
        match self {
            DeskActor::Agent(id) => (Author::Agent, Some(id.clone())),
            DeskActor::Admin => (Author::System, None),
        }
    }

    fn describe(&self) -> String {
        match self {
            DeskActor::Agent(id) => format!("agent {id}"),
            DeskActor::Admin => "the tenant's admin".into(),
        }
    }
}

/// Where a transfer sends a conversation: `{"queue": "billing"}` or
/// `{"agent": "a2"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum TransferTo {
    Queue(String),
    Agent(String),
}

/// A text an agent writes (reply or note): not blank, at most the size of a
/// customer message.
fn check_text(what: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::Invalid(format!("the {what} must not be empty")));
    }
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(Error::Invalid(format!(
            "the {what} is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

impl Switchyard {
    /// Write a change through the flusher; returns once it is durable.
    pub(crate) fn commit_change(&self, commit: Commit) -> Result<Applied> {
        let write = self.storage.begin_write();
        self.storage
            .commit_durably(commit, Some(write))
            .map_err(Error::from)
    }

    /// A new post (its id from the same counter as messages: entries sort
    /// by arrival).
    pub(crate) fn post(
        &self,
        tenant: &str,
        conversation: &Conversation,
        author: (Author, Option<String>),
        text: String,
        at_ms: u64,
    ) -> Result<Post> {
        let id = format!("p-{:x}", self.storage.next_id(tenant)?);
        Ok(Post::new(id, &conversation.id, author, text, at_ms))
    }

    pub(crate) fn existing_conversation(&self, tenant: &str, id: &str) -> Result<Conversation> {
        self.storage
            .conversation(tenant, id)?
            .ok_or_else(|| Error::NotFound(format!("conversation {id:?} does not exist")))
    }

    /// An agent of the tenant, with their live load.
    pub fn agent_with_load(&self, tenant: &str, id: &str) -> Result<AgentWithLoad> {
        check_id("agent id", id)?;
        let agent = self
            .storage
            .agent(tenant, id)?
            .ok_or_else(|| Error::NotFound(format!("agent {id:?} does not exist")))?;
        let load = self.storage.agent_load(tenant, id)?;
        Ok(AgentWithLoad { agent, load })
    }

    /// The agent must be able to take a conversation now: not offline, with room.
    fn check_can_take(&self, tenant: &str, agent: &str) -> Result<()> {
        let found = self.agent_with_load(tenant, agent)?;
        if found.agent.status == AgentStatus::Offline {
            return Err(Error::Conflict(format!(
                "agent {agent} is offline: set their status to online or away first"
            )));
        }
        if found.load >= found.agent.capacity {
            return Err(Error::Conflict(full(
                agent,
                found.load,
                found.agent.capacity,
            )));
        }
        Ok(())
    }

    /// An agent takes a conversation nobody owns (waiting, with the bot, or
    /// reopened). Two agents claiming at once: one wins, the other gets a
    /// conflict. Claiming one's own conversation again changes nothing.
    pub fn claim(&self, tenant: &str, conversation_id: &str, agent: &str) -> Result<Conversation> {
        check_id("conversation id", conversation_id)?;
        check_id("agent id", agent)?;
        self.check_can_take(tenant, agent)?;
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let mut conversation = self.existing_conversation(tenant, conversation_id)?;
        match &conversation.assigned_agent {
            Some(holder) if holder == agent => return Ok(conversation),
            Some(holder) => {
                return Err(Error::Conflict(format!(
                    "conversation {conversation_id:?} is already assigned to agent {holder}"
                )));
            }
            None if !claimable(conversation.status) => {
                return Err(Error::Conflict(format!(
                    "conversation {conversation_id:?} is {}; it reopens when the customer writes again",
                    conversation.status.as_str()
                )));
            }
            None => {}
        }
        let now = now_ms();
        let before = conversation.status;
        take(&mut conversation, agent, now);
        let post = self
            .post(
                tenant,
                &conversation,
                (Author::System, Some(agent.to_string())),
                format!("agent {agent} joined the conversation"),
                now,
            )?
            .action("claimed");
        let mut events = vec![Event::about(EventKind::Assigned, &conversation, now)];
        if before != conversation.status {
            events.push(Event::about(
                EventKind::ConversationStatus,
                &conversation,
                now,
            ));
        }
        events.push(
            Event::about(EventKind::MessageCreated, &conversation, now).with_message(&post.id),
        );
        self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation.clone()),
            assigned_agent: Some(agent.to_string()),
            posts: vec![post],
            events,
            ..Default::default()
        })
        .map_err(|e| at_capacity(e, self, tenant, agent))?;
        Ok(conversation)
    }

    /// The agent who owns the conversation answers the customer, perhaps
    /// starting from a suggestion (`suggestion_id`): its outcome, accepted
    /// or edited, is recorded with the reply.
    pub fn agent_reply(
        &self,
        tenant: &str,
        conversation_id: &str,
        agent: &str,
        text: String,
        suggestion_id: Option<&str>,
    ) -> Result<Post> {
        check_id("conversation id", conversation_id)?;
        check_text("reply", &text)?;
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let mut conversation = self.existing_conversation(tenant, conversation_id)?;
        owned_by(
            &conversation,
            &DeskActor::Agent(agent.to_string()),
            "reply in",
        )?;
        let now = now_ms();
        conversation.updated_at_ms = now;
        let post = self.post(
            tenant,
            &conversation,
            (Author::Agent, Some(agent.to_string())),
            text,
            now,
        )?;
        let outcome = self.reply_outcome(tenant, conversation_id, agent, suggestion_id, &post)?;
        let mut events = vec![
            Event::about(EventKind::MessageCreated, &conversation, now).with_message(&post.id),
        ];
        if let Some(outcome) = &outcome {
            events.push(super::suggestions::outcome_event(
                &conversation,
                outcome,
                now,
            ));
        }
        let outbox: Vec<OutboxItem> = self
            .outbound_message(&self.tenant(tenant)?, &conversation, &post)?
            .into_iter()
            .collect();
        let delivers = !outbox.is_empty();
        self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation),
            posts: vec![post.clone()],
            events,
            outbox,
            outcomes: outcome.into_iter().collect(),
            ..Default::default()
        })?;
        if delivers {
            self.outbox_queued();
        }
        Ok(post)
    }

    /// A private note for the team, on any conversation of the tenant; it
    /// never reaches the customer.
    pub fn add_note(
        &self,
        tenant: &str,
        conversation_id: &str,
        actor: &DeskActor,
        text: String,
    ) -> Result<Post> {
        check_id("conversation id", conversation_id)?;
        check_text("note", &text)?;
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let mut conversation = self.existing_conversation(tenant, conversation_id)?;
        let now = now_ms();
        conversation.updated_at_ms = now;
        let post = self
            .post(tenant, &conversation, actor.author(), text, now)?
            .private();
        let event =
            Event::about(EventKind::MessageCreated, &conversation, now).with_message(&post.id);
        self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation),
            posts: vec![post.clone()],
            events: vec![event],
            ..Default::default()
        })?;
        Ok(post)
    }

    /// Hand a conversation to a queue (it waits there; an agent with room
    /// gets it by the router's rules) or to an agent (who must be able to
    /// take it now), with an optional note for whoever takes it. An agent
    /// may transfer only what they own; the admin key, any open conversation.
    pub fn transfer(
        &self,
        tenant: &str,
        conversation_id: &str,
        actor: &DeskActor,
        to: &TransferTo,
        note: Option<String>,
    ) -> Result<Conversation> {
        check_id("conversation id", conversation_id)?;
        if let Some(note) = &note {
            check_text("note", note)?;
        }
        match to {
            TransferTo::Queue(queue) => {
                check_id("queue", queue)?;
                let declared = self.settings(tenant)?.queues;
                if !declared.is_empty() && !declared.contains(queue) {
                    return Err(Error::Invalid(format!(
                        "queue {queue:?} is not one of the tenant's queues ({})",
                        declared.join(", ")
                    )));
                }
            }
            TransferTo::Agent(agent) => {
                check_id("agent id", agent)?;
                self.check_can_take(tenant, agent)?;
            }
        }
        let serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let mut conversation = self.existing_conversation(tenant, conversation_id)?;
        if conversation.status.is_finished() {
            return Err(Error::Conflict(format!(
                "conversation {conversation_id:?} is {}; nothing to transfer",
                conversation.status.as_str()
            )));
        }
        if let DeskActor::Agent(_) = actor {
            owned_by(&conversation, actor, "transfer")?;
        }
        let now = now_ms();
        let before = conversation.status;
        let released = conversation.assigned_agent.take();
        let (assigned, where_to) = match to {
            TransferTo::Queue(queue) => {
                conversation.queue = Some(queue.clone());
                conversation.state.holder = Holder::Queue(queue.clone());
                set_status(&mut conversation, ConversationStatus::Waiting, now);
                (None, format!("queue {queue}"))
            }
            TransferTo::Agent(agent) => {
                if released.as_deref() == Some(agent) {
                    return Err(Error::Conflict(format!(
                        "conversation {conversation_id:?} is already agent {agent}'s"
                    )));
                }
                take(&mut conversation, agent, now);
                (Some(agent.clone()), format!("agent {agent}"))
            }
        };
        conversation.updated_at_ms = now;
        let mut posts = vec![
            self.post(
                tenant,
                &conversation,
                actor.author(),
                format!(
                    "{} transferred the conversation to {where_to}",
                    actor.describe()
                ),
                now,
            )?
            .action("transferred")
            .detail(match to {
                TransferTo::Queue(q) => serde_json::json!({"queue": q}),
                TransferTo::Agent(a) => serde_json::json!({"agent": a}),
            }),
        ];
        if let Some(note) = note.clone() {
            posts.push(
                self.post(tenant, &conversation, actor.author(), note, now)?
                    .private(),
            );
        }
        let mut events = vec![
            Event::about(EventKind::Transferred, &conversation, now)
                .or_agent(released.as_ref())
                .with_detail(serde_json::json!({
                    "from_agent": released,
                    "to": match to {
                        TransferTo::Queue(q) => serde_json::json!({"queue": q}),
                        TransferTo::Agent(a) => serde_json::json!({"agent": a}),
                    },
                    "by": actor.agent_id(),
                    "note": note,
                })),
        ];
        if assigned.is_some() {
            events.push(Event::about(EventKind::Assigned, &conversation, now));
        }
        if before != conversation.status {
            events.push(
                Event::about(EventKind::ConversationStatus, &conversation, now)
                    .or_agent(released.as_ref()),
            );
        }
        for post in &posts {
            events.push(
                Event::about(EventKind::MessageCreated, &conversation, now)
                    .with_message(&post.id)
                    .or_agent(released.as_ref()),
            );
        }
        self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation.clone()),
            released_agent: released.clone(),
            assigned_agent: assigned.clone(),
            posts,
            events,
            ..Default::default()
        })
        .map_err(|e| match &assigned {
            Some(agent) => at_capacity(e, self, tenant, agent),
            None => e,
        })?;
        drop(serial);
        if released.is_some() || matches!(to, TransferTo::Queue(_)) {
            self.offer_waiting(tenant);
        }
        Ok(conversation)
    }

    /// Finish a conversation: its agent's load drops, and the customer's
    /// next message reopens it. An agent resolves what they own; the admin
    /// key, any open conversation.
    pub fn resolve(
        &self,
        tenant: &str,
        conversation_id: &str,
        actor: &DeskActor,
    ) -> Result<Conversation> {
        self.finish(tenant, conversation_id, actor, ConversationStatus::Resolved)
    }

    /// Close a conversation for good (by hand; resolution is the usual
    /// end). Closing a closed one changes nothing.
    pub fn close_conversation(
        &self,
        tenant: &str,
        conversation_id: &str,
        actor: &DeskActor,
    ) -> Result<Conversation> {
        self.finish(tenant, conversation_id, actor, ConversationStatus::Closed)
    }

    fn finish(
        &self,
        tenant: &str,
        conversation_id: &str,
        actor: &DeskActor,
        to: ConversationStatus,
    ) -> Result<Conversation> {
        check_id("conversation id", conversation_id)?;
        let serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let mut conversation = self.existing_conversation(tenant, conversation_id)?;
        if conversation.status == to && to == ConversationStatus::Closed {
            return Ok(conversation);
        }
        if conversation.status.is_finished() && to == ConversationStatus::Resolved {
            return Err(Error::Conflict(format!(
                "conversation {conversation_id:?} is already {}",
                conversation.status.as_str()
            )));
        }
        if let DeskActor::Agent(_) = actor {
            owned_by(&conversation, actor, "finish")?;
        }
        let now = now_ms();
        let released = conversation.assigned_agent.take();
        set_status(&mut conversation, to, now);
        conversation.state.holder = Holder::Bot;
        conversation.updated_at_ms = now;
        let action = to.as_str();
        if to == ConversationStatus::Resolved {
            conversation.resolved_at_ms = Some(now);
            conversation.resolved_by = actor.agent_id().map(str::to_string);
        }
        let post = self
            .post(
                tenant,
                &conversation,
                actor.author(),
                format!("{} {action} the conversation", actor.describe()),
                now,
            )?
            .action(action);
        let mut events = vec![
            Event::about(EventKind::ConversationStatus, &conversation, now)
                .or_agent(released.as_ref())
                .with_detail(serde_json::json!({"from_agent": released, "by": actor.agent_id()})),
            Event::about(EventKind::MessageCreated, &conversation, now)
                .with_message(&post.id)
                .or_agent(released.as_ref()),
        ];
        let mut posts = vec![post];
        let mut outbox = vec![];
        if to == ConversationStatus::Resolved {
            // The summary, and the survey.
            let record = self.tenant(tenant)?;
            let (more, deliveries) =
                self.on_resolution(&record, &mut conversation, actor.agent_id(), now)?;
            for post in &more {
                events.push(
                    Event::about(EventKind::MessageCreated, &conversation, now)
                        .with_message(&post.id),
                );
            }
            posts.extend(more);
            outbox = deliveries;
            // Counted by `crate::kpi`: the surveys sent are the response
            // rate's denominator.
            events[0].detail = Some(serde_json::json!({
                "from_agent": released,
                "by": actor.agent_id(),
                "survey": conversation.survey.is_some(),
            }));
        }
        let delivers = !outbox.is_empty();
        self.commit_change(Commit {
            tenant: tenant.into(),
            conversation: Some(conversation.clone()),
            released_agent: released.clone(),
            posts,
            events,
            outbox,
            ..Default::default()
        })?;
        if delivers {
            self.outbox_queued();
        }
        drop(serial);
        if released.is_some() {
            self.offer_waiting(tenant);
        }
        Ok(conversation)
    }

    /// An agent sets their own status. Online: waiting conversations are
    /// offered to them at once. Offline: the conversations they own go back
    /// to their queues (and to whoever has room there).
    pub fn set_agent_status(
        &self,
        tenant: &str,
        agent: &str,
        status: AgentStatus,
    ) -> Result<AgentWithLoad> {
        let before = self.agent_with_load(tenant, agent)?.agent.status;
        if before != status {
            let now = now_ms();
            let event = Event {
                id: 0,
                at_ms: now,
                kind: EventKind::AgentStatus,
                conversation_id: None,
                message_id: None,
                queue: None,
                agent: Some(agent.to_string()),
                status: None,
                detail: Some(serde_json::json!({"from": before, "to": status})),
            };
            self.commit_change(Commit {
                tenant: tenant.into(),
                agent_status: Some((agent.to_string(), status)),
                events: vec![event],
                ..Default::default()
            })?;
        }
        self.after_agent_status(tenant, agent, status)?;
        self.agent_with_load(tenant, agent)
    }

    /// What an agent's status means for conversations, however it was set
    /// (their own action, or the tenant replacing the agent record).
    pub(crate) fn after_agent_status(
        &self,
        tenant: &str,
        agent: &str,
        status: AgentStatus,
    ) -> Result<()> {
        match status {
            AgentStatus::Offline => {
                self.hand_back(tenant, agent)?;
            }
            AgentStatus::Online => {}
            AgentStatus::Away => return Ok(()),
        }
        self.offer_waiting(tenant);
        Ok(())
    }

    /// Every conversation `agent` owns goes back to its queue, waiting.
    fn hand_back(&self, tenant: &str, agent: &str) -> Result<usize> {
        let filter = ConversationFilter {
            statuses: vec![ConversationStatus::Assigned],
            agent: Some(agent.to_string()),
            ..Default::default()
        };
        let mut returned = 0;
        loop {
            let page = self
                .storage
                .conversations_page(tenant, &filter, None, 100)?;
            let mut moved_any = false;
            for head in &page.items {
                let _serial = self.conversation_locks.conversation(tenant, &head.id);
                let Some(mut conversation) = self.storage.conversation(tenant, &head.id)? else {
                    continue;
                };
                if conversation.assigned_agent.as_deref() != Some(agent) {
                    continue;
                }
                let now = now_ms();
                let queue = conversation
                    .queue
                    .clone()
                    .unwrap_or_else(|| crate::pipeline::DEFAULT_QUEUE.to_string());
                conversation.assigned_agent = None;
                conversation.queue = Some(queue.clone());
                conversation.state.holder = Holder::Queue(queue.clone());
                set_status(&mut conversation, ConversationStatus::Waiting, now);
                conversation.updated_at_ms = now;
                let post = self
                    .post(
                        tenant,
                        &conversation,
                        (Author::System, None),
                        format!("agent {agent} went offline: back to queue {queue}"),
                        now,
                    )?
                    .action("returned")
                    .detail(serde_json::json!({"queue": queue}));
                let was = Some(agent.to_string());
                let events = vec![
                    Event::about(EventKind::Transferred, &conversation, now)
                        .or_agent(was.as_ref())
                        .with_detail(
                        serde_json::json!({"from_agent": agent, "to": {"queue": queue}, "by": null, "note": "agent offline"}),
                    ),
                    Event::about(EventKind::ConversationStatus, &conversation, now)
                        .or_agent(was.as_ref()),
                    Event::about(EventKind::MessageCreated, &conversation, now)
                        .with_message(&post.id)
                        .or_agent(was.as_ref()),
                ];
                self.commit_change(Commit {
                    tenant: tenant.into(),
                    conversation: Some(conversation),
                    released_agent: Some(agent.to_string()),
                    posts: vec![post],
                    events,
                    ..Default::default()
                })?;
                returned += 1;
                moved_any = true;
            }
            if page.next.is_none() || !moved_any {
                return Ok(returned);
            }
        }
    }
}

/// Give `conversation` to `agent`: theirs, assigned.
fn take(conversation: &mut Conversation, agent: &str, now: u64) {
    conversation.assigned_agent = Some(agent.to_string());
    conversation.last_agent = Some(agent.to_string());
    conversation.state.holder = Holder::Agent(agent.to_string());
    set_status(conversation, ConversationStatus::Assigned, now);
    conversation.updated_at_ms = now;
}

/// An agent acts only on a conversation they own.
fn owned_by(conversation: &Conversation, actor: &DeskActor, what: &str) -> Result<()> {
    let DeskActor::Agent(agent) = actor else {
        return Ok(());
    };
    match &conversation.assigned_agent {
        Some(holder) if holder == agent => Ok(()),
        Some(holder) => Err(Error::Forbidden(format!(
            "conversation {:?} is assigned to agent {holder}; only they can {what} it",
            conversation.id
        ))),
        None => Err(Error::Conflict(format!(
            "conversation {:?} is {} and nobody owns it: claim it first",
            conversation.id,
            conversation.status.as_str()
        ))),
    }
}

fn full(agent: &str, load: u32, capacity: u32) -> String {
    format!("agent {agent} is at capacity ({load} of {capacity} conversations)")
}

/// An agent who filled up between the check and the commit: a conflict.
fn at_capacity(e: Error, app: &Switchyard, tenant: &str, agent: &str) -> Error {
    match e {
        Error::Storage(StorageError::AgentOffline(_)) => Error::Conflict(format!(
            "agent {agent} is offline: set their status to online or away first"
        )),
        Error::Storage(StorageError::AgentFull(_)) => {
            let (load, capacity) = app
                .agent_with_load(tenant, agent)
                .map(|a| (a.load, a.agent.capacity))
                .unwrap_or((0, 0));
            Error::Conflict(full(agent, load, capacity))
        }
        e => e,
    }
}

impl Switchyard {
    /// Do again what a stored post records a person (or the desk) did, for
    /// a replay: agents' messages are inputs, never re-decided. Entries the
    /// host writes itself (bot replies, surveys, summaries, thanks) are made
    /// again by the replay and skipped here. Returns what was done, or why
    /// it could not be.
    pub fn replay_post(&self, tenant: &str, post: &Post) -> std::result::Result<String, String> {
        let conversation = post.conversation_id.as_str();
        let agent = post.agent_id.clone().unwrap_or_default();
        let actor = match &post.agent_id {
            Some(id) if post.author == Author::Agent => DeskActor::Agent(id.clone()),
            _ => DeskActor::Admin,
        };
        let done = |what: &str| Ok(what.to_string());
        let result = match (post.author, post.action.as_deref()) {
            (Author::Bot, _) => return done("bot reply: decided again"),
            (_, Some("survey" | "summary" | "survey-answered")) => {
                return done("made again by the host");
            }
            (Author::System, Some("claimed" | "assigned")) if !agent.is_empty() => {
                // The roster of the replay may have the agent away or full:
                // they held it then, so they hold it now.
                let _ = self.set_agent_status_if_offline(tenant, &agent);
                self.claim(tenant, conversation, &agent).map(|_| ())
            }
            (_, Some("transferred")) => {
                let to = match &post.detail {
                    Some(d) if d.get("queue").is_some() => {
                        TransferTo::Queue(d["queue"].as_str().unwrap_or_default().to_string())
                    }
                    Some(d) if d.get("agent").is_some() => {
                        TransferTo::Agent(d["agent"].as_str().unwrap_or_default().to_string())
                    }
                    _ => {
                        return Err(
                            "a transfer without its target (stored before targets were kept)"
                                .into(),
                        );
                    }
                };
                self.transfer(tenant, conversation, &DeskActor::Admin, &to, None)
                    .map(|_| ())
            }
            (_, Some("returned")) => {
                let queue = post
                    .detail
                    .as_ref()
                    .and_then(|d| d["queue"].as_str())
                    .unwrap_or(crate::pipeline::DEFAULT_QUEUE)
                    .to_string();
                self.transfer(
                    tenant,
                    conversation,
                    &DeskActor::Admin,
                    &TransferTo::Queue(queue),
                    None,
                )
                .map(|_| ())
            }
            (_, Some("resolved")) => self.resolve(tenant, conversation, &actor).map(|_| ()),
            (_, Some("closed")) => self
                .close_conversation(tenant, conversation, &actor)
                .map(|_| ()),
            (Author::Agent, None) if post.private => self
                .add_note(tenant, conversation, &actor, post.text.clone())
                .map(|_| ()),
            (Author::Agent, None) => self
                .agent_reply(tenant, conversation, &agent, post.text.clone(), None)
                .map(|_| ()),
            (Author::System, None) if post.private => self
                .add_note(tenant, conversation, &DeskActor::Admin, post.text.clone())
                .map(|_| ()),
            (author, action) => {
                return Err(format!("{author:?} entry {action:?}: nothing to replay"));
            }
        };
        result
            .map(|()| {
                post.action
                    .as_deref()
                    .unwrap_or(if post.private { "note" } else { "reply" })
                    .to_string()
            })
            .map_err(|e| e.to_string())
    }

    /// An offline agent comes back (away) so a replayed claim can stand.
    fn set_agent_status_if_offline(&self, tenant: &str, agent: &str) -> Result<()> {
        let found = self.agent_with_load(tenant, agent)?;
        if found.agent.status == AgentStatus::Offline {
            let mut record = found.agent;
            record.status = AgentStatus::Away;
            self.storage.put_agent(tenant, &record)?;
        }
        Ok(())
    }
}
