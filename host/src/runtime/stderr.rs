//! A plugin's standard error, kept (the first [`STDERR_KEPT`] bytes of each
//! call) so a trap's trace detail can say why: a Rust plugin that panics
//! writes "panicked at src/lib.rs:83:22:\nthe message" there, and the trap
//! itself only says "wasm `unreachable` instruction executed".
//!
//! Not wasmtime-wasi's `MemoryOutputPipe`: once full, its `write` returns
//! `StreamError::Trap` (wasmtime-wasi 48, `p2/pipe.rs`), so a chatty plugin
//! would trap on its own logging. This one keeps what fits and drops the
//! rest; a write never fails and never blocks.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of standard error kept per call.
pub const STDERR_KEPT: usize = 4096;
/// Most characters of it a trace detail quotes.
const QUOTED_CHARS: usize = 300;
/// What `check_write` offers: any amount is taken (and what does not fit dropped).
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Clone, Default)]
pub struct GuestStderr(Arc<Mutex<Vec<u8>>>);

impl GuestStderr {
    fn keep(&self, bytes: &[u8]) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Forget what earlier calls wrote.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Why the plugin stopped, if it said so on standard error: a Rust
    /// panic's location and message on one line, else the last line it
    /// wrote. At most [`QUOTED_CHARS`] characters; the caller masks it.
    pub fn last_words(&self) -> Option<String> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&kept);
        let said = match text.rfind("panicked at ") {
            Some(at) => {
                let mut lines = text[at..].lines();
                let location = lines.next().unwrap_or_default().trim_end_matches(':');
                let message: Vec<&str> = lines
                    .take_while(|l| !l.starts_with("note: "))
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                match message.is_empty() {
                    true => location.to_string(),
                    false => format!("{location}: {}", message.join(" ")),
                }
            }
            None => text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())?
                .trim()
                .to_string(),
        };
        let mut quoted: String = said
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(QUOTED_CHARS)
            .collect();
        if said.chars().count() > QUOTED_CHARS {
            quoted.push('…');
        }
        Some(quoted)
    }
}

impl IsTerminal for GuestStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestStderr {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.keep(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for GuestStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.keep(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_one_line_and_a_full_buffer_drops_instead_of_failing() {
        let mut stderr = GuestStderr::default();
        stderr
            .write(Bytes::from_static(
                b"\nthread '<unnamed>' panicked at src/lib.rs:83:22:\nfixture panics on purpose\nnote: run with `RUST_BACKTRACE=1`\n",
            ))
            .unwrap();
        assert_eq!(
            stderr.last_words().as_deref(),
            Some("panicked at src/lib.rs:83:22: fixture panics on purpose")
        );
        stderr.clear();
        assert_eq!(stderr.last_words(), None);
        for _ in 0..100 {
            stderr.write(Bytes::from(vec![b'x'; 1000])).unwrap();
            assert_eq!(stderr.check_write().unwrap(), WRITE_PERMIT);
        }
        let words = stderr.last_words().unwrap();
        assert_eq!(words.chars().count(), QUOTED_CHARS + 1, "{words}");
    }
}
