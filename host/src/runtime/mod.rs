//! The WebAssembly runtime: one wasmtime `Engine`, components compiled once per
//! plugin version (and cached on disk by sha256 and engine), a warm-instance
//! pool per binding, and the limits every call runs under: an epoch deadline,
//! an instruction (fuel) budget, a memory cap, a host-call budget, a cap on
//! the data copied out of the plugin, an output cap and a log budget.
//!
//! A call never fails the message: every failure becomes an [`Outcome`] the
//! pipeline turns into the slot's default, and the instance that failed is
//! thrown away.

pub mod lanes;
mod limits;
mod state;
mod stderr;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store, Trap};

pub use limits::{LimitOverrides, Limits};
pub use state::{CallContext, HostState, MAX_HOST_RESOURCES};

use crate::bindings::types::*;
use crate::bindings::{self, PluginHost};
use crate::model::{PluginMeta, Slot};
use crate::storage::Storage;

/// The WASI clock interface as wasmtime-wasi 48 links it.
const WASI_MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// How often the epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(1);

pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    /// Compiled components by sha256, shared by every tenant that binds them.
    compiled: Mutex<HashMap<String, Component>>,
    /// Distinguishes artifacts of this wasmtime build and configuration.
    artifact_tag: String,
}

impl Runtime {
    pub fn new() -> anyhow::Result<Arc<Runtime>> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        let engine = Engine::new(&config).map_err(|e| anyhow!("wasmtime engine: {e}"))?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        // WASI is linked only because std's runtime imports it; the context is
        // empty (see HostState::new), so it grants nothing.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| anyhow!("linking WASI: {e}"))?;
        // A clock pollable would block the host thread inside `poll`, where the
        // epoch deadline cannot reach: plugins may not wait, so these trap.
        linker.allow_shadowing(true);
        {
            let mut clock = linker
                .instance(WASI_MONOTONIC_CLOCK)
                .map_err(|e| anyhow!("shadowing the WASI clock: {e}"))?;
            for name in ["subscribe-duration", "subscribe-instant"] {
                clock
                    .func_new(name, move |_store, _ty, _params, _results| {
                        wasmtime::bail!(
                            "plugins may not wait: {WASI_MONOTONIC_CLOCK}#{name} is not available"
                        )
                    })
                    .map_err(|e| anyhow!("shadowing {name}: {e}"))?;
            }
        }
        linker.allow_shadowing(false);
        PluginHost::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| anyhow!("linking host imports: {e}"))?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let artifact_tag = format!("wasmtime-48-{:016x}", std::hash::Hasher::finish(&hasher));

        let runtime = Arc::new(Runtime {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            artifact_tag,
        });
        let weak = runtime.engine.weak();
        std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("starting the epoch thread")?;
        Ok(runtime)
    }

    /// The compiled component of a stored plugin: from memory, else from the
    /// on-disk artifact this host wrote, else compiled now (and the artifact kept).
    pub fn component(
        &self,
        storage: &Storage,
        sha256: &str,
        bytes: &[u8],
    ) -> anyhow::Result<Component> {
        if let Some(c) = self.compiled.lock().unwrap().get(sha256) {
            return Ok(c.clone());
        }
        let artifact_key = self.artifact_key(sha256);
        if let Some(artifact) = storage.artifact(&artifact_key)? {
            // SAFETY: artifacts are only written by `remember` below, from
            // `Component::serialize` of this same engine configuration (the key
            // carries its compatibility hash), and sled checksums its pages.
            match unsafe { Component::deserialize(&self.engine, &artifact) } {
                Ok(c) => {
                    self.compiled
                        .lock()
                        .unwrap()
                        .insert(sha256.to_string(), c.clone());
                    return Ok(c);
                }
                Err(e) => tracing::warn!(sha256, "cached artifact unusable, recompiling: {e}"),
            }
        }
        let component = self.compile(sha256, bytes)?;
        self.remember(storage, sha256, &component)?;
        Ok(component)
    }

    /// Compile without keeping anything: for uploads not yet accepted. A
    /// component this runtime already holds (another database stored it) is
    /// not compiled again.
    pub fn compile(&self, sha256: &str, bytes: &[u8]) -> anyhow::Result<Component> {
        if let Some(c) = self.compiled.lock().unwrap().get(sha256) {
            return Ok(c.clone());
        }
        Component::new(&self.engine, bytes).map_err(|e| anyhow!("not a valid component: {e}"))
    }

    /// Keep an accepted component: in memory, and its compiled artifact on disk
    /// so a restart does not compile it again.
    pub fn remember(
        &self,
        storage: &Storage,
        sha256: &str,
        component: &Component,
    ) -> anyhow::Result<()> {
        let serialized = component
            .serialize()
            .map_err(|e| anyhow!("serializing component: {e}"))?;
        storage.put_artifact(&self.artifact_key(sha256), &serialized)?;
        self.compiled
            .lock()
            .unwrap()
            .insert(sha256.to_string(), component.clone());
        Ok(())
    }

    fn artifact_key(&self, sha256: &str) -> String {
        format!("{sha256}:{}", self.artifact_tag)
    }

    /// Why a component does not fit one slot's world (the missing or
    /// mismatched import or export), or `Ok` when it does.
    pub fn check_world(&self, component: &Component, slot: Slot) -> anyhow::Result<()> {
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            anyhow!("the component imports something the host does not offer: {e:#}")
        })?;
        SlotPre::new(slot, pre).map(|_| ()).map_err(|e| {
            anyhow!("the component does not fit the {slot} world of switchyard:plugin@0.1.1 (plugins built against 0.1.0 fit too): {e:#}")
        })
    }

    /// Which slot world a component implements; the error names what does not fit.
    pub fn detect_slot(&self, component: &Component) -> anyhow::Result<Slot> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| anyhow!("the component imports something the host does not offer: {e}"))?;
        let mut misfits = Vec::new();
        for slot in Slot::ALL {
            match SlotPre::new(slot, pre.clone()) {
                Ok(_) => return Ok(slot),
                Err(e) => misfits.push(format!("{slot}: {e:#}")),
            }
        }
        Err(anyhow!(
            "the component does not implement any slot world of switchyard:plugin@0.1.1 ({})",
            misfits.join("; ")
        ))
    }

    /// Make a slot version ready to run: check the component fits `meta.slot`.
    pub fn bind(
        self: &Arc<Self>,
        component: &Component,
        meta: PluginMeta,
        version_id: u64,
        config: String,
        limits: Limits,
    ) -> anyhow::Result<BoundPlugin> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| anyhow!("the component imports something the host does not offer: {e}"))?;
        let pre =
            SlotPre::new(meta.slot, pre).map_err(|e| anyhow!("not a {} plugin: {e}", meta.slot))?;
        Ok(BoundPlugin {
            runtime: self.clone(),
            label: Arc::from(format!("{}@{}", meta.name, meta.version)),
            meta,
            version_id,
            config_sha256: sha256_hex(config.as_bytes()),
            config: Arc::from(config),
            pre,
            limits,
            pool: Mutex::new(Vec::new()),
        })
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A component pre-linked for one slot world.
#[derive(Clone)]
enum SlotPre {
    Inspect(bindings::inspect::InspectPre<HostState>),
    Classify(bindings::classify::ClassifyPre<HostState>),
    Escalate(bindings::escalate::EscalatePre<HostState>),
    Route(bindings::route::RoutePre<HostState>),
    Assist(bindings::assist::AssistPre<HostState>),
    Ticket(bindings::ticket::TicketPre<HostState>),
    Pack(bindings::pack::PackPre<HostState>),
}

