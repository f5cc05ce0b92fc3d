//! The queue monitor: what waits in each queue, the longest wait, and each
//! agent's load against capacity and status. The console's monitor
//! (`GET /v1/queues`) and the Prometheus gauges read the same.

use serde::Serialize;

use crate::app::{Result, Switchyard};
use crate::model::{AgentStatus, AgentWithLoad, QueueWaiting, now_ms};

/// Waiting conversations read per tenant at most: beyond that the counts
/// are a floor (`truncated`).
pub const MONITOR_SCAN: usize = 20_000;

#[derive(Serialize)]
pub struct QueueRow {
    pub name: String,
    #[serde(flatten)]
    pub waiting: QueueWaiting,
    /// Agents online with a skill of the queue's name, and their free places.
    pub agents_online: u32,
    pub free_places: u32,
}

#[derive(Serialize)]
pub struct QueueMonitor {
    pub queues: Vec<QueueRow>,
    pub agents: Vec<AgentWithLoad>,
    /// More waited than were counted.
    pub truncated: bool,
    pub at_ms: u64,
}

impl Switchyard {
    /// The tenant's declared queues and any other that holds a waiting
    /// conversation, with the agents serving them.
    pub fn queue_monitor(&self, tenant: &str) -> Result<QueueMonitor> {
        let settings = self.settings(tenant)?;
        let (mut waiting, truncated) = self.storage.waiting_by_queue(tenant, MONITOR_SCAN)?;
        let agents = self.storage.agents(tenant)?;
        let mut names: Vec<String> = settings.queues.clone();
        for name in waiting.keys() {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        let queues = names
            .into_iter()
            .map(|name| {
                let serving = agents.iter().filter(|a| {
                    a.agent.status == AgentStatus::Online && a.agent.skills.contains(&name)
                });
                QueueRow {
                    agents_online: serving.clone().count() as u32,
                    free_places: serving
                        .map(|a| a.agent.capacity.saturating_sub(a.load))
                        .sum(),
                    waiting: waiting.remove(&name).unwrap_or_default(),
                    name,
                }
            })
            .collect();
        Ok(QueueMonitor {
            queues,
            agents,
            truncated,
            at_ms: now_ms(),
        })
    }
}
