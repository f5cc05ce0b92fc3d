//! What one change of a conversation writes, in one transaction: a customer
//! message with its decision, the posts (bot and agent replies, private
//! notes, what the system did), the conversation with its place in the list
//! index, the agents' loads, the ticket, an agent's record (their status),
//! and the events the change makes (numbered here, in commit order, so an
//! event stream that resumes after an id misses nothing).
//!
//! Every writer of a conversation (a customer message, an agent's action)
//! holds that conversation's lock (`serial.rs`) from its read to its commit,
//! so a commit's `conversation` is the stored one changed, never a stale copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{
    PastRecord, Result, StorageError, customer_ticket_key, encode, key, message_key, message_seq,
    never_aborted, release_agent,
};
use crate::model::*;

/// Everything one change of a conversation (or of an agent) writes.
#[derive(Default)]
pub struct Commit {
    pub tenant: String,
    /// The conversation as it is after the change.
    pub conversation: Option<Conversation>,
    /// Agent whose load drops because the conversation left them.
    pub released_agent: Option<String>,
    /// Agent whose load grows because the conversation was assigned to them;
    /// refused ([`StorageError::AgentFull`]) when they have no room left.
    pub assigned_agent: Option<String>,
    /// A customer message with its decision.
    pub message: Option<MessageRecord>,
    /// Bot and agent replies, notes, system entries.
    pub posts: Vec<Post>,
    pub ticket: Option<TicketChange>,
    /// An agent's new status, set on their record as stored (so a change
    /// of their other fields meanwhile stands).
    pub agent_status: Option<(String, AgentStatus)>,
    /// What happened, for the event stream; `id` is set when applied.
    pub events: Vec<Event>,
    /// What must reach the tenant's channel.
    pub outbox: Vec<OutboxItem>,
    /// What agents did with suggestions (the latest per suggestion and agent).
    pub outcomes: Vec<SuggestionOutcome>,
}

/// What a commit wrote that its writer needs back.
#[derive(Debug, Default)]
pub struct Applied {
    /// The ticket as stored.
    pub ticket: Option<Ticket>,
    /// The events with their ids.
    pub events: Vec<Event>,
}

/// What a message does to a ticket. An update is merged into the ticket as it
/// is stored at commit time, so a status an agent set meanwhile is kept.
#[derive(Clone)]
pub enum TicketChange {
    Open(Ticket),
    Update {
        id: String,
        facts: Vec<TicketFact>,
        priority: u8,
        summary: String,
        message_id: String,
        at_ms: u64,
    },
    /// The team set its status: applied to the ticket as stored at commit,
    /// so a fact a customer message added meanwhile stays.
    Status {
        id: String,
        status: TicketStatus,
        at_ms: u64,
    },
}

/// Why a commit gave up on purpose (inside a batch: the others stand).
enum Abort {
    /// The agent reached capacity between the decision and the commit.
    AgentFull(String),
    /// The agent went offline between the decision and the commit.
    AgentOffline(String),
    Corrupt(String),
}

/// The trees a commit writes; the flusher holds a copy to apply queued
/// commits (`durability.rs`).
#[derive(Clone)]
pub(crate) struct CommitTrees {
    pub(super) conversations: sled::Tree,
    /// `tenant \0 status \0 since (big-endian ms) conversation` ->
    /// [`ConversationHead`]: the conversation lists, by status, oldest first.
    pub(super) conversation_list: sled::Tree,
    pub(super) messages: sled::Tree,
    /// Posts, under the same kind of key as messages.
    pub(super) posts: sled::Tree,
    pub(super) history: sled::Tree,
    pub(super) tickets: sled::Tree,
    pub(super) customer_tickets: sled::Tree,
    pub(super) loads: sled::Tree,
    pub(super) agents: sled::Tree,
    /// `tenant \0 id (big-endian)` -> [`Event`].
    pub(super) events: sled::Tree,
    pub(super) outbox: sled::Tree,
    pub(super) outbox_due: sled::Tree,
    pub(super) outbox_conversation: sled::Tree,
    /// `tenant \0 suggestion id \0 agent` -> [`SuggestionOutcome`].
    pub(super) suggestion_outcomes: sled::Tree,
    /// `tenant \0 customer \0 conversation` -> (): a customer's conversations.
    pub(super) customer_conversations: sled::Tree,
    /// The next event id per tenant, known once its log was read.
    event_ids: Arc<Mutex<HashMap<String, u64>>>,
}

