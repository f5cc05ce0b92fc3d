//! The outbox: what must reach a tenant's channel, written in the same
//! transaction as the entry it delivers (`commit.rs`), kept until the
//! channel acknowledges it, and dead-lettered after the retry window.
//!
//! Trees: `outbox` (`tenant \0 seq` -> [`OutboxItem`]), `outbox_due`
//! (`next attempt (ms) tenant \0 seq` -> (): every tenant's due deliveries
//! in time order, for the one dispatcher) and `outbox_conversation`
//! (`tenant \0 conversation \0 seq` -> (): what a conversation still has to
//! deliver, so its messages reach the customer in order).

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::{
    Cursor, Page, Result, Storage, StorageError, TxTree, decode, encode, key, message_seq,
    never_aborted,
};
use crate::model::*;

pub(super) fn outbox_key(tenant: &str, id: &str) -> Vec<u8> {
    let mut k = key(tenant, "");
    k.extend_from_slice(&message_seq(id).unwrap_or(0).to_be_bytes());
    k
}

pub(super) fn due_key(at_ms: u64, tenant: &str, id: &str) -> Vec<u8> {
    let mut k = at_ms.to_be_bytes().to_vec();
    k.extend_from_slice(&outbox_key(tenant, id));
    k
}

pub(super) fn conversation_key(tenant: &str, conversation: &str, id: &str) -> Vec<u8> {
    let mut k = key(tenant, conversation);
    k.push(0);
    k.extend_from_slice(&message_seq(id).unwrap_or(0).to_be_bytes());
    k
}

/// Inside a commit's transaction: queue an item for delivery.
pub(super) fn enqueue(
    outbox: &TxTree,
    due: &TxTree,
    by_conversation: &TxTree,
    item: &OutboxItem,
) -> std::result::Result<(), ConflictableTransactionError<()>> {
    outbox.insert(outbox_key(&item.tenant, &item.id), encode(item))?;
    due.insert(due_key(item.next_attempt_ms, &item.tenant, &item.id), &[])?;
    by_conversation.insert(
        conversation_key(&item.tenant, &item.conversation_id, &item.id),
        &[],
    )?;
    Ok(())
}

impl Storage {
    /// Pending deliveries whose time has come, oldest due first: at most
    /// `limit` that `ready` accepts, looking at no more than `scan` due
    /// entries. Items `ready` refuses (their conversation or tenant busy)
    /// do not count toward `limit`, so one tenant's held-back backlog never
    /// hides the others' deliveries.
    pub fn due_outbox(
        &self,
        now_ms: u64,
        limit: usize,
        scan: usize,
        mut ready: impl FnMut(&OutboxItem) -> bool,
    ) -> Result<Vec<OutboxItem>> {
        let mut items = Vec::new();
        for entry in self
            .outbox_due
            .range(..(now_ms + 1).to_be_bytes().to_vec())
            .take(scan)
        {
            let (k, _) = entry?;
            if let Some(bytes) = self.outbox.get(&k[8..])? {
                let item: OutboxItem = decode(&k, &bytes)?;
                if item.state == OutboxState::Pending && ready(&item) {
                    items.push(item);
                }
            }
            if items.len() >= limit {
                break;
            }
        }
        Ok(items)
    }

