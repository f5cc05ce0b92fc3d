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
        let masked = crate::pii::mask(&message[..end]);
        let line = escape_controls(&masked);
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

/// `text` with control characters escaped (`\n`, `\u{1b}`): a plugin's line
/// with a newline in it otherwise printed as two host log lines, the second
/// one written by the plugin (the text formatter does not escape messages),
/// and an escape sequence could recolour or hide what follows on a terminal.
pub(crate) fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_other_text_is_kept() {
        assert_eq!(escape_controls("plain 退款 text"), "plain 退款 text");
        assert_eq!(
            escape_controls("one\nERROR forged\r\t\u{1b}[31mred\u{7f}"),
            "one\\nERROR forged\\r\\t\\u{1b}[31mred\\u{7f}"
        );
    }
}
