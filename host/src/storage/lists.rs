//! The reads a desk makes: conversation lists by status (from the list
//! index the commits keep), a conversation's entries in order (customer
//! messages and posts merged), and a tenant's event log after an id.

use std::ops::Bound;

use super::commit::{customer_conversation_key, event_key, list_key, list_prefix, list_since};
use super::{Cursor, MAX_PAGE_SCAN, Page, Result, Storage, decode, encode, key, message_seq};
use crate::model::*;

/// A customer's conversations read for a handoff, at most.
pub const MAX_CUSTOMER_CONVERSATIONS: usize = 1_000;

/// Set in `meta` once every stored conversation is in the list index.
const CONVERSATION_LIST_BUILT: &str = "conversation-list-built";

/// Which conversations a list shows, in which order.
#[derive(Clone, Debug, Default)]
pub struct ConversationFilter {
    /// Statuses to show; empty: all.
    pub statuses: Vec<ConversationStatus>,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub customer: Option<String>,
    /// Newest first (by last change; waiting ones by when they began to
    /// wait); otherwise the longest waiting (oldest) first.
    pub newest_first: bool,
}

impl ConversationFilter {
    fn keeps(&self, head: &ConversationHead) -> bool {
        self.queue
            .as_ref()
            .is_none_or(|q| head.queue.as_ref() == Some(q))
            && self
                .agent
                .as_ref()
                .is_none_or(|a| head.agent.as_ref() == Some(a))
            && self
                .customer
                .as_ref()
                .is_none_or(|c| &head.customer_id == c)
    }
}

impl Storage {
    /// One page of a tenant's conversations. The cursor is the sort key of
    /// the last one shown (time, then id), so a page continues every
    /// status's list at the same place. Decodes at most [`MAX_PAGE_SCAN`]
    /// heads per status; a filter that matches little may come back short,
    /// with a `next`.
    /// Waiting conversations per queue: how many, and since when the
    /// longest has waited. Reads at most `cap` of them, oldest first (the
    /// list is in waiting order), and says whether it stopped there.
    pub fn waiting_by_queue(
        &self,
        tenant: &str,
        cap: usize,
    ) -> Result<(std::collections::BTreeMap<String, QueueWaiting>, bool)> {
        let mut queues = std::collections::BTreeMap::<String, QueueWaiting>::new();
        let prefix = list_prefix(tenant, ConversationStatus::Waiting);
        for (read, item) in self.conversation_list.scan_prefix(&prefix).enumerate() {
            if read >= cap {
                return Ok((queues, true));
            }
            let (k, v) = item?;
            let head: ConversationHead = decode(&k, &v)?;
            let queue = queues
                .entry(head.queue.clone().unwrap_or_default())
                .or_default();
            queue.waiting += 1;
            let since = head.waiting_since_ms.unwrap_or(head.updated_at_ms);
            if queue.longest_since_ms.is_none_or(|s| since < s) {
                queue.longest_since_ms = Some(since);
            }
        }
        Ok((queues, false))
    }