enum SlotInstance {
    Inspect(bindings::inspect::Inspect),
    Classify(bindings::classify::Classify),
    Escalate(bindings::escalate::Escalate),
    Route(bindings::route::Route),
    Assist(bindings::assist::Assist),
    Ticket(bindings::ticket::Ticket),
    Pack(bindings::pack::Pack),
}

/// What a call hands the plugin: a turn for a slot function, a query for a pack.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    Turn(&'a Turn),
    Query(&'a str),
}

impl SlotPre {
    fn new(
        slot: Slot,
        pre: wasmtime::component::InstancePre<HostState>,
    ) -> wasmtime::Result<SlotPre> {
        Ok(match slot {
            Slot::Inspect => SlotPre::Inspect(bindings::inspect::InspectPre::new(pre)?),
            Slot::Classify => SlotPre::Classify(bindings::classify::ClassifyPre::new(pre)?),
            Slot::Escalate => SlotPre::Escalate(bindings::escalate::EscalatePre::new(pre)?),
            Slot::Route => SlotPre::Route(bindings::route::RoutePre::new(pre)?),
            Slot::Assist => SlotPre::Assist(bindings::assist::AssistPre::new(pre)?),
            Slot::Ticket => SlotPre::Ticket(bindings::ticket::TicketPre::new(pre)?),
            Slot::Pack => SlotPre::Pack(bindings::pack::PackPre::new(pre)?),
        })
    }

