//! The outcome counts of `crate::kpi` in the `traffic` tree, beside the
//! traffic buckets and written in the same batch by the same single
//! writer. Key families, each outside the others' ranges (tenant ids hold
//! no control bytes):
//!
//! - `tenant \x02 hour (8 bytes BE) group`: outcomes of the conversations
//!   begun in that hour (group `""`) or day (other groups);
//! - `tenant \x03 conversation`: the counter's [`Track`] of it;
//! - `tenant \x04 customer-key \0 intent`: the customer's last contact;
//! - `tenant \x05 agent \0 intent \0 article`: an agent's uses of an article;
//! - `tenant \x06 agent \0 intent`: conversations of an intent given to an agent.

use std::collections::BTreeMap;

use super::{Result, Storage, decode, encode};
use crate::kpi::Outcomes;
use crate::kpi::count::{Changes, LastContact, REPEAT_WINDOW_MS, TRACK_RETENTION_MS, Track};

fn family(tenant: &str, tag: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 24);
    k.extend_from_slice(tenant.as_bytes());
    k.push(tag);
    k
}

fn bucket_key(tenant: &str, hour: u64, group: &str) -> Vec<u8> {
    let mut k = family(tenant, 2);
    k.extend_from_slice(&hour.to_be_bytes());
    k.extend_from_slice(group.as_bytes());
    k
}

fn track_key(tenant: &str, conversation: &str) -> Vec<u8> {
    let mut k = family(tenant, 3);
    k.extend_from_slice(conversation.as_bytes());
    k
}

fn contact_key(tenant: &str, customer: &str, intent: &str) -> Vec<u8> {
    let mut k = family(tenant, 4);
    k.extend_from_slice(customer.as_bytes());
    k.push(0);
    k.extend_from_slice(intent.as_bytes());
    k
}

fn agent_intent_key(tenant: &str, agent: &str, intent: &str) -> Vec<u8> {
    let mut k = family(tenant, 6);
    k.extend_from_slice(agent.as_bytes());
    k.push(0);
    k.extend_from_slice(intent.as_bytes());
    k
}

/// Add `delta` to the count stored under `k`.
fn add_count(tree: &sled::Tree, k: Vec<u8>, delta: u64, batch: &mut sled::Batch) -> Result<()> {
    let before: u64 = match tree.get(&k)? {
        Some(v) => decode(&k, &v)?,
        None => 0,
    };
    batch.insert(k, encode(&(before + delta)));
    Ok(())
}

fn article_key(tenant: &str, agent: &str, intent: &str, article: &str) -> Vec<u8> {
    let mut k = family(tenant, 5);
    for (n, part) in [agent, intent, article].into_iter().enumerate() {
        if n > 0 {
            k.push(0);
        }
        k.extend_from_slice(part.as_bytes());
    }
    k
}