/// One commit's outcome inside a batch: written, or refused with nothing of
/// it written.
type CommitOutcome = std::result::Result<Applied, Abort>;

use super::TxTree;
type TxError = ConflictableTransactionError<()>;

/// The trees inside the transaction, by name.
struct Tx<'a> {
    conversations: &'a TxTree,
    conversation_list: &'a TxTree,
    messages: &'a TxTree,
    posts: &'a TxTree,
    history: &'a TxTree,
    tickets: &'a TxTree,
    customer_tickets: &'a TxTree,
    loads: &'a TxTree,
    agents: &'a TxTree,
    events: &'a TxTree,
    outbox: &'a TxTree,
    outbox_due: &'a TxTree,
    outbox_conversation: &'a TxTree,
    suggestion_outcomes: &'a TxTree,
    customer_conversations: &'a TxTree,
}

impl CommitTrees {
    pub(crate) fn open(db: &sled::Db) -> Result<CommitTrees> {
        Ok(CommitTrees {
            conversations: db.open_tree("conversations")?,
            conversation_list: db.open_tree("conversation_list")?,
            messages: db.open_tree("messages")?,
            posts: db.open_tree("posts")?,
            history: db.open_tree("history")?,
            tickets: db.open_tree("tickets")?,
            customer_tickets: db.open_tree("customer_tickets")?,
            loads: db.open_tree("agent_load")?,
            agents: db.open_tree("agents")?,
            events: db.open_tree("events")?,
            outbox: db.open_tree("outbox")?,
            outbox_due: db.open_tree("outbox_due")?,
            outbox_conversation: db.open_tree("outbox_conversation")?,
            suggestion_outcomes: db.open_tree("suggestion_outcomes")?,
            customer_conversations: db.open_tree("customer_conversations")?,
            event_ids: Default::default(),
        })
    }

    /// The next event id of `tenant`: one past the newest in its log.
    fn first_event_id(&self, tenant: &str) -> Result<u64> {
        let last = self.events.scan_prefix(key(tenant, "")).next_back();
        Ok(match last {
            Some(item) => {
                let (k, _) = item?;
                let id: [u8; 8] = k[k.len() - 8..].try_into().expect("8-byte id");
                u64::from_be_bytes(id) + 1
            }
            None => 1,
        })
    }

    /// Apply `commits` in one transaction: one outcome per commit, in order.
    /// A commit whose agent is full, or whose ticket is unreadable, writes
    /// nothing and gets its error; the others are written. One transaction
    /// for many commits because sled 0.34 seals and writes its IO buffer
    /// twice for every transaction (`PageCache::pin_log` rolls the buffer
    /// before and after; each write wakes every sled IO thread): per message
    /// that was most of the store's CPU at 64 connections.
    pub(crate) fn apply(&self, commits: &[&Commit]) -> Result<Vec<Result<Applied>>> {
        // Held through the transaction: event ids follow commit order.
        let mut event_ids = self.event_ids.lock().unwrap_or_else(|p| p.into_inner());
        for commit in commits.iter().filter(|c| !c.events.is_empty()) {
            if !event_ids.contains_key(&commit.tenant) {
                let first = self.first_event_id(&commit.tenant)?;
                event_ids.insert(commit.tenant.clone(), first);
            }
        }
        // A slice, not a tuple: sled's tuples stop at 14 trees.
        let trees: [&sled::Tree; 15] = [
            &self.conversations,
            &self.conversation_list,
            &self.messages,
            &self.posts,
            &self.history,
            &self.tickets,
            &self.customer_tickets,
            &self.loads,
            &self.agents,
            &self.events,
            &self.outbox,
            &self.outbox_due,
            &self.outbox_conversation,
            &self.suggestion_outcomes,
            &self.customer_conversations,
        ];
        // The closure may run again on a conflict: outcomes and ids start afresh.
        let (outcomes, next_ids) = trees[..]
            .transaction(|views: &Vec<TxTree>| {
                let tx = Tx {
                    conversations: &views[0],
                    conversation_list: &views[1],
                    messages: &views[2],
                    posts: &views[3],
                    history: &views[4],
                    tickets: &views[5],
                    customer_tickets: &views[6],
                    loads: &views[7],
                    agents: &views[8],
                    events: &views[9],
                    outbox: &views[10],
                    outbox_due: &views[11],
                    outbox_conversation: &views[12],
                    suggestion_outcomes: &views[13],
                    customer_conversations: &views[14],
                };
                let mut next_ids = event_ids.clone();
                let mut outcomes = Vec::with_capacity(commits.len());
                for commit in commits {
                    outcomes.push(apply_one(&tx, commit, &mut next_ids)?);
                }
                Ok((outcomes, next_ids))
            })
            .map_err(never_aborted)?;
        *event_ids = next_ids;
        Ok(outcomes
            .into_iter()
            .map(|outcome| {
                outcome.map_err(|refused| match refused {
                    Abort::AgentFull(agent) => StorageError::AgentFull(agent),
                    Abort::AgentOffline(agent) => StorageError::AgentOffline(agent),
                    Abort::Corrupt(what) => StorageError::Inconsistent(what),
                })
            })
            .collect())
    }
}