    fn instantiate(&self, store: &mut Store<HostState>) -> wasmtime::Result<SlotInstance> {
        Ok(match self {
            SlotPre::Inspect(p) => SlotInstance::Inspect(p.instantiate(store)?),
            SlotPre::Classify(p) => SlotInstance::Classify(p.instantiate(store)?),
            SlotPre::Escalate(p) => SlotInstance::Escalate(p.instantiate(store)?),
            SlotPre::Route(p) => SlotInstance::Route(p.instantiate(store)?),
            SlotPre::Assist(p) => SlotInstance::Assist(p.instantiate(store)?),
            SlotPre::Ticket(p) => SlotInstance::Ticket(p.instantiate(store)?),
            SlotPre::Pack(p) => SlotInstance::Pack(p.instantiate(store)?),
        })
    }
}

impl SlotInstance {
    fn init(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            SlotInstance::Inspect(i) => i.call_init(store, config),
            SlotInstance::Classify(i) => i.call_init(store, config),
            SlotInstance::Escalate(i) => i.call_init(store, config),
            SlotInstance::Route(i) => i.call_init(store, config),
            SlotInstance::Assist(i) => i.call_init(store, config),
            SlotInstance::Ticket(i) => i.call_init(store, config),
            SlotInstance::Pack(i) => i.call_init(store, config),
        }
    }

    fn call(&self, store: &mut Store<HostState>, input: Input) -> wasmtime::Result<SlotOutput> {
        let mismatch = || wasmtime::Error::msg("host bug: a pack got a turn or a slot a query");
        Ok(match (self, input) {
            (SlotInstance::Inspect(i), Input::Turn(t)) => {
                SlotOutput::Inspect(i.call_inspect(store, t)?)
            }
            (SlotInstance::Classify(i), Input::Turn(t)) => {
                SlotOutput::Classify(i.call_classify(store, t)?)
            }
            (SlotInstance::Escalate(i), Input::Turn(t)) => {
                SlotOutput::Escalate(i.call_escalate(store, t)?)
            }
            (SlotInstance::Route(i), Input::Turn(t)) => SlotOutput::Route(i.call_route(store, t)?),
            (SlotInstance::Assist(i), Input::Turn(t)) => {
                SlotOutput::Assist(i.call_assist(store, t)?)
            }
            (SlotInstance::Ticket(i), Input::Turn(t)) => {
                SlotOutput::Ticket(i.call_ticket(store, t)?)
            }
            (SlotInstance::Pack(i), Input::Query(q)) => SlotOutput::Pack(i.call_query(store, q)?),
            _ => return Err(mismatch()),
        })
    }
}

