//! Counters and latency histograms, rendered as Prometheus text at `/metrics`.
//! Labels carry tenant, slot, plugin and outcome names only, never message text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::model::Slot;
use crate::pipeline::CallStats;

/// Distinct escalation reasons counted per tenant; the rest count as "other".
const MAX_REASONS_PER_TENANT: usize = 64;

/// Upper bounds of the plugin-call latency buckets, in microseconds.
const BUCKETS_MICROS: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS_MICROS.len()],
    total: u64,
    sum_micros: u64,
}

impl Histogram {
    fn observe(&mut self, micros: u64) {
        for (i, bound) in BUCKETS_MICROS.iter().enumerate() {
            if micros <= *bound {
                self.counts[i] += 1;
            }
        }
        self.total += 1;
        self.sum_micros += micros;
    }
}

#[derive(Default)]
struct Inner {
    messages: BTreeMap<String, u64>,
    escalations: BTreeMap<(String, String), u64>,
    plugin_calls: BTreeMap<(String, Slot, String, String), u64>,
    plugin_latency: BTreeMap<(Slot, String), Histogram>,
    pipeline_latency: BTreeMap<String, Histogram>,
    lifecycle: BTreeMap<(String, Slot, String), u64>,
    deliveries: BTreeMap<(String, &'static str), u64>,
}

/// Where the time of one `POST .../messages` goes, from the handler's view.
/// Summed without a lock (atomics), so that measuring costs nothing
/// measurable; `benches/load.rs` prints the mean of each per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Key lookup (a cache hit, or a storage read on a blocking thread).
    Auth,
    /// JSON body to the request type.
    Parse,
    /// Waiting for the tenant's slot and a blocking thread.
    Queue,
    /// The conversation's lock (one message of a conversation at a time),
    /// then reading the conversation and the tenant's settings.
    Load,
    /// The plugins, host imports included.
    Pipeline,
    /// Turning a ticket draft into a ticket (reads the customer's ticket).
    Ticket,
    /// Queued for the flusher, the transaction it applies for every queued
    /// message at once, and the flush that makes them durable (group commit).
    Commit,
    /// Metrics, shadow statistics and the breaker after the commit.
    Bookkeeping,
    /// The answer to JSON.
    Serialise,
}

impl Stage {
    pub const ALL: [Stage; 9] = [
        Stage::Auth,
        Stage::Parse,
        Stage::Queue,
        Stage::Load,
        Stage::Pipeline,
        Stage::Ticket,
        Stage::Commit,
        Stage::Bookkeeping,
        Stage::Serialise,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Auth => "auth",
            Stage::Parse => "parse",
            Stage::Queue => "queue",
            Stage::Load => "load",
            Stage::Pipeline => "pipeline",
            Stage::Ticket => "ticket",
            Stage::Commit => "commit",
            Stage::Bookkeeping => "bookkeeping",
            Stage::Serialise => "serialise",
        }
    }
}

#[derive(Default)]
struct StageTimes {
    nanos: [AtomicU64; Stage::ALL.len()],
    count: [AtomicU64; Stage::ALL.len()],
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    stages: StageTimes,
}