/// The fields of a stored conversation that place it in the list index.
#[derive(Deserialize)]
struct Listed {
    id: String,
    #[serde(default)]
    status: ConversationStatus,
    updated_at_ms: u64,
    #[serde(default)]
    waiting_since_ms: Option<u64>,
    #[serde(default)]
    assigned_agent: Option<String>,
}

impl Listed {
    fn of(c: &Conversation) -> Listed {
        Listed {
            id: c.id.clone(),
            status: c.status,
            updated_at_ms: c.updated_at_ms,
            waiting_since_ms: c.waiting_since_ms,
            assigned_agent: c.assigned_agent.clone(),
        }
    }

    /// As `Conversation::normalized` reads it (and so as the list index
    /// built for older databases placed it): "open" with an agent is
    /// assigned.
    fn normalized(mut self) -> Listed {
        if self.status == ConversationStatus::Bot && self.assigned_agent.is_some() {
            self.status = ConversationStatus::Assigned;
        }
        self
    }

    /// Where the list index keeps it: by status, then by the time it is
    /// sorted by (waiting: since when; others: last change).
    fn list_key(&self, tenant: &str) -> Vec<u8> {
        list_key(
            tenant,
            self.status,
            list_since(self.status, self.waiting_since_ms, self.updated_at_ms),
            &self.id,
        )
    }
}

/// The time a conversation sorts by in its status's list.
pub(super) fn list_since(
    status: ConversationStatus,
    waiting_since_ms: Option<u64>,
    updated_at_ms: u64,
) -> u64 {
    match status {
        ConversationStatus::Waiting => waiting_since_ms.unwrap_or(updated_at_ms),
        _ => updated_at_ms,
    }
}

/// The prefix of one status's list.
pub(super) fn list_prefix(tenant: &str, status: ConversationStatus) -> Vec<u8> {
    let mut k = key(tenant, status.as_str());
    k.push(0);
    k
}

pub(super) fn list_key(
    tenant: &str,
    status: ConversationStatus,
    since_ms: u64,
    conversation: &str,
) -> Vec<u8> {
    let mut k = list_prefix(tenant, status);
    k.extend_from_slice(&since_ms.to_be_bytes());
    k.extend_from_slice(conversation.as_bytes());
    k
}

