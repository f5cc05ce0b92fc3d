//! Counters and latency histograms, rendered as Prometheus text at `/metrics`.
//! Labels carry tenant, slot, plugin and outcome names only, never message text.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

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
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
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

    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap();
        let mut out = String::new();
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
