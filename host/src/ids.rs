//! Record ids, counted per tenant. One counter for the whole database let a
//! tenant read every other tenant's traffic off the ids it was given (the
//! gap between two of its own ids counted everyone's records in between).
//! Each tenant now draws from its
//! own counter: ids still grow, so message keys and the customer-ticket
//! index keep their order, and a tenant sees only its own volume.
//!
//! A counter lives in memory and leases ranges of [`LEASE`] ids from the
//! `id_leases` tree (the tenant's key holds the end of its last lease). The
//! lease is made durable before any id in it is handed out, so after a crash
//! or restart a counter starts past every id it may have given, never below.
//! A tenant's first lease starts at the database's floor: the old global
//! counter's value when the database was first opened with per-tenant ids,
//! so no new id repeats one an older version of the host gave.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::durability::GroupCommit;
use crate::storage::{Result, StorageError};

/// Ids leased at a time: one durable write per this many ids per tenant.
/// A renewal waits for a flush while the tenant's ids wait for it: at 4,096
/// a busy tenant (3,000 messages a second, two ids each) did that every
/// 0.7 s; at 65,536, every 11 s. A restart skips what is left of a lease.
pub const LEASE: u64 = 65_536;

/// The meta key that holds the floor (decimal).
pub const FLOOR_META: &str = "id-floor";

pub struct TenantIds {
    leases: sled::Tree,
    floor: u64,
    commit: Arc<GroupCommit>,
    counters: Mutex<HashMap<String, Arc<Mutex<Counter>>>>,
}

/// The next id to give, and the end (exclusive) of the durable lease.
struct Counter {
    next: u64,
    leased_to: u64,
}

impl TenantIds {
    pub fn new(leases: sled::Tree, floor: u64, commit: Arc<GroupCommit>) -> TenantIds {
        TenantIds {
            leases,
            floor,
            commit,
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh id for `tenant`: unique and increasing among its ids for the
    /// life of the database. Blocks for one flush once every [`LEASE`] ids.
    pub fn next(&self, tenant: &str) -> Result<u64> {
        let counter = self.counter(tenant)?;
        let mut counter = counter.lock().unwrap_or_else(|p| p.into_inner());
        if counter.next >= counter.leased_to {
            let leased_to = counter.next + LEASE;
            self.leases
                .insert(tenant.as_bytes(), &leased_to.to_be_bytes())?;
            // Durable before use: an id given from an unsaved lease could be
            // given again after a crash, to a record that then overwrites
            // the first one's.
            self.commit.wait_blocking().map_err(StorageError::Flush)?;
            counter.leased_to = leased_to;
        }
        let id = counter.next;
        counter.next += 1;
        Ok(id)
    }

    fn counter(&self, tenant: &str) -> Result<Arc<Mutex<Counter>>> {
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(counter) = counters.get(tenant) {
            return Ok(counter.clone());
        }
        // Everything below the saved end may have been given before a restart.
        let start = match self.leases.get(tenant.as_bytes())? {
            Some(end) => u64::from_be_bytes(end.as_ref().try_into().map_err(|_| {
                StorageError::Inconsistent(format!("the id lease of tenant {tenant}"))
            })?),
            None => self.floor,
        }
        .max(self.floor);
        let counter = Arc::new(Mutex::new(Counter {
            next: start,
            leased_to: start,
        }));
        counters.insert(tenant.to_string(), counter.clone());
        Ok(counter)
    }
}

#[cfg(test)]
mod tests {
    use super::LEASE;
    use crate::storage::Storage;

    /// The defect: one counter for the whole database, so tenant B's ids
    /// jumped by however many records tenant A wrote in between.
    #[test]
    fn one_tenants_records_do_not_move_anothers_ids() {
        let storage = Storage::temporary().unwrap();
        let first = storage.next_id("b").unwrap();
        for _ in 0..1_000 {
            storage.next_id("a").unwrap();
        }
        assert_eq!(storage.next_id("b").unwrap(), first + 1);
    }

    #[test]
    fn ids_grow_across_leases_and_restarts_and_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let mut given = Vec::new();
        {
            let storage = Storage::open(dir.path()).unwrap();
            // Across one lease boundary: the last id of the first lease and
            // the first of the next.
            for _ in 0..=LEASE {
                given.push(storage.next_id("a").unwrap());
            }
        }
        let storage = Storage::open(dir.path()).unwrap();
        let after_restart = storage.next_id("a").unwrap();
        assert!(given.windows(2).all(|w| w[1] == w[0] + 1), "{given:?}");
        // Everything of the second lease may have been given: skip past it.
        assert_eq!(after_restart, given[0] + 2 * LEASE);
    }

    /// A database from before per-tenant ids: new ids start past every id
    /// the global counter gave, so no record is overwritten after the upgrade.
    #[test]
    fn a_database_from_the_global_counter_starts_past_its_ids() {
        let dir = tempfile::tempdir().unwrap();
        let old_last = {
            let db = sled::open(dir.path()).unwrap();
            for _ in 0..10 {
                db.generate_id().unwrap();
            }
            let last = db.generate_id().unwrap();
            db.flush().unwrap();
            last
        };
        let storage = Storage::open(dir.path()).unwrap();
        let first = storage.next_id("a").unwrap();
        assert!(first > old_last, "{first} after {old_last}");
        drop(storage);
        // The floor is saved: a second open does not move it.
        let storage = Storage::open(dir.path()).unwrap();
        assert_eq!(storage.next_id("b").unwrap(), first);
    }
}