/// Move a conversation's list entry from where the stored record put it to
/// where `conversation` goes, with its head (`preview`: its latest entry's
/// text, when this change wrote one).
fn relist(
    tx: &Tx,
    tenant: &str,
    conversation: &Conversation,
    preview: Option<&str>,
) -> std::result::Result<(), TxError> {
    let stored = tx.conversations.get(key(tenant, &conversation.id))?;
    if stored.is_none() {
        tx.customer_conversations.insert(
            customer_conversation_key(tenant, &conversation.customer.id, &conversation.id),
            &[],
        )?;
    }
    let mut kept_preview = None;
    if let Some(bytes) = stored
        && let Ok(old) = serde_json::from_slice::<Listed>(&bytes)
    {
        let old_key = old.normalized().list_key(tenant);
        if let Some(head) = tx.conversation_list.remove(old_key)? {
            kept_preview = serde_json::from_slice::<ConversationHead>(&head)
                .ok()
                .map(|h| h.preview);
        }
    }
    let preview = preview
        .map(ConversationHead::preview_of)
        .or(kept_preview)
        .unwrap_or_default();
    let head = ConversationHead::of(conversation, preview);
    tx.conversation_list
        .insert(Listed::of(conversation).list_key(tenant), encode(&head))?;
    Ok(())
}

/// One commit inside the batch's transaction: every check first, so that a
/// refused commit has written nothing.
fn apply_one(
    tx: &Tx,
    commit: &Commit,
    event_ids: &mut HashMap<String, u64>,
) -> std::result::Result<CommitOutcome, TxError> {
    let tenant = commit.tenant.as_str();
    let load_of = |agent: &str| -> std::result::Result<i64, TxError> {
        Ok(tx
            .loads
            .get(key(tenant, agent))?
            .and_then(|v| serde_json::from_slice::<i64>(&v).ok())
            .unwrap_or(0))
    };
    if let Some(agent) = &commit.assigned_agent {
        let record = tx
            .agents
            .get(key(tenant, agent))?
            .and_then(|v| serde_json::from_slice::<Agent>(&v).ok());
        if record
            .as_ref()
            .is_some_and(|a| a.status == AgentStatus::Offline)
        {
            return Ok(Err(Abort::AgentOffline(agent.clone())));
        }
        let capacity = record.map_or(0, |a| i64::from(a.capacity));
        if load_of(agent)? >= capacity {
            return Ok(Err(Abort::AgentFull(agent.clone())));
        }
    }
    let ticket = match &commit.ticket {
        None => None,
        Some(TicketChange::Open(ticket)) => Some(ticket.clone()),
        Some(TicketChange::Status { id, status, at_ms }) => {
            let Some(bytes) = tx.tickets.get(key(tenant, id))? else {
                return Ok(Err(Abort::Corrupt(format!("ticket {id} vanished"))));
            };
            let mut ticket: Ticket = match serde_json::from_slice(&bytes) {
                Ok(ticket) => ticket,
                Err(e) => return Ok(Err(Abort::Corrupt(format!("ticket {id}: {e}")))),
            };
            ticket.status = *status;
            ticket.updated_at_ms = *at_ms;
            Some(ticket)
        }
        Some(TicketChange::Update {
            id,
            facts,
            priority,
            summary,
            message_id,
            at_ms,
        }) => {
            let Some(bytes) = tx.tickets.get(key(tenant, id))? else {
                return Ok(Err(Abort::Corrupt(format!("ticket {id} vanished"))));
            };
            let mut ticket: Ticket = match serde_json::from_slice(&bytes) {
                Ok(ticket) => ticket,
                Err(e) => return Ok(Err(Abort::Corrupt(format!("ticket {id}: {e}")))),
            };
            for fact in facts {
                if !ticket
                    .facts
                    .iter()
                    .any(|f| f.key == fact.key && f.value == fact.value)
                {
                    ticket.facts.push(fact.clone());
                }
            }
            ticket.priority = ticket.priority.max(*priority);
            ticket.summary = summary.clone();
            ticket.updated_at_ms = *at_ms;
            ticket.message_ids.push(message_id.clone());
            let over = ticket
                .message_ids
                .len()
                .saturating_sub(crate::quotas::MAX_TICKET_MESSAGE_IDS);
            ticket.message_ids.drain(..over);
            Some(ticket)
        }
    };
    // Who held the conversation as this change left it: a repeat contact
    // about the ticket goes back to them.
    let ticket = ticket.map(|mut ticket| {
        if let Some(conversation) = &commit.conversation {
            if conversation.assigned_agent.is_some() {
                ticket.agent = conversation.assigned_agent.clone();
            }
            ticket.last_conversation_id = Some(conversation.id.clone());
        }
        ticket
    });
    if let Some(conversation) = &commit.conversation {
        let preview = commit
            .posts
            .iter()
            .rev()
            .find(|p| !p.private)
            .map(|p| p.text.as_str())
            .or(commit.message.as_ref().map(|m| m.text.as_str()));
        relist(tx, tenant, conversation, preview)?;
        tx.conversations
            .insert(key(tenant, &conversation.id), encode(conversation))?;
    }
    if let Some(message) = &commit.message {
        let seq = message_seq(&message.id).unwrap_or(0);
        let k = message_key(tenant, &message.conversation_id, seq);
        tx.history
            .insert(k.clone(), encode(&PastRecord::of(message)))?;
        tx.messages.insert(k, encode(message))?;
    }
    for post in &commit.posts {
        let seq = message_seq(&post.id).unwrap_or(0);
        tx.posts.insert(
            message_key(tenant, &post.conversation_id, seq),
            encode(post),
        )?;
    }
    if let Some(ticket) = &ticket {
        tx.tickets.insert(key(tenant, &ticket.id), encode(ticket))?;
        tx.customer_tickets.insert(
            customer_ticket_key(tenant, &ticket.customer_id, &ticket.id),
            &[],
        )?;
    }
    if let Some(agent) = &commit.released_agent {
        release_agent(tx.loads, tenant, agent)?;
    }
    if let Some(agent) = &commit.assigned_agent {
        let load = load_of(agent)?;
        tx.loads.insert(key(tenant, agent), encode(&(load + 1)))?;
    }
    if let Some((agent, status)) = &commit.agent_status
        && let Some(bytes) = tx.agents.get(key(tenant, agent))?
        && let Ok(mut record) = serde_json::from_slice::<Agent>(&bytes)
    {
        record.status = *status;
        tx.agents.insert(key(tenant, agent), encode(&record))?;
    }
    for outcome in &commit.outcomes {
        tx.suggestion_outcomes.insert(
            outcome_key(tenant, &outcome.suggestion_id, &outcome.agent),
            encode(outcome),
        )?;
    }
    for item in &commit.outbox {
        super::outbox::enqueue(tx.outbox, tx.outbox_due, tx.outbox_conversation, item)?;
    }
    let mut events = Vec::with_capacity(commit.events.len());
    if !commit.events.is_empty() {
        let next = event_ids
            .get_mut(tenant)
            .expect("the apply read every committing tenant's next event id");
        for event in &commit.events {
            let mut event = event.clone();
            event.id = *next;
            if let Some(post) = post_of(commit, &event) {
                event.detail = Some(post_detail(post));
            }
            *next += 1;
            tx.events
                .insert(event_key(tenant, event.id), encode(&event))?;
            events.push(event);
        }
    }
    Ok(Ok(Applied { ticket, events }))
}

