//! One conversation at a time: two messages of one conversation commit one
//! after the other (message counts and agent loads stay exact), while other
//! conversations, and other tenants, never wait on each other.
//!
//! Locks are taken by name, not from a fixed set of stripes: with shared
//! stripes, a tenant whose plugin burns its whole deadline held a stripe that
//! another tenant's conversation could hash to, and that tenant waited too
//! (the isolation benchmark measured it in the healthy tenant's p99).

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};

#[derive(Default)]
pub struct ConversationLocks {
    state: Mutex<Held>,
    released: Condvar,
}

#[derive(Default)]
struct Held {
    conversations: HashSet<(String, String)>,
    /// Conversations held per tenant.
    per_tenant: HashMap<String, usize>,
    /// Tenants locked as a whole, or waiting for their conversations to end
    /// (no new conversation of theirs starts meanwhile, so a busy tenant
    /// cannot starve the change).
    whole_tenants: HashSet<String>,
}

/// Held while one conversation's change is made.
pub struct ConversationGuard<'a> {
    locks: &'a ConversationLocks,
    key: (String, String),
}

/// Held while a change spanning all of a tenant's conversations is made.
pub struct TenantGuard<'a> {
    locks: &'a ConversationLocks,
    tenant: String,
}

impl ConversationLocks {
    fn held(&self) -> MutexGuard<'_, Held> {
        // Nothing is left half-done under this mutex: a panic elsewhere
        // cannot leave the sets inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, held: MutexGuard<'a, Held>) -> MutexGuard<'a, Held> {
        self.released.wait(held).unwrap_or_else(|p| p.into_inner())
    }

    /// Wait until no one else holds this conversation, then hold it.
    pub fn conversation(&self, tenant: &str, conversation: &str) -> ConversationGuard<'_> {
        let key = (tenant.to_string(), conversation.to_string());
        let mut held = self.held();
        while held.whole_tenants.contains(tenant) || held.conversations.contains(&key) {
            held = self.wait(held);
        }
        held.conversations.insert(key.clone());
        *held.per_tenant.entry(key.0.clone()).or_default() += 1;
        ConversationGuard { locks: self, key }
    }

    /// Wait until no conversation of `tenant` is held, then hold them all.
    pub fn tenant(&self, tenant: &str) -> TenantGuard<'_> {
        let mut held = self.held();
        while held.whole_tenants.contains(tenant) {
            held = self.wait(held);
        }
        held.whole_tenants.insert(tenant.to_string());
        while held.per_tenant.get(tenant).is_some_and(|n| *n > 0) {
            held = self.wait(held);
        }
        TenantGuard {
            locks: self,
            tenant: tenant.to_string(),
        }
    }
}

impl Drop for ConversationGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held();
        held.conversations.remove(&self.key);
        if let Some(n) = held.per_tenant.get_mut(&self.key.0) {
            *n -= 1;
            if *n == 0 {
                held.per_tenant.remove(&self.key.0);
            }
        }
        drop(held);
        self.locks.released.notify_all();
    }
}

impl Drop for TenantGuard<'_> {
    fn drop(&mut self) {
        self.locks.held().whole_tenants.remove(&self.tenant);
        self.locks.released.notify_all();
    }
}

/// One holder per name at a time (a tenant's article changes, a tenant's
/// index build), and nothing shared between names. Names are forgotten when
/// released, so the set stays as small as what is held.
#[derive(Default)]
pub struct NamedLocks {
    held: Mutex<HashSet<String>>,
    released: Condvar,
}

pub struct NamedGuard<'a> {
    locks: &'a NamedLocks,
    name: String,
}

impl NamedLocks {
    /// Wait until no one holds `name`, then hold it.
    pub fn lock(&self, name: &str) -> NamedGuard<'_> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(name) {
            held = self.released.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(name.to_string());
        NamedGuard {
            locks: self,
            name: name.to_string(),
        }
    }
}

impl Drop for NamedGuard<'_> {
    fn drop(&mut self) {
        self.locks
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.name);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn one_conversation_is_serial_and_others_run_alongside() {
        let locks = Arc::new(ConversationLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _g = locks.conversation("t", "c");
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);

        // Held conversations do not block another conversation or tenant.
        let _a = locks.conversation("t", "c");
        let _b = locks.conversation("t", "d");
        let _c = locks.conversation("u", "c");
        let _whole_other = locks.tenant("v");
    }

    #[test]
    fn a_whole_tenant_waits_for_its_conversations_and_holds_off_new_ones() {
        let locks = Arc::new(ConversationLocks::default());
        let first = locks.conversation("t", "c");
        let other_tenant = locks.conversation("u", "c");
        let order = Arc::new(Mutex::new(Vec::new()));
        let whole = {
            let (locks, order) = (locks.clone(), order.clone());
            std::thread::spawn(move || {
                let _all = locks.tenant("t");
                order.lock().unwrap().push("whole");
                std::thread::sleep(Duration::from_millis(30));
                order.lock().unwrap().push("whole done");
            })
        };
        while !locks.held().whole_tenants.contains("t") {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(
            order.lock().unwrap().is_empty(),
            "waits for the held conversation"
        );
        let later = {
            let (locks, order) = (locks.clone(), order.clone());
            std::thread::spawn(move || {
                let _g = locks.conversation("t", "d");
                order.lock().unwrap().push("later");
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        drop(first);
        whole.join().unwrap();
        later.join().unwrap();
        assert_eq!(*order.lock().unwrap(), ["whole", "whole done", "later"]);
        drop(other_tenant);
        assert!(locks.held().per_tenant.is_empty());
        assert!(locks.held().conversations.is_empty());
    }

    #[test]
    fn a_named_lock_holds_one_name_and_never_another() {
        let locks = Arc::new(NamedLocks::default());
        let a = locks.lock("tenant-a");
        // Another name is free while "tenant-a" is held.
        drop(locks.lock("tenant-b"));
        let entered = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (locks, entered) = (locks.clone(), entered.clone());
            std::thread::spawn(move || {
                let _a = locks.lock("tenant-a");
                entered.fetch_add(1, Ordering::SeqCst);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(entered.load(Ordering::SeqCst), 0, "the same name waits");
        drop(a);
        waiter.join().unwrap();
        assert_eq!(entered.load(Ordering::SeqCst), 1);
        assert!(
            locks.held.lock().unwrap().is_empty(),
            "released names are forgotten"
        );
    }
}
