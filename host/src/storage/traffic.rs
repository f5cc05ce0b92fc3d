//! The `traffic` tree: hourly counts per tenant and dimension
//! (`crate::traffic`), and per tenant the last event id they include.
//! Written by one thread only (the traffic counter), so its
//! read-modify-writes need no transaction: counts and marker go in one
//! atomic batch.

use std::collections::BTreeMap;

use super::{Result, Storage, decode, encode, key};
use crate::traffic::Counts;

/// `tenant \0 hour (8 bytes, big-endian) dimension`: a tenant's buckets in
/// hour order.
fn bucket_key(tenant: &str, hour: u64, dimension: &str) -> Vec<u8> {
    let mut k = key(tenant, "");
    k.extend_from_slice(&hour.to_be_bytes());
    k.extend_from_slice(dimension.as_bytes());
    k
}

/// `tenant \x01`: outside every bucket range of the tenant (those start
/// `tenant \0`) and of any other tenant (ids have no control bytes).
fn marker_key(tenant: &str) -> Vec<u8> {
    let mut k = key(tenant, "");
    k.truncate(k.len() - 1);
    k.push(1);
    k
}

impl Storage {
    /// The last event id counted into the tenant's buckets (0: none).
    pub fn traffic_counted(&self, tenant: &str) -> Result<u64> {
        Ok(match self.traffic.get(marker_key(tenant))? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])),
            None => 0,
        })
    }

    /// Add counts to buckets, the outcomes of `crate::kpi`, and move the
    /// marker, atomically.
    pub fn add_traffic(
        &self,
        tenant: &str,
        deltas: &BTreeMap<(u64, String), Counts>,
        outcomes: &crate::kpi::count::Changes,
        counted_up_to: u64,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        self.batch_kpi(tenant, outcomes, &mut batch)?;
        for ((hour, dimension), delta) in deltas {
            let k = bucket_key(tenant, *hour, dimension);
            let mut counts: Counts = match self.traffic.get(&k)? {
                Some(v) => decode(&k, &v)?,
                None => Counts::default(),
            };
            counts.messages += delta.messages;
            counts.escalated += delta.escalated;
            counts.started += delta.started;
            counts.handoffs += delta.handoffs;
            counts.corrected += delta.corrected;
            batch.insert(k, encode(&counts));
        }
        batch.insert(marker_key(tenant), &counted_up_to.to_be_bytes());
        self.traffic.apply_batch(batch)?;
        Ok(())
    }

    /// Buckets of hours `from..to`, by (hour, dimension).
    pub fn traffic_range(
        &self,
        tenant: &str,
        from_hour: u64,
        to_hour: u64,
    ) -> Result<BTreeMap<(u64, String), Counts>> {
        hour_buckets(
            &self.traffic,
            key(tenant, "").len(),
            bucket_key(tenant, from_hour, "")..bucket_key(tenant, to_hour, ""),
        )
    }
}

/// The buckets whose keys lie in `range`, by (hour, dimension): keys are a
/// prefix of `prefix_len` bytes, the hour (8 bytes, big-endian), then the
/// dimension (the traffic counts' and the outcome buckets' layout).
pub(super) fn hour_buckets<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    prefix_len: usize,
    range: std::ops::Range<Vec<u8>>,
) -> Result<BTreeMap<(u64, String), T>> {
    let mut out = BTreeMap::new();
    for item in tree.range(range) {
        let (k, v) = item?;
        let hour = u64::from_be_bytes(
            k[prefix_len..prefix_len + 8]
                .try_into()
                .expect("8-byte hour"),
        );
        let dimension = String::from_utf8_lossy(&k[prefix_len + 8..]).into_owned();
        out.insert((hour, dimension), decode(&k, &v)?);
    }
    Ok(out)
}
