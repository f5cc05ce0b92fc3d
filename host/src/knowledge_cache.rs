//! Each tenant's search index, built when a message first needs it and
//! dropped when an article changes. A build reads every article of the
//! tenant and can take a while; it runs under that tenant's build lock only,
//! never under a lock other tenants take (it used to run under the
//! process-wide write lock of the cache, so one tenant's 10 MB knowledge
//! base stalled every tenant's messages behind it).
//!
//! Correctness without holding a lock across the build: every change bumps
//! the tenant's generation after writing, and a build caches its index only
//! if the generation it saw before reading is still current. A build that
//! may have read the old articles is therefore used by the message that
//! asked (which began before the change finished) but never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::knowledge::KnowledgeIndex;
use crate::serial::NamedLocks;

#[derive(Default)]
pub struct KnowledgeCache {
    entries: Mutex<HashMap<String, Entry>>,
    /// One build per tenant at a time; the others of that tenant wait for it.
    building: NamedLocks,
}

#[derive(Default)]
struct Entry {
    generation: u64,
    index: Option<Arc<KnowledgeIndex>>,
}

impl KnowledgeCache {
    fn cached(&self, tenant: &str) -> (Option<Arc<KnowledgeIndex>>, u64) {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(tenant)
            .map_or((None, 0), |e| (e.index.clone(), e.generation))
    }

    /// The tenant's index, built with `build` if none is cached.
    pub fn get_or_build<E>(
        &self,
        tenant: &str,
        build: impl FnOnce() -> Result<KnowledgeIndex, E>,
    ) -> Result<Arc<KnowledgeIndex>, E> {
        if let (Some(index), _) = self.cached(tenant) {
            return Ok(index);
        }
        let _one_build = self.building.lock(tenant);
        let (cached, generation) = self.cached(tenant);
        if let Some(index) = cached {
            return Ok(index);
        }
        let index = Arc::new(build()?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.entry(tenant.to_string()).or_default();
        if entry.generation == generation {
            entry.index = Some(index.clone());
        }
        Ok(index)
    }

    /// Forget the tenant's index; call after its articles changed in storage.
    pub fn invalidate(&self, tenant: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.entry(tenant.to_string()).or_default();
        entry.generation += 1;
        entry.index = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Article;
    use std::convert::Infallible;

    fn article(id: &str, body: &str) -> Article {
        serde_json::from_value(serde_json::json!({
            "id": id, "title": body, "body": body, "published": true
        }))
        .unwrap()
    }

    #[test]
    fn a_build_that_raced_a_change_is_used_once_and_never_cached() {
        let cache = KnowledgeCache::default();
        let index = cache
            .get_or_build("t", || {
                // The article changes while this build runs.
                cache.invalidate("t");
                Ok::<_, Infallible>(KnowledgeIndex::build(&[article("a", "old refund policy")]))
            })
            .unwrap();
        assert_eq!(index.len(), 1, "the asking message still gets an index");
        let rebuilt = cache
            .get_or_build("t", || {
                Ok::<_, Infallible>(KnowledgeIndex::build(&[
                    article("a", "new refund policy"),
                    article("b", "delivery"),
                ]))
            })
            .unwrap();
        assert_eq!(rebuilt.len(), 2, "the stale build was not cached");
        let again = cache
            .get_or_build("t", || -> Result<KnowledgeIndex, Infallible> {
                panic!("a current index is cached")
            })
            .unwrap();
        assert!(Arc::ptr_eq(&again, &rebuilt));
    }

    #[test]
    fn one_tenants_build_does_not_hold_another_tenant() {
        let cache = Arc::new(KnowledgeCache::default());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let slow = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache
                    .get_or_build("big", || {
                        started_tx.send(()).unwrap();
                        finish_rx.recv().unwrap();
                        Ok::<_, Infallible>(KnowledgeIndex::build(&[]))
                    })
                    .unwrap();
            })
        };
        started_rx.recv().unwrap();
        // While "big" is still building, another tenant builds and reads.
        let other = cache
            .get_or_build("small", || {
                Ok::<_, Infallible>(KnowledgeIndex::build(&[article("a", "hello")]))
            })
            .unwrap();
        assert_eq!(other.len(), 1);
        finish_tx.send(()).unwrap();
        slow.join().unwrap();
    }
}