    /// Whether an earlier message of the same conversation is still to be
    /// delivered: the customer must read them in order. An earlier item
    /// not yet due and never tried (a survey sent after a delay) does not
    /// hold later ones back.
    pub fn outbox_waits_for_earlier(&self, item: &OutboxItem, now_ms: u64) -> Result<bool> {
        let mut p = key(&item.tenant, &item.conversation_id);
        p.push(0);
        let this = conversation_key(&item.tenant, &item.conversation_id, &item.id);
        for entry in self.outbox_conversation.scan_prefix(&p) {
            let (k, _) = entry?;
            if k.as_ref() >= this.as_slice() {
                return Ok(false);
            }
            let seq: [u8; 8] = k[k.len() - 8..].try_into().expect("8-byte seq");
            let mut outbox_key = key(&item.tenant, "");
            outbox_key.extend_from_slice(&seq);
            let Some(bytes) = self.outbox.get(&outbox_key)? else {
                continue;
            };
            let earlier: OutboxItem = decode(&outbox_key, &bytes)?;
            let scheduled_later = earlier.attempts == 0 && earlier.next_attempt_ms > now_ms;
            if earlier.state == OutboxState::Pending && !scheduled_later {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Acknowledged by the channel: gone from the outbox.
    pub fn outbox_delivered(&self, item: &OutboxItem) -> Result<()> {
        self.change_outbox(item, |_| None)
    }

    /// A failed attempt: try again at `next_ms`.
    pub fn outbox_retry(&self, item: &OutboxItem, next_ms: u64, error: String) -> Result<()> {
        self.change_outbox(item, |stored| {
            Some(OutboxItem {
                attempts: stored.attempts + 1,
                next_attempt_ms: next_ms,
                last_error: Some(error.clone()),
                ..stored.clone()
            })
        })
    }

    /// Out of retries: kept, visible in the dead-letter list.
    pub fn outbox_dead(&self, item: &OutboxItem, error: String) -> Result<()> {
        self.change_outbox(item, |stored| {
            Some(OutboxItem {
                attempts: stored.attempts + 1,
                state: OutboxState::Dead,
                last_error: Some(error.clone()),
                ..stored.clone()
            })
        })
    }

    /// Deliver a dead item again from now, with a fresh retry window.
    /// `None`: no such item; an error when it is not dead.
    pub fn outbox_redeliver(
        &self,
        tenant: &str,
        id: &str,
        now_ms: u64,
    ) -> Result<Option<OutboxItem>> {
        let Some(item) = self.outbox_item(tenant, id)? else {
            return Ok(None);
        };
        if item.state != OutboxState::Dead {
            return Err(StorageError::Inconsistent(format!(
                "delivery {id} is still pending (attempt {}, next at {} ms)",
                item.attempts, item.next_attempt_ms
            )));
        }
        let again = OutboxItem {
            state: OutboxState::Pending,
            attempts: 0,
            created_at_ms: now_ms,
            next_attempt_ms: now_ms,
            ..item.clone()
        };
        self.change_outbox(&item, |_| Some(again.clone()))?;
        Ok(Some(again))
    }

    pub fn outbox_item(&self, tenant: &str, id: &str) -> Result<Option<OutboxItem>> {
        if message_seq(id).is_none() {
            return Ok(None);
        }
        Ok(Self::get::<OutboxItem>(&self.outbox, &outbox_key(tenant, id))?.filter(|i| i.id == id))
    }

    /// One page of a tenant's outbox, oldest first, in one state.
    pub fn outbox_page(
        &self,
        tenant: &str,
        state: OutboxState,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<OutboxItem>> {
        Self::scan_page(
            &self.outbox,
            &key(tenant, ""),
            after,
            limit,
            |i: &OutboxItem| i.state == state,
        )
    }

    /// Replace the stored item (as `change` makes it of the stored one;
    /// `None` removes it) and its index entries, in one transaction.
    fn change_outbox(
        &self,
        item: &OutboxItem,
        change: impl Fn(&OutboxItem) -> Option<OutboxItem>,
    ) -> Result<()> {
        let k = outbox_key(&item.tenant, &item.id);
        (&self.outbox, &self.outbox_due, &self.outbox_conversation)
            .transaction(|(outbox, due, by_conversation)| {
                let Some(bytes) = outbox.get(&k)? else {
                    return Ok(());
                };
                let stored: OutboxItem = serde_json::from_slice(&bytes)
                    .map_err(|_| ConflictableTransactionError::Abort(()))?;
                due.remove(due_key(stored.next_attempt_ms, &stored.tenant, &stored.id))?;
                by_conversation.remove(conversation_key(
                    &stored.tenant,
                    &stored.conversation_id,
                    &stored.id,
                ))?;
                match change(&stored) {
                    None => {
                        outbox.remove(k.clone())?;
                    }
                    Some(next) => {
                        outbox.insert(k.clone(), encode(&next))?;
                        if next.state == OutboxState::Pending {
                            due.insert(due_key(next.next_attempt_ms, &next.tenant, &next.id), &[])?;
                            by_conversation.insert(
                                conversation_key(&next.tenant, &next.conversation_id, &next.id),
                                &[],
                            )?;
                        }
                    }
                }
                Ok(())
            })
            .map_err(never_aborted)
    }
}
