//! What a plugin's wasmtime `Store` carries: an empty WASI context (no files,
//! network, environment; a frozen clock; seeded randomness), the memory cap,
//! the per-call budgets, and the context of the message being decided.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::lanes::{PackCall, Packs};
use crate::bindings::types::Customer;
use crate::knowledge::KnowledgeIndex;
use crate::runtime::Limits;
use crate::storage::{PastRecord, Storage, TicketHead};

/// The message a plugin is being called for; host imports read only through it.
#[derive(Clone)]
pub struct CallContext {
    pub tenant: Arc<str>,
    pub storage: Storage,
    pub conversation_id: String,
    pub message_id: String,
    pub customer: Customer,
    /// Agent the conversation is assigned to before this message.
    pub assigned_agent: Option<String>,
    /// What the conversation established before this message.
    pub state: Arc<crate::model::ConversationState>,
    pub knowledge: Arc<KnowledgeIndex>,
    /// The tenant's installed knowledge packs, for `knowledge.query-pack`.
    pub packs: Arc<Packs>,
    /// The packs asked while deciding this message, in order, for the
    /// trace, the metrics and the packs' circuit breakers.
    pub pack_calls: Arc<Mutex<Vec<PackCall>>>,
    /// Store reads already made for this message, shared by its plugins.
    pub reads: Arc<MessageReads>,
}

/// What the plugins of one message read from the store, read once: the
/// escalator and the ticketer both ask for the customer's open tickets, the
/// escalator and a pack's inspector for the conversation's history, on every
/// message. The message's conversation is locked while it is decided, so its
/// history cannot change between them.
#[derive(Default)]
pub struct MessageReads {
    /// The newest records fetched so far (oldest first) and how many were
    /// asked for: a later call for as many or fewer is served from them.
    pub history: Mutex<Option<(usize, Arc<[PastRecord]>)>>,
    pub open_tickets: Mutex<Option<Arc<[TicketHead]>>>,
}

pub struct HostState {
    wasi: WasiCtx,
    /// The plugin's standard error in this call (a panic message).
    pub(crate) stderr: super::stderr::GuestStderr,
    table: ResourceTable,
    memory: MemoryCap,
    pub(crate) limits: Limits,
    /// Configuration the plugin was bound with, for `knowledge.plugin-config`.
    pub(crate) config: Arc<str>,
    /// "name@version", for log lines.
    pub(crate) plugin_label: Arc<str>,
    /// Set for the duration of one slot call; `None` during `init`.
    pub(crate) call: Option<CallContext>,
    pub(crate) log_bytes: usize,
    pub(crate) logs_dropped: u32,
    pub(crate) host_calls: u32,
    /// When the current call's deadline passes. The epoch interrupts wasm
    /// only; a host import checks this on entry, so a plugin that spends its
    /// time inside imports (a search in a loop ran 9.1 s) stops too.
    deadline: Option<Instant>,
    /// How far imports pushed `deadline` back in this call ([`HostState::excuse`]).
    excused: Duration,
}

/// A host import was called after the plugin's deadline passed; the call
/// counts as a timeout, as if the epoch had interrupted it.
#[derive(Debug)]
pub struct DeadlinePassed {
    pub import: String,
}

impl std::fmt::Display for DeadlinePassed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "deadline passed while calling host imports (at {})",
            self.import
        )
    }
}

impl std::error::Error for DeadlinePassed {}

/// Caps what one instance may allocate across all its memories and tables,
/// and remembers a refusal, so a trap that follows is reported as
/// out-of-memory rather than a plain trap.
struct MemoryCap {
    max_bytes: usize,
    /// Bytes of linear memory across every memory of the instance.
    memory_bytes: usize,
    /// Elements across every table of the instance.
    table_elements: usize,
    refused: bool,
}

/// Most table elements one instance may hold, across its tables.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Most host resources (WASI streams, pollables and the like) one instance
/// may hold at once. They live in the host's memory, outside the plugin's
/// memory cap: wasmtime's default (1,000,000) let one call create about a
/// million of them within its deadline. A plugin needs a handful.
pub const MAX_HOST_RESOURCES: usize = 1_024;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_bytes - current.min(self.memory_bytes) + desired;
        if total > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        self.memory_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.table_elements - current.min(self.table_elements) + desired;
        if total > MAX_TABLE_ELEMENTS {
            self.refused = true;
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }

    // A component is a handful of core instances, memories and tables; these
    // bound what a hand-made one could declare.
    fn instances(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }

    fn tables(&self) -> usize {
        64
    }
}

/// A clock stuck at the Unix epoch: plugins get no real time (decisions must
/// not depend on it; the message carries its receive time).
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl HostState {
    pub fn new(limits: Limits, config: Arc<str>, plugin_label: Arc<str>) -> HostState {
        use rand::SeedableRng;
        // Nothing is inherited or preopened: no stdin or stdout, files, env,
        // args or sockets; standard error is kept for the trace (a panic).
        let stderr = super::stderr::GuestStderr::default();
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(rand::rngs::StdRng::seed_from_u64(0x5717_c4a4d))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(0x5717_c4a4e))
            .insecure_random_seed(0x5717)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        HostState {
            wasi,
            stderr,
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_HOST_RESOURCES);
                table
            },
            memory: MemoryCap {
                max_bytes: limits.memory_bytes,
                memory_bytes: 0,
                table_elements: 0,
                refused: false,
            },
            limits,
            config,
            plugin_label,
            call: None,
            log_bytes: 0,
            logs_dropped: 0,
            host_calls: 0,
            deadline: None,
            excused: Duration::ZERO,
        }
    }

    pub(crate) fn limiter(&mut self) -> &mut dyn ResourceLimiter {
        &mut self.memory
    }

    pub(crate) fn memory_refused(&self) -> bool {
        self.memory.refused
    }

    pub(crate) fn begin_call(&mut self, call: Option<CallContext>, deadline: Duration) {
        self.call = call;
        self.stderr.clear();
        self.deadline = Some(Instant::now() + deadline);
        self.excused = Duration::ZERO;
        // A refusal a guest survived in an earlier call says nothing about this one.
        self.memory.refused = false;
        self.log_bytes = 0;
        self.logs_dropped = 0;
        self.host_calls = 0;
    }

    pub(crate) fn end_call(&mut self) {
        self.call = None;
        self.deadline = None;
    }

    /// Time left before the current call's deadline; `None` once it passed
    /// or outside a call (`init` runs under the epoch deadline alone).
    pub(crate) fn time_left(&self) -> Option<Duration> {
        self.deadline
            .and_then(|d| d.checked_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }

    /// Push the current call's deadline back by `spent`: host work an import
    /// did that the plugin must not pay for (a knowledge pack's instance
    /// made for this call: a cold start would otherwise time the asking
    /// plugin out and trip its breaker). At most one `init_deadline` per
    /// call in all, so a plugin cannot run long by asking packs.
    pub(crate) fn excuse(&mut self, spent: Duration) {
        let spent = spent.min(self.limits.init_deadline.saturating_sub(self.excused));
        if let Some(deadline) = &mut self.deadline {
            *deadline += spent;
            self.excused += spent;
        }
    }

    /// Count one host call; trap a plugin that calls the host in a tight loop.
    pub(crate) fn charge_host_call(&mut self, what: &str) -> wasmtime::Result<()> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(wasmtime::Error::new(DeadlinePassed {
                import: what.to_string(),
            }));
        }
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            wasmtime::bail!(
                "plugin exceeded {} host calls in one call (last: {what})",
                self.limits.host_calls
            );
        }
        Ok(())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