/// What a slot function returned.
#[derive(Debug)]
pub enum SlotOutput {
    Inspect(Inspection),
    Classify(Classification),
    Escalate(Escalation),
    Route(Option<Route>),
    Assist(Assistance),
    Ticket(Option<TicketDraft>),
    /// A pack's answer, or the error it gave the asking plugin.
    Pack(Result<String, String>),
}

/// How a plugin call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Trap,
    Timeout,
    OutOfFuel,
    OutOfMemory,
    InvalidOutput,
    InitFailed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Trap => "trap",
            Outcome::Timeout => "timeout",
            Outcome::OutOfFuel => "out-of-fuel",
            Outcome::OutOfMemory => "out-of-memory",
            Outcome::InvalidOutput => "invalid-output",
            Outcome::InitFailed => "init-failed",
        }
    }
}

pub struct CallResult {
    pub outcome: Outcome,
    pub output: Option<SlotOutput>,
    pub micros: u64,
    /// Instructions (fuel units) the call used; 0 when no instance ran.
    pub fuel: u64,
    /// What went wrong, for failures.
    pub detail: Option<String>,
}

struct Warm {
    store: Store<HostState>,
    instance: SlotInstance,
}

/// A plugin version bound to a tenant's slot with its configuration, ready to
/// run. Keeps warm, initialised instances for reuse; they hold only this
/// binding's state, so nothing crosses tenants.
pub struct BoundPlugin {
    runtime: Arc<Runtime>,
    pub meta: PluginMeta,
    /// The slot version this is (see `model::SlotVersion`).
    pub version_id: u64,
    pub config_sha256: String,
    pub config: Arc<str>,
    label: Arc<str>,
    pre: SlotPre,
    limits: Limits,
    pool: Mutex<Vec<Warm>>,
}