impl Storage {
    pub fn kpi_track(&self, tenant: &str, conversation: &str) -> Result<Option<Track>> {
        let k = track_key(tenant, conversation);
        self.traffic.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    pub fn kpi_last_contact(
        &self,
        tenant: &str,
        customer: &str,
        intent: &str,
    ) -> Result<Option<LastContact>> {
        let k = contact_key(tenant, customer, intent);
        self.traffic.get(&k)?.map(|v| decode(&k, &v)).transpose()
    }

    /// Put one pass's outcome changes into `batch` (buckets added to what
    /// is stored).
    pub(super) fn batch_kpi(
        &self,
        tenant: &str,
        changes: &Changes,
        batch: &mut sled::Batch,
    ) -> Result<()> {
        for ((hour, group), delta) in &changes.buckets {
            let k = bucket_key(tenant, *hour, group);
            let mut outcomes: Outcomes = match self.traffic.get(&k)? {
                Some(v) => decode(&k, &v)?,
                None => Outcomes::default(),
            };
            outcomes.add(delta);
            batch.insert(k, encode(&outcomes));
        }
        for (conversation, track) in &changes.tracks {
            batch.insert(track_key(tenant, conversation), encode(track));
        }
        for ((customer, intent), last) in &changes.last_contacts {
            batch.insert(contact_key(tenant, customer, intent), encode(last));
        }
        for ((agent, intent, article), uses) in &changes.article_uses {
            let k = article_key(tenant, agent, intent, article);
            add_count(&self.traffic, k, *uses, batch)?;
        }
        for ((agent, intent), n) in &changes.agent_intents {
            add_count(
                &self.traffic,
                agent_intent_key(tenant, agent, intent),
                *n,
                batch,
            )?;
        }
        Ok(())
    }

    /// Outcome buckets of hours `from..to` (group buckets sit at their
    /// day's first hour), by (hour, group).
    pub fn kpi_range(
        &self,
        tenant: &str,
        from_hour: u64,
        to_hour: u64,
    ) -> Result<BTreeMap<(u64, String), Outcomes>> {
        super::traffic::hour_buckets(
            &self.traffic,
            family(tenant, 2).len(),
            bucket_key(tenant, from_hour, "")..bucket_key(tenant, to_hour, ""),
        )
    }

    /// Every agent's uses of articles, by (agent, intent, article).
    pub fn kpi_article_uses(
        &self,
        tenant: &str,
    ) -> Result<BTreeMap<(String, String, String), u64>> {
        let prefix = family(tenant, 5);
        let mut out = BTreeMap::new();
        for item in self.traffic.scan_prefix(&prefix) {
            let (k, v) = item?;
            let rest = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let mut parts = rest.splitn(3, '\0');
            if let (Some(agent), Some(intent), Some(article)) =
                (parts.next(), parts.next(), parts.next())
            {
                out.insert(
                    (agent.to_string(), intent.to_string(), article.to_string()),
                    decode(&k, &v)?,
                );
            }
        }
        Ok(out)
    }
}

impl Storage {
    /// Conversations given to each agent, by (agent, intent).
    pub fn kpi_agent_intents(&self, tenant: &str) -> Result<BTreeMap<(String, String), u64>> {
        let prefix = family(tenant, 6);
        let mut out = BTreeMap::new();
        for item in self.traffic.scan_prefix(&prefix) {
            let (k, v) = item?;
            let rest = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if let Some((agent, intent)) = rest.split_once('\0') {
                out.insert((agent.to_string(), intent.to_string()), decode(&k, &v)?);
            }
        }
        Ok(out)
    }
}

/// Keys a prune looks at per call: bounds how long it holds the
/// counter's lock (a report waits for it).
pub const PRUNE_PAGE: usize = 5_000;

impl Storage {
    /// One page of forgetting (`traffic::prune` goes through them): the
    /// tracks of conversations quiet for longer than
    /// [`TRACK_RETENTION_MS`] and the last contacts older than the repeat
    /// window, as of `now_ms`, from after the key `after`; returns how many
    /// of each and the key to go on after, or `None` when done. The counts
    /// stay. Call under the counter's lock: tracks are read-modify-written.
    pub fn kpi_prune_page(
        &self,
        tenant: &str,
        now_ms: u64,
        after: Option<&[u8]>,
    ) -> Result<(u64, u64, Option<Vec<u8>>)> {
        let tracks_before = now_ms.saturating_sub(TRACK_RETENTION_MS);
        let contacts_before = now_ms.saturating_sub(REPEAT_WINDOW_MS);
        let tag_at = tenant.len();
        let start = match after {
            Some(key) => std::ops::Bound::Excluded(key.to_vec()),
            None => std::ops::Bound::Included(family(tenant, 3)),
        };
        let end = std::ops::Bound::Excluded(family(tenant, 5));
        let mut batch = sled::Batch::default();
        let (mut tracks, mut contacts, mut seen) = (0, 0, 0);
        let mut last = None;
        for item in self.traffic.range::<Vec<u8>, _>((start, end)) {
            let (k, v) = item?;
            let old = if k[tag_at] == 3 {
                let track: Track = decode(&k, &v)?;
                let old = track.last_ms.max(track.start_ms) < tracks_before;
                tracks += u64::from(old);
                old
            } else {
                let contact: LastContact = decode(&k, &v)?;
                let old = contact.at_ms < contacts_before;
                contacts += u64::from(old);
                old
            };
            if old {
                batch.remove(k.clone());
            }
            last = Some(k.to_vec());
            seen += 1;
            if seen == PRUNE_PAGE {
                break;
            }
        }
        self.traffic.apply_batch(batch)?;
        Ok((
            tracks,
            contacts,
            if seen == PRUNE_PAGE { last } else { None },
        ))
    }
}
