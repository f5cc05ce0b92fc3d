//! `cargo bench -p switchyard-e2e --bench isolation`: how much a misbehaving
//! tenant slows a healthy one.
//!
//! The demo tenant ("healthy") sends customer messages at a steady pace over
//! real HTTP on loopback while a second tenant ("noisy") sends as fast as it
//! can to a classifier that, on every message about a refund, loops until its
//! deadline stops it (its fuel raised to the maximum, so each such call burns
//! the whole 50 ms of CPU). The healthy tenant's latency is reported per
//! scenario, with its ratio to the healthy tenant running alone:
//!
//! - `alone`: only the healthy tenant sends;
//! - `noisy, behaving`: the noisy tenant sends the same number of clients'
//!   worth of messages its plugin answers at once (the cost of a busy neighbour);
//! - `noisy, looping, breaker off`: every noisy message loops to its deadline,
//!   and the circuit breaker never takes the plugin out of service (the worst
//!   case: only limits and the per-tenant concurrency cap contain it);
//! - `noisy, looping, breaker on`: the default breaker policy (5 failures in
//!   60 s), which takes the looping version out of service.
//!
//! The server runs with the defaults `serve` uses: per-tenant concurrency
//! `Throttle::default_tenant_concurrency` (`BENCH_TENANT_CONCURRENCY` to
//! compare others; no request rate limit, so the load generator
//! is never refused). Environment: `BENCH_SECS` per scenario (default 15),
//! `BENCH_HEALTHY_CLIENTS` (2), `BENCH_HEALTHY_RATE` messages per second per
//! healthy client (50), `BENCH_NOISY_CLIENTS` (4).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::api::throttle::{RatePolicy, Throttle};
use switchyard::lifecycle::BreakerPolicy;
use switchyard_e2e::{DEMO_KEY, TestEnv, looping_tenant};

/// What the healthy tenant's customers write: routine, escalating and flagged,
/// in both languages.
const HEALTHY: [&str; 6] = [
    "where is my package?",
    "我的快递到哪了",
    "能开发票吗",
    "can I exchange this jacket for a bigger size",
    "我要去12315投诉你们",
    "I want to talk to a real person",
];
/// The noisy tenant's fixture loops on messages containing this word.
const LOOPING: &str = "我要退款 (refund)";
const BEHAVING: &str = "where is my package?";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One message; returns its latency and the answer (status must be 201).
fn send(
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    conversation: &str,
    text: &str,
) -> (Duration, Value) {
    let started = Instant::now();
    let mut response = agent
        .post(format!("{base}/v1/conversations/{conversation}/messages"))
        .header("Authorization", format!("Bearer {key}"))
        .send_json(json!({"text": text, "customer": {"id": conversation}}))
        .expect("the server answers");
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    assert_eq!(status, 201, "{text}: {body}");
    (elapsed, body)
}

#[derive(Default)]
struct Noisy {
    sent: usize,
    /// Outcome of the fixture's call, as the trace names it -> count.
    outcomes: std::collections::BTreeMap<String, usize>,
    slowest: Duration,
}

struct Scenario {
    name: &'static str,
    noisy_text: Option<&'static str>,
    /// Which of the noisy tenants sends.
    noisy: usize,
    breaker: BreakerPolicy,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECS", 15);
    let healthy_clients: usize = env_or("BENCH_HEALTHY_CLIENTS", 2);
    let healthy_rate: u64 = env_or("BENCH_HEALTHY_RATE", 50);
    let noisy_clients: usize = env_or("BENCH_NOISY_CLIENTS", 4);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let concurrency: usize = env_or(
        "BENCH_TENANT_CONCURRENCY",
        Throttle::default_tenant_concurrency(),
    );

    let env = TestEnv::demo().with_throttle(Throttle::new(
        RatePolicy {
            per_second: 1e9,
            burst: 1e9,
        },
        concurrency,
    ));
    // Two noisy tenants: the breaker-on run needs one whose failures were
    // not already counted by the breaker-off run.
    let noisy_keys = [
        looping_tenant(&env, "noisy", None),
        looping_tenant(&env, "noisy-b", None),
    ];
    let base = env.serve();

