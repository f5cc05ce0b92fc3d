//! The live tail of each tenant's event log. Events are written with the
//! change they describe (`storage::commit`) and published here by the
//! flusher once that change is on disk, so a subscriber never sees an event
//! a crash could take back. A subscriber reads what it missed from the log
//! (ids above its `Last-Event-ID`, up to [`EventHub::durable_up_to`]) and
//! the rest from here, skipping ids it already sent.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use crate::model::{Entry, Event};

/// Events a slow subscriber may fall behind by before it must re-read the
/// log (`broadcast::error::RecvError::Lagged`).
pub const LIVE_BUFFER: usize = 4096;

/// An event as published, with the entry it names when the change carried
/// it (a subscriber that resumes from the log reads entries from the store).
#[derive(Debug)]
pub struct LiveEvent {
    pub tenant: Arc<str>,
    pub event: Event,
    pub entry: Option<Arc<Entry>>,
}

struct TenantTail {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    /// The newest event id known durable (0: none published since start).
    durable: u64,
}

#[derive(Default)]
pub struct EventHub {
    tenants: RwLock<HashMap<String, TenantTail>>,
}

impl EventHub {
    /// Receive the tenant's events from now on.
    pub fn subscribe(&self, tenant: &str) -> broadcast::Receiver<Arc<LiveEvent>> {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        tenants
            .entry(tenant.to_string())
            .or_insert_with(|| TenantTail {
                sender: broadcast::channel(LIVE_BUFFER).0,
                durable: 0,
            })
            .sender
            .subscribe()
    }

    /// Whether anyone listens to the tenant's events (if not, the flusher
    /// does not build their payloads).
    pub fn has_subscribers(&self, tenant: &str) -> bool {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .is_some_and(|t| t.sender.receiver_count() > 0)
    }

    /// The newest of the tenant's events published since start, if any:
    /// everything up to it is on disk.
    pub fn durable_up_to(&self, tenant: &str) -> Option<u64> {
        self.tenants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .map(|t| t.durable)
            .filter(|d| *d > 0)
    }

    /// Mark `up_to` durable and hand the events to the tenant's subscribers.
    pub(crate) fn publish(&self, tenant: &str, up_to: u64, events: Vec<Arc<LiveEvent>>) {
        let mut tenants = self.tenants.write().unwrap_or_else(|p| p.into_inner());
        let tail = tenants
            .entry(tenant.to_string())
            .or_insert_with(|| TenantTail {
                sender: broadcast::channel(LIVE_BUFFER).0,
                durable: 0,
            });
        tail.durable = tail.durable.max(up_to);
        for event in events {
            // No receiver is not an error: nobody listens now.
            let _ = tail.sender.send(event);
        }
    }
}
