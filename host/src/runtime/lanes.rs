//! Which version of a lane answers, shared by the pipeline (slot lanes) and
//! the knowledge import (pack lanes): roles, the sticky canary bucket, a
//! tenant's packs by name, and the record of one pack call. Here, in the
//! runtime, so that the runtime's call context does not reach back into the
//! pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BoundPlugin, CallResult};

/// A tenant's installed knowledge packs by name (the lane, which is the
/// pack plugin's name unless the operator chose another).
#[derive(Default)]
pub struct Packs {
    by_name: BTreeMap<String, PackLane>,
}

struct PackLane {
    active: Option<Arc<BoundPlugin>>,
    canary: Option<(Arc<BoundPlugin>, u8)>,
}

impl Packs {
    /// The `pack` slot's lanes, named.
    pub fn new(
        lanes: impl IntoIterator<
            Item = (
                String,
                Option<Arc<BoundPlugin>>,
                Option<(Arc<BoundPlugin>, u8)>,
            ),
        >,
    ) -> Packs {
        Packs {
            by_name: lanes
                .into_iter()
                .map(|(name, active, canary)| (name, PackLane { active, canary }))
                .collect(),
        }
    }

    /// The version of pack `name` that answers in this conversation, and its
    /// role: a canary for its share of conversations (sticky, as in the
    /// pipeline), else the active one. A shadow pack version is never asked.
    pub fn pick(&self, name: &str, conversation_id: &str) -> Option<(&Arc<BoundPlugin>, Role)> {
        let lane = self.by_name.get(name)?;
        if let Some((canary, percent)) = &lane.canary
            && canary_bucket(conversation_id, canary.version_id) < *percent
        {
            return Some((canary, Role::Canary));
        }
        lane.active.as_ref().map(|active| (active, Role::Active))
    }
}

/// One question a plugin put to a knowledge pack while a message was
/// decided: it goes into the decision's trace (after the plugin that asked),
/// the metrics and the pack version's circuit breaker like a slot call.
pub struct PackCall {
    pub pack: Arc<BoundPlugin>,
    pub role: Role,
    /// The call's outcome, time and fuel; its output went to the asking plugin.
    pub result: CallResult,
}

/// Which version of a lane ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Active,
    Canary,
    Shadow,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Canary => "canary",
            Role::Shadow => "shadow",
        }
    }
}

/// Stable bucket 0..100 of a conversation for a canary version, so a
/// conversation stays on one side of a canary for its whole life (FNV-1a:
/// the same on every host and Rust version).
pub fn canary_bucket(conversation_id: &str, version_id: u64) -> u8 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in conversation_id.bytes().chain(version_id.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % 100) as u8
}