impl BoundPlugin {
    fn ticks(budget: Duration) -> u64 {
        (budget.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64
    }

    /// A fresh instance with `init(config)` done, or why not.
    fn instantiate(&self) -> Result<Warm, (Outcome, String)> {
        let state = HostState::new(self.limits, self.config.clone(), self.label.clone());
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| s.limiter());
        store.set_epoch_deadline(Self::ticks(self.limits.init_deadline));
        // The call's deadline is the state's (`HostState::deadline`), which
        // an import may push back for host work it does not charge (a pack
        // made ready for the call); the epoch only says when to look again.
        store.epoch_deadline_callback(|store| match store.data().time_left() {
            Some(left) => Ok(wasmtime::UpdateDeadline::Continue(Self::ticks(left))),
            None => Err(wasmtime::Error::new(Trap::Interrupt)),
        });
        store.set_hostcall_fuel(self.limits.transfer_bytes());
        // Fuel is only enabled on stores of this engine, so this cannot fail.
        let _ = store.set_fuel(self.limits.init_fuel);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| (classify_error(&store, &e), format!("instantiate: {e}")))?;
        match instance.init(&mut store, &self.config) {
            Ok(Ok(())) => Ok(Warm { store, instance }),
            Ok(Err(message)) => Err((Outcome::InitFailed, message)),
            Err(e) => Err((
                classify_error(&store, &e),
                with_last_words(format!("init: {}", first_line(&e)), &store),
            )),
        }
    }

    /// The limits this binding's calls run under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Check that `init` accepts the configuration (used when binding).
    pub fn check_init(&self) -> Result<(), String> {
        match self.instantiate() {
            Ok(warm) => {
                self.release(warm);
                Ok(())
            }
            Err((outcome, detail)) => Err(format!("{}: {detail}", outcome.as_str())),
        }
    }

    fn release(&self, warm: Warm) {
        let mut pool = self.pool.lock().unwrap();
        if pool.len() < self.limits.pool_size {
            pool.push(warm);
        }
    }

    /// Run the slot function on `turn`. Never panics and never returns an
    /// error: failures are in the outcome.
    pub fn call(&self, context: CallContext, turn: &Turn) -> CallResult {
        self.run(Some(context), Input::Turn(turn))
    }

    /// Ask a knowledge pack. The pack runs with no conversation: its
    /// conversation imports answer empty and it cannot ask other packs.
    /// Also returns how long making a fresh instance took (zero when a warm
    /// one was free): the asking plugin is not charged for it.
    pub fn query(&self, query: &str) -> (CallResult, Duration) {
        self.run_timed(None, Input::Query(query))
    }

    /// Make one instance ready if none is, so that the first call after a
    /// (re)build does not pay for it.
    pub fn prewarm(&self) {
        if self.limits.pool_size > 0
            && self.pool.lock().unwrap().is_empty()
            && let Ok(warm) = self.instantiate()
        {
            self.release(warm);
        }
    }

    fn run(&self, context: Option<CallContext>, input: Input) -> CallResult {
        self.run_timed(context, input).0
    }

    fn run_timed(&self, context: Option<CallContext>, input: Input) -> (CallResult, Duration) {
        let started = Instant::now();
        let taken = self.pool.lock().unwrap().pop();
        let (warm, cold) = match taken {
            Some(w) => (Ok(w), Duration::ZERO),
            None => (self.instantiate(), started.elapsed()),
        };
        let result = match warm {
            Ok(warm) => self.call_warm(warm, context, input, started),
            Err((outcome, detail)) => CallResult {
                outcome,
                output: None,
                micros: started.elapsed().as_micros() as u64,
                fuel: 0,
                detail: Some(detail),
            },
        };
        (result, cold)
    }

    fn call_warm(
        &self,
        mut warm: Warm,
        context: Option<CallContext>,
        input: Input,
        started: Instant,
    ) -> CallResult {
        let micros = |started: Instant| started.elapsed().as_micros() as u64;
        warm.store
            .data_mut()
            .begin_call(context, self.limits.deadline);
        warm.store
            .set_epoch_deadline(Self::ticks(self.limits.deadline));
        let _ = warm.store.set_fuel(self.limits.fuel);
        let result = warm.instance.call(&mut warm.store, input);
        let fuel = self.limits.fuel - warm.store.get_fuel().unwrap_or(0);
        warm.store.data_mut().end_call();
        match result {
            Ok(output) => match check_output(&output, input, &self.limits) {
                Ok(()) => {
                    self.release(warm);
                    CallResult {
                        outcome: Outcome::Ok,
                        output: Some(output),
                        micros: micros(started),
                        fuel,
                        detail: None,
                    }
                }
                // The instance answered garbage; do not trust its state again.
                Err(why) => CallResult {
                    outcome: Outcome::InvalidOutput,
                    output: None,
                    micros: micros(started),
                    fuel,
                    detail: Some(why),
                },
            },
            Err(e) => CallResult {
                outcome: classify_error(&warm.store, &e),
                output: None,
                micros: micros(started),
                fuel,
                detail: Some(with_last_words(first_line(&e), &warm.store)),
            },
        }
    }
}

/// `detail` followed by what the plugin last wrote to standard error (a
/// panic's location and message), when it wrote anything.
fn with_last_words(detail: String, store: &Store<HostState>) -> String {
    match store.data().stderr.last_words() {
        Some(words) => format!("{detail}: {words}"),
        None => detail,
    }
}

/// What went wrong, in one line: the trap's name, or the root cause (the
/// outer layers of a wasm error only say "error while executing at wasm backtrace").
fn first_line(e: &wasmtime::Error) -> String {
    let text = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => e.root_cause().to_string(),
    };
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

fn classify_error(store: &Store<HostState>, e: &wasmtime::Error) -> Outcome {
    if store.data().memory_refused() {
        Outcome::OutOfMemory
    } else if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt)
        || e.downcast_ref::<state::DeadlinePassed>().is_some()
    {
        Outcome::Timeout
    } else if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        Outcome::OutOfFuel
    } else if is_transfer_cap(e) {
        Outcome::InvalidOutput
    } else {
        Outcome::Trap
    }
}