/// The post a `message.created` event without a detail announces.
fn post_of<'a>(commit: &'a Commit, event: &Event) -> Option<&'a Post> {
    if event.kind != EventKind::MessageCreated || event.detail.is_some() {
        return None;
    }
    let id = event.message_id.as_deref()?;
    commit.posts.iter().find(|p| p.id == id)
}

/// What a post's event says, for counting (`crate::kpi`: an agent's first
/// public reply after a handoff is the first response): who wrote it, and
/// whether the customer sees it.
fn post_detail(post: &Post) -> serde_json::Value {
    serde_json::json!({
        "author": post.author,
        "agent": post.agent_id,
        "private": post.private,
        "action": post.action,
    })
}

/// Events sort by tenant, then by id.
pub(super) fn event_key(tenant: &str, id: u64) -> Vec<u8> {
    let mut k = key(tenant, "");
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// A suggestion's outcome for one agent.
pub(super) fn outcome_key(tenant: &str, suggestion: &str, agent: &str) -> Vec<u8> {
    let mut k = key(tenant, suggestion);
    k.push(0);
    k.extend_from_slice(agent.as_bytes());
    k
}

pub(super) fn customer_conversation_key(
    tenant: &str,
    customer: &str,
    conversation: &str,
) -> Vec<u8> {
    let mut k = key(tenant, customer);
    k.push(0);
    k.extend_from_slice(conversation.as_bytes());
    k
}