    let breaker_off = BreakerPolicy {
        failures: u32::MAX,
        window: Duration::from_secs(60),
        ..BreakerPolicy::default()
    };
    let scenarios = [
        Scenario {
            name: "alone",
            noisy: 0,
            noisy_text: None,
            breaker: breaker_off,
        },
        Scenario {
            name: "noisy, behaving",
            noisy: 0,
            noisy_text: Some(BEHAVING),
            breaker: breaker_off,
        },
        Scenario {
            name: "noisy, looping, breaker off",
            noisy: 0,
            noisy_text: Some(LOOPING),
            breaker: breaker_off,
        },
        Scenario {
            name: "noisy, looping, breaker on",
            noisy: 1,
            noisy_text: Some(LOOPING),
            breaker: BreakerPolicy::default(),
        },
    ];

    println!(
        "isolation: {cores} cores, {seconds} s per scenario, healthy {healthy_clients} clients × {healthy_rate} msg/s, \
         noisy {noisy_clients} clients as fast as answered, per-tenant concurrency {concurrency}, deadline 50 ms"
    );
    let mut baseline: Option<(Duration, Duration)> = None;
    for (round, scenario) in scenarios.iter().enumerate() {
        env.app.set_breaker_policy(scenario.breaker);
        let stop = Arc::new(AtomicBool::new(false));
        let noisy: Vec<_> = scenario
            .noisy_text
            .map(|text| {
                (0..noisy_clients)
                    .map(|client| {
                        let (base, key, stop) = (
                            base.clone(),
                            noisy_keys[scenario.noisy].clone(),
                            stop.clone(),
                        );
                        std::thread::spawn(move || {
                            let agent = agent();
                            let mut noisy = Noisy::default();
                            while !stop.load(Ordering::Relaxed) {
                                let conversation = format!("n{round}-{client}-{}", noisy.sent % 64);
                                let (elapsed, body) =
                                    send(&agent, &base, &key, &conversation, text);
                                noisy.sent += 1;
                                noisy.slowest = noisy.slowest.max(elapsed);
                                let outcome = body["trace"]
                                    .as_array()
                                    .and_then(|t| t.iter().find(|e| e["slot"] == "classify"))
                                    .map_or("default".to_string(), |e| {
                                        e["outcome"].as_str().unwrap_or("?").to_string()
                                    });
                                *noisy.outcomes.entry(outcome).or_default() += 1;
                            }
                            noisy
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Let the noisy tenant reach its steady state before measuring.
        if scenario.noisy_text.is_some() {
            std::thread::sleep(Duration::from_millis(500));
        }

        let healthy: Vec<_> = (0..healthy_clients)
            .map(|client| {
                let base = base.clone();
                std::thread::spawn(move || {
                    let agent = agent();
                    let period = Duration::from_micros(1_000_000 / healthy_rate.max(1));
                    let end = Instant::now() + Duration::from_secs(seconds);
                    let mut next = Instant::now();
                    let mut latencies = Vec::new();
                    let mut n = 0usize;
                    while Instant::now() < end {
                        let text = HEALTHY[n % HEALTHY.len()];
                        let conversation = format!("h{round}-{client}-{}", n % 64);
                        let (elapsed, _) = send(&agent, &base, DEMO_KEY, &conversation, text);
                        latencies.push(elapsed);
                        n += 1;
                        // A steady pace; when a reply ran late, send the next at once.
                        next += period;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        } else {
                            next = Instant::now();
                        }
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies: Vec<Duration> = healthy
            .into_iter()
            .flat_map(|h| h.join().expect("healthy client"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let noisy: Vec<Noisy> = noisy
            .into_iter()
            .map(|h| h.join().expect("noisy client"))
            .collect();

        latencies.sort();
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        let max = *latencies.last().unwrap();
        let (r50, r99) = match baseline {
            None => {
                baseline = Some((p50, p99));
                (1.0, 1.0)
            }
            Some((b50, b99)) => (
                p50.as_secs_f64() / b50.as_secs_f64(),
                p99.as_secs_f64() / b99.as_secs_f64(),
            ),
        };
        println!(
            "healthy, {:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={})  vs alone: p50 {r50:.2}×  p99 {r99:.2}×",
            scenario.name,
            ms(p50),
            ms(p99),
            ms(max),
            latencies.len(),
        );
        if !noisy.is_empty() {
            let sent: usize = noisy.iter().map(|n| n.sent).sum();
            let slowest = noisy.iter().map(|n| n.slowest).max().unwrap_or_default();
            let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
            for n in &noisy {
                for (outcome, count) in &n.outcomes {
                    *outcomes.entry(outcome.clone()).or_default() += count;
                }
            }
            println!(
                "        noisy tenant: {sent} messages ({:.0}/s), slowest answer {:.1} ms, classify outcomes {outcomes:?}",
                sent as f64 / (seconds as f64 + 0.5),
                ms(slowest),
            );
        }
    }
}
