//! `log`: bounded structured logging from plugins.

use crate::bindings::log::{Host, Level};
use crate::runtime::HostState;

/// Longest single line kept; the rest is cut.
const MAX_LINE: usize = 512;

impl Host for HostState {
    fn write(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        self.charge_host_call("log.write")?;
        if self.log_bytes + message.len().min(MAX_LINE) > self.limits.log_bytes {
            self.logs_dropped += 1;
            return Ok(());
        }
        let mut end = message.len().min(MAX_LINE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.log_bytes += end;
        let line = crate::pii::mask(&message[..end]);
        let plugin = &*self.plugin_label;
        let (tenant, message_id) = match &self.call {
            Some(c) => (&*c.tenant, c.message_id.as_str()),
            None => ("", "init"),
        };
        match level {
            Level::Debug => tracing::debug!(target: "plugin", plugin, tenant, message_id, "{line}"),
            Level::Info => tracing::info!(target: "plugin", plugin, tenant, message_id, "{line}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, tenant, message_id, "{line}"),
            Level::Error => tracing::error!(target: "plugin", plugin, tenant, message_id, "{line}"),
        }
        Ok(())
    }
}
