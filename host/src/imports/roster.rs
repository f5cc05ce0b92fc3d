//! `roster`: the tenant's agents with their live load.

use crate::bindings::roster::{Agent, AgentStatus, Host};
use crate::model;
use crate::runtime::HostState;

impl Host for HostState {
    fn agents(&mut self) -> wasmtime::Result<Vec<Agent>> {
        let _span = tracing::trace_span!("roster.agents").entered();
        let Some(call) = self.context("roster.agents")? else {
            return Ok(Vec::new());
        };
        let agents = call
            .storage
            .agents(&call.tenant)
            .map_err(super::host_fault)?;
        Ok(agents
            .into_iter()
            .map(|a| Agent {
                id: a.agent.id,
                name: a.agent.name,
                skills: a.agent.skills,
                capacity: a.agent.capacity,
                load: a.load,
                status: match a.agent.status {
                    model::AgentStatus::Online => AgentStatus::Online,
                    model::AgentStatus::Away => AgentStatus::Away,
                    model::AgentStatus::Offline => AgentStatus::Offline,
                },
            })
            .collect())
    }
}
