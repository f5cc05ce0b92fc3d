//! Host side of the WIT imports, one module per interface. Each call is
//! counted against the plugin's host-call budget and reads only the tenant,
//! conversation and customer of the current call: plugins pass no ids, so
//! they cannot name another tenant's data.

mod conversation;
mod knowledge;
mod log;
mod roster;
mod tickets;

use crate::runtime::{CallContext, HostState};

impl crate::bindings::types::Host for HostState {}

impl HostState {
    /// The current call's context, after charging one host call.
    fn context(&mut self, what: &str) -> wasmtime::Result<Option<CallContext>> {
        self.charge_host_call(what)?;
        Ok(self.call.clone())
    }
}

/// Storage failures are host faults: trap the call, the slot falls back.
fn host_fault(e: crate::storage::StorageError) -> wasmtime::Error {
    wasmtime::Error::msg(format!("host storage failed: {e}"))
}