impl Metrics {
    /// Add the time since `started` to a stage of message handling.
    pub fn record_stage(&self, stage: Stage, started: Instant) {
        let nanos = started.elapsed().as_nanos() as u64;
        self.stages.nanos[stage as usize].fetch_add(nanos, Ordering::Relaxed);
        self.stages.count[stage as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_message(
        &self,
        tenant: &str,
        escalation_reasons: &[String],
        stats: &CallStats,
        pipeline_micros: u64,
    ) {
        let mut m = self.inner.lock().unwrap();
        *m.messages.entry(tenant.to_string()).or_default() += 1;
        for reason in escalation_reasons {
            // Reason codes come from plugins: only short code-like ones become
            // label values, and each tenant has a bounded number of them.
            let code_like = !reason.is_empty()
                && reason.len() <= 32
                && crate::pii::mask(reason) == reason.as_str()
                && reason.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            let known = m.escalations.keys().filter(|(t, _)| t == tenant).count();
            let key = (tenant.to_string(), reason.clone());
            let label = if code_like
                && (m.escalations.contains_key(&key) || known < MAX_REASONS_PER_TENANT)
            {
                reason.clone()
            } else {
                "other".to_string()
            };
            *m.escalations
                .entry((tenant.to_string(), label))
                .or_default() += 1;
        }
        for call in stats {
            *m.plugin_calls
                .entry((
                    tenant.to_string(),
                    call.slot,
                    call.plugin.clone(),
                    call.outcome.as_str().to_string(),
                ))
                .or_default() += 1;
            m.plugin_latency
                .entry((call.slot, call.plugin.clone()))
                .or_default()
                .observe(call.micros);
        }
        m.pipeline_latency
            .entry(tenant.to_string())
            .or_default()
            .observe(pipeline_micros);
    }

    /// A lifecycle change; `action` is "breaker" when a circuit breaker tripped.
    pub fn record_lifecycle(&self, tenant: &str, slot: Slot, action: &str) {
        let mut m = self.inner.lock().unwrap();
        *m.lifecycle
            .entry((tenant.to_string(), slot, action.to_string()))
            .or_default() += 1;
    }

    /// One delivery attempt to a tenant's channel: `delivered`, `retried`
    /// (failed, tried again later) or `dead` (out of retries).
    pub fn record_delivery(&self, tenant: &str, outcome: &'static str) {
        let mut m = self.inner.lock().unwrap();
        *m.deliveries
            .entry((tenant.to_string(), outcome))
            .or_default() += 1;
    }

    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP switchyard_deliveries_total Attempts to deliver to tenants' channel webhooks, by outcome (delivered, retried, dead: alert on dead)."
        );
        let _ = writeln!(out, "# TYPE switchyard_deliveries_total counter");
        for ((tenant, outcome), n) in &m.deliveries {
            let _ = writeln!(
                out,
                "switchyard_deliveries_total{{tenant=\"{}\",outcome=\"{outcome}\"}} {n}",
                esc(tenant)
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_messages_total Customer messages decided."
        );
        let _ = writeln!(out, "# TYPE switchyard_messages_total counter");
        for (tenant, n) in &m.messages {
            let _ = writeln!(
                out,
                "switchyard_messages_total{{tenant=\"{}\"}} {n}",
                esc(tenant)
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_escalations_total Escalations by reason (a message may have several)."
        );
        let _ = writeln!(out, "# TYPE switchyard_escalations_total counter");
        for ((tenant, reason), n) in &m.escalations {
            let _ = writeln!(
                out,
                "switchyard_escalations_total{{tenant=\"{}\",reason=\"{}\"}} {n}",
                esc(tenant),
                esc(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_plugin_calls_total Plugin calls by outcome (ok, trap, timeout, out-of-memory, invalid-output, init-failed)."
        );
        let _ = writeln!(out, "# TYPE switchyard_plugin_calls_total counter");
        for ((tenant, slot, plugin, outcome), n) in &m.plugin_calls {
            let _ = writeln!(
                out,
                "switchyard_plugin_calls_total{{tenant=\"{}\",slot=\"{slot}\",plugin=\"{}\",outcome=\"{}\"}} {n}",
                esc(tenant),
                esc(plugin),
                esc(outcome)
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_plugin_call_seconds Plugin call latency."
        );
        let _ = writeln!(out, "# TYPE switchyard_plugin_call_seconds histogram");
        for ((slot, plugin), h) in &m.plugin_latency {
            write_histogram(
                &mut out,
                "switchyard_plugin_call_seconds",
                &format!("slot=\"{slot}\",plugin=\"{}\"", esc(plugin)),
                h,
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_lifecycle_changes_total Plugin lifecycle changes by action (\"breaker\": a circuit breaker took a version out of service)."
        );
        let _ = writeln!(out, "# TYPE switchyard_lifecycle_changes_total counter");
        for ((tenant, slot, action), n) in &m.lifecycle {
            let _ = writeln!(
                out,
                "switchyard_lifecycle_changes_total{{tenant=\"{}\",slot=\"{slot}\",action=\"{}\"}} {n}",
                esc(tenant),
                esc(action)
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_pipeline_seconds Whole-pipeline latency per message."
        );
        let _ = writeln!(out, "# TYPE switchyard_pipeline_seconds histogram");
        for (tenant, h) in &m.pipeline_latency {
            write_histogram(
                &mut out,
                "switchyard_pipeline_seconds",
                &format!("tenant=\"{}\"", esc(tenant)),
                h,
            );
        }
        let _ = writeln!(
            out,
            "# HELP switchyard_message_stage_seconds Time spent in each stage of handling a customer message, all tenants."
        );
        let _ = writeln!(out, "# TYPE switchyard_message_stage_seconds summary");
        for stage in Stage::ALL {
            let i = stage as usize;
            let nanos = self.stages.nanos[i].load(Ordering::Relaxed);
            let count = self.stages.count[i].load(Ordering::Relaxed);
            let name = stage.name();
            let _ = writeln!(
                out,
                "switchyard_message_stage_seconds_sum{{stage=\"{name}\"}} {}",
                nanos as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "switchyard_message_stage_seconds_count{{stage=\"{name}\"}} {count}"
            );
        }
        out
    }
}

fn write_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    for (bound, count) in BUCKETS_MICROS.iter().zip(h.counts) {
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels},le=\"{}\"}} {count}",
            *bound as f64 / 1e6
        );
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.total);
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.total);
}

/// Escape a label value for the Prometheus text format.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