/// wasmtime refused to copy more than [`Limits::transfer_bytes`] out of the
/// plugin. Its error type is private; the message is what identifies it.
fn is_transfer_cap(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|cause| cause.to_string().contains("allocated for hostcalls"))
}

fn unit(x: f32) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

fn span_ok(start: u32, end: u32, text: &str) -> bool {
    start <= end && (end as usize) <= text.len()
}

/// Reject outputs that would corrupt a decision: confidences and scores
/// outside [0, 1] or not numbers, spans outside the message, missing queue or
/// agent names, priorities above 9, or more data than the output cap.
fn check_output(output: &SlotOutput, input: Input, limits: &Limits) -> Result<(), String> {
    let text = match input {
        Input::Turn(turn) => turn.message.text.as_str(),
        Input::Query(_) => "",
    };
    // Every list item costs at least this much, so a million empty items
    // cannot slip under the cap.
    const ITEM: usize = 16;
    let opt = |s: &Option<String>| s.as_ref().map_or(0, |s| s.len());
    let mut size = 0usize;
    match output {
        SlotOutput::Inspect(i) => {
            for f in &i.findings {
                size += ITEM + f.kind.len() + f.code.len() + f.detail.len();
                if !span_ok(f.start, f.end, text) {
                    return Err(format!(
                        "finding {:.40} spans {}..{} outside the message",
                        f.code, f.start, f.end
                    ));
                }
            }
            size += opt(&i.masked_text);
        }
        SlotOutput::Classify(c) => {
            for intent in std::iter::once(&c.intent).chain(&c.alternatives) {
                size += ITEM + intent.name.len();
                if !unit(intent.confidence) {
                    return Err(format!(
                        "confidence {} of intent {:.40} is not in [0, 1]",
                        intent.confidence, intent.name
                    ));
                }
            }
            if c.intent.name.is_empty() {
                return Err("empty intent name".into());
            }
            for e in &c.entities {
                size += ITEM + e.kind.len() + e.value.len();
                if !span_ok(e.start, e.end, text) {
                    return Err(format!(
                        "entity {:.40} spans {}..{} outside the message",
                        e.kind, e.start, e.end
                    ));
                }
            }
        }
        SlotOutput::Escalate(e) => {
            for r in &e.reasons {
                size += ITEM + r.code.len() + r.detail.len();
            }
        }
        SlotOutput::Route(Some(r)) => {
            size += r.reason.len() + opt(&r.queue) + opt(&r.agent);
            if r.priority > 9 {
                return Err(format!("priority {} is above 9", r.priority));
            }
            match r.target {
                RouteTarget::Queue if r.queue.is_none() => {
                    return Err("route to a queue without a queue name".into());
                }
                RouteTarget::Agent if r.queue.is_none() || r.agent.is_none() => {
                    return Err("route to an agent without an agent and queue".into());
                }
                _ => {}
            }
        }
        SlotOutput::Route(None) | SlotOutput::Ticket(None) => {}
        SlotOutput::Pack(Ok(answer) | Err(answer)) => size += answer.len(),
        SlotOutput::Assist(a) => {
            size += opt(&a.reply);
            for s in &a.suggestions {
                size += ITEM + s.title.len() + s.text.len() + opt(&s.article_id);
                if !unit(s.score) {
                    return Err(format!("suggestion score {} is not in [0, 1]", s.score));
                }
            }
        }
        SlotOutput::Ticket(Some(t)) => {
            size +=
                t.title.len() + t.summary.len() + t.department.len() + opt(&t.existing_ticket_id);
            size += t
                .facts
                .iter()
                .map(|f| ITEM + f.key.len() + f.value.len())
                .sum::<usize>();
            if t.priority > 9 {
                return Err(format!("priority {} is above 9", t.priority));
            }
            if t.department.is_empty() {
                return Err("ticket without a department".into());
            }
        }
    }
    if size > limits.output_bytes {
        return Err(format!(
            "output of {size} bytes exceeds the cap of {} bytes",
            limits.output_bytes
        ));
    }
    Ok(())
}