    pub fn conversations_page(
        &self,
        tenant: &str,
        filter: &ConversationFilter,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<ConversationHead>> {
        let statuses = if filter.statuses.is_empty() {
            ConversationStatus::ALL.to_vec()
        } else {
            filter.statuses.clone()
        };
        // (sort key, head) from each status's list, each already in order.
        let mut found: Vec<(Vec<u8>, ConversationHead)> = Vec::new();
        // Where the scan of a list that hit MAX_PAGE_SCAN stopped: the page
        // may not go past the earliest such place (in the page's order).
        let mut scanned_to: Option<Vec<u8>> = None;
        let before = |a: &[u8], b: &[u8]| if filter.newest_first { a > b } else { a < b };
        for status in statuses {
            let p = list_prefix(tenant, status);
            let end = {
                let mut e = p.clone();
                *e.last_mut().expect("a prefix ends in 0") = 1;
                e
            };
            let cursor = after.map(|c| [p.as_slice(), &c.0].concat());
            let (from, to) = match (filter.newest_first, cursor) {
                (false, None) => (Bound::Included(p.clone()), Bound::Excluded(end)),
                (false, Some(c)) => (Bound::Excluded(c), Bound::Excluded(end)),
                (true, None) => (Bound::Included(p.clone()), Bound::Excluded(end)),
                (true, Some(c)) => (Bound::Included(p.clone()), Bound::Excluded(c)),
            };
            let range = self.conversation_list.range::<Vec<u8>, _>((from, to));
            let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
                if filter.newest_first {
                    Box::new(range.rev())
                } else {
                    Box::new(range)
                };
            let mut kept = 0;
            for (scanned, item) in entries.enumerate() {
                let (k, v) = item?;
                let sort_key = k[p.len()..].to_vec();
                if scanned + 1 >= MAX_PAGE_SCAN
                    && scanned_to.as_ref().is_none_or(|s| before(&sort_key, s))
                {
                    scanned_to = Some(sort_key.clone());
                }
                let head: ConversationHead = decode(&k, &v)?;
                if filter.keeps(&head) {
                    found.push((sort_key, head));
                    kept += 1;
                }
                if kept > limit || scanned + 1 >= MAX_PAGE_SCAN {
                    break;
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        if filter.newest_first {
            found.reverse();
        }
        if let Some(bound) = &scanned_to {
            found.retain(|(k, _)| k == bound || before(k, bound));
        }
        let more = found.len() > limit || scanned_to.is_some();
        found.truncate(limit);
        let next = match (more, found.last()) {
            (false, _) => None,
            (true, Some((k, _))) if found.len() == limit || scanned_to.is_none() => {
                Some(Cursor(k.clone()))
            }
            (true, _) => scanned_to.map(Cursor),
        };
        Ok(Page {
            items: found.into_iter().map(|(_, head)| head).collect(),
            next,
        })
    }

    /// One page of a conversation's entries, oldest first: its customer
    /// messages (with their decisions) and posts, merged by arrival.
    pub fn entries_page(
        &self,
        tenant: &str,
        conversation: &str,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Entry>> {
        let mut p = key(tenant, conversation);
        p.push(0);
        let start = match after {
            Some(cursor) => Bound::Excluded([p.as_slice(), &cursor.0].concat()),
            None => Bound::Included(p.clone()),
        };
        let scan = |tree: &sled::Tree| {
            tree.range::<Vec<u8>, _>((start.clone(), Bound::Unbounded))
                .take_while(|item| item.as_ref().map_or(true, |(k, _)| k.starts_with(&p)))
                .peekable()
        };
        let (mut messages, mut posts) = (scan(&self.messages), scan(&self.posts));
        let mut items = Vec::new();
        let mut last_key = Vec::new();
        loop {
            let take_message = match (messages.peek(), posts.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(Err(_)), _) => true,
                (_, Some(Err(_))) => false,
                (Some(Ok((m, _))), Some(Ok((q, _)))) => m <= q,
            };
            if items.len() >= limit.max(1) {
                return Ok(Page {
                    items,
                    next: Some(Cursor(last_key[p.len()..].to_vec())),
                });
            }
            let (k, v) = if take_message {
                messages.next()
            } else {
                posts.next()
            }
            .expect("peeked")?;
            items.push(if take_message {
                Entry::customer(decode(&k, &v)?)
            } else {
                Entry::Post(decode(&k, &v)?)
            });
            last_key = k.to_vec();
        }
        Ok(Page { items, next: None })
    }

    /// Every entry of a conversation, oldest first.
    pub fn entries(&self, tenant: &str, conversation: &str) -> Result<Vec<Entry>> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.entries_page(tenant, conversation, after.as_ref(), 500)?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// One page of a tenant's suggestion outcomes, by suggestion id.
    pub fn suggestion_outcomes_page(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<SuggestionOutcome>> {
        Self::scan_page(
            &self.suggestion_outcomes,
            &key(tenant, ""),
            after,
            limit,
            |_| true,
        )
    }

    /// A customer's conversations (at most `limit`), newest change first.
    pub fn customer_conversations(
        &self,
        tenant: &str,
        customer: &str,
        limit: usize,
    ) -> Result<Vec<Conversation>> {
        let mut p = key(tenant, customer);
        p.push(0);
        let mut found = Vec::new();
        for item in self
            .customer_conversations
            .scan_prefix(&p)
            .take(MAX_CUSTOMER_CONVERSATIONS)
        {
            let (k, _) = item?;
            let id = String::from_utf8_lossy(&k[p.len()..]).into_owned();
            if let Some(c) = self.conversation(tenant, &id)? {
                found.push(c);
            }
        }
        found.sort_by_key(|c| std::cmp::Reverse(c.updated_at_ms));
        found.truncate(limit);
        Ok(found)
    }

    /// The newest customer message of a conversation.
    pub fn last_message(&self, tenant: &str, conversation: &str) -> Result<Option<MessageRecord>> {
        let mut p = key(tenant, conversation);
        p.push(0);
        match self.messages.scan_prefix(&p).next_back() {
            Some(item) => {
                let (k, v) = item?;
                Ok(Some(decode(&k, &v)?))
            }
            None => Ok(None),
        }
    }

    /// One post of a conversation by its id.
    pub fn post(&self, tenant: &str, conversation: &str, id: &str) -> Result<Option<Post>> {
        let Some(seq) = message_seq(id) else {
            return Ok(None);
        };
        Ok(
            Self::get::<Post>(&self.posts, &super::message_key(tenant, conversation, seq))?
                .filter(|p| p.id == id),
        )
    }

    /// A tenant's events with ids above `after`, oldest first, at most `limit`
    /// and none above `up_to` (the newest durable one).
    pub fn events_after(
        &self,
        tenant: &str,
        after: u64,
        up_to: u64,
        limit: usize,
    ) -> Result<Vec<Event>> {
        if after >= up_to {
            return Ok(vec![]);
        }
        let range = self
            .events
            .range(event_key(tenant, after.saturating_add(1))..=event_key(tenant, up_to));
        range
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    /// Remove a tenant's events older than `before_ms`, oldest first, at
    /// most `limit` (the rest wait for the next trim); returns how many.
    /// The newest event is always kept, so ids keep growing after a restart.
    pub fn trim_events(&self, tenant: &str, before_ms: u64, limit: usize) -> Result<usize> {
        let newest = self.last_event_id(tenant)?;
        let mut batch = sled::Batch::default();
        let mut trimmed = 0;
        for item in self.events.scan_prefix(key(tenant, "")).take(limit) {
            let (k, v) = item?;
            let event: Event = decode(&k, &v)?;
            if event.at_ms >= before_ms || event.id == newest {
                break;
            }
            batch.remove(k);
            trimmed += 1;
        }
        self.events.apply_batch(batch)?;
        Ok(trimmed)
    }

    /// The id of a tenant's newest stored event (0: none).
    pub fn last_event_id(&self, tenant: &str) -> Result<u64> {
        Ok(match self.events.scan_prefix(key(tenant, "")).next_back() {
            Some(item) => {
                let (k, _) = item?;
                let id: [u8; 8] = k[k.len() - 8..].try_into().expect("8-byte id");
                u64::from_be_bytes(id)
            }
            None => 0,
        })
    }

    /// A database written before the list index existed gets an entry for
    /// every stored conversation, once, at open.
    pub(super) fn with_conversation_list(self) -> Result<Storage> {
        if self.meta(CONVERSATION_LIST_BUILT)?.is_some() {
            return Ok(self);
        }
        let mut batch = sled::Batch::default();
        let mut listed = 0usize;
        for item in self.conversations.iter() {
            let (k, v) = item?;
            let conversation = decode::<Conversation>(&k, &v)?.normalized();
            let tenant_end = k.iter().position(|b| *b == 0).unwrap_or(0);
            let tenant = String::from_utf8_lossy(&k[..tenant_end]).into_owned();
            let head = ConversationHead::of(&conversation, String::new());
            self.customer_conversations.insert(
                customer_conversation_key(&tenant, &conversation.customer.id, &conversation.id),
                &[],
            )?;
            batch.insert(
                list_key(
                    &tenant,
                    conversation.status,
                    list_since(
                        conversation.status,
                        conversation.waiting_since_ms,
                        conversation.updated_at_ms,
                    ),
                    &conversation.id,
                ),
                encode(&head),
            );
            listed += 1;
        }
        self.conversation_list.apply_batch(batch)?;
        self.put_meta(CONVERSATION_LIST_BUILT, "1")?;
        self.flush_blocking()?;
        if listed > 0 {
            tracing::info!(
                listed,
                "conversation list built for the conversations stored before it"
            );
        }
        Ok(self)
    }
}
