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
//!   60 s), which takes the looping version out of service;
//! - `noisy, rebuilding its index`: the other tenant rewrites large articles
//!   and searches, so its knowledge index is rebuilt again and again;
//! - `noisy, mining`: it asks for blind-spot mining as fast as answered;
//! - `noisy, 300 half-sent requests`: it holds 300 connections that sent
//!   half a request's headers, reopened as the header deadline cuts them.
//!
//! `BENCH_SCENARIOS=mining,half-sent` runs only the scenarios whose name
//! contains one of the words (and `alone`, the baseline).
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

/// What the other tenant does meanwhile.
#[derive(Clone, Copy)]
enum Noise {
    Idle,
    /// Messages with this text, each client as fast as answered.
    Messages(&'static str),
    /// Each client rewrites a large article and searches, so the tenant's
    /// knowledge index is rebuilt again and again.
    Rebuild,
    /// Each client asks for blind-spot mining as fast as answered (one run
    /// at a time is allowed; the others get 409).
    Mining,
    /// Hundreds of connections that send half a request's headers and
    /// hold, reopened as the header deadline cuts them.
    HalfSent,
}

struct Scenario {
    name: &'static str,
    noise: Noise,
    /// Which of the noisy tenants sends.
    noisy: usize,
    breaker: BreakerPolicy,
}

/// Connections the half-sent scenario holds open at once.
const HALF_SENT_CONNECTIONS: usize = 300;

/// One request other than a message; the status, counted by the caller.
fn call(agent: &ureq::Agent, method: &str, url: &str, key: &str, body: Option<&Value>) -> u16 {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json");
    let body = body.map(Value::to_string).unwrap_or_default();
    match agent.run(request.body(body).expect("a valid request")) {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// One round of `noise` by one noisy client; returns what to count.
fn make_noise(
    noise: Noise,
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    client: usize,
    n: usize,
) -> (Duration, String) {
    let started = Instant::now();
    let outcome = match noise {
        Noise::Idle => unreachable!("an idle neighbour sends nothing"),
        Noise::Messages(text) => {
            let conversation = format!("n-{client}-{}", n % 64);
            let (_, body) = send(agent, base, key, &conversation, text);
            body["trace"]
                .as_array()
                .and_then(|t| t.iter().find(|e| e["slot"] == "classify"))
                .map_or("default".to_string(), |e| {
                    e["outcome"].as_str().unwrap_or("?").to_string()
                })
        }
        Noise::Rebuild => {
            // 16 KB of text that changes every time: the index is rebuilt.
            let body: String = (0..800)
                .map(|w| format!("word{}x{} ", (w * 7 + n) % 997, client))
                .collect();
            let id = format!("big-{client}");
            let article = json!({"id": id, "title": format!("Large article {n}"),
                "keywords": ["large"], "body": body, "published": true});
            let put = call(
                agent,
                "PUT",
                &format!("{base}/v1/knowledge/articles/{id}"),
                key,
                Some(&article),
            );
            let search = call(
                agent,
                "GET",
                &format!("{base}/v1/knowledge/search?q=word{n}x{client}"),
                key,
                None,
            );
            format!("put {put}, search {search}")
        }
        Noise::Mining => {
            let status = call(
                agent,
                "POST",
                &format!("{base}/v1/knowledge/mine"),
                key,
                Some(&json!({})),
            );
            format!("mine {status}")
        }
        Noise::HalfSent => unreachable!("held by its own thread"),
    };
    (started.elapsed(), outcome)
}

/// Hold [`HALF_SENT_CONNECTIONS`] half-sent requests until `stop`; returns
/// how many connections were opened in all.
fn hold_half_sent(base: &str, stop: &AtomicBool) -> usize {
    use std::io::Write;
    let addr = base.trim_start_matches("http://").to_string();
    let mut held: Vec<std::net::TcpStream> = Vec::new();
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        // Connections the server cut at its header deadline are replaced.
        held.retain(|c| {
            let mut probe = [0u8; 1];
            c.set_nonblocking(true).ok();
            !matches!(std::io::Read::read(&mut &*c, &mut probe), Ok(0))
        });
        while held.len() < HALF_SENT_CONNECTIONS {
            let Ok(mut c) = std::net::TcpStream::connect(&addr) else {
                break;
            };
            let _ = c.write_all(b"POST /v1/conversations/x/messages HTTP/1.1\r\nHost: x\r\n");
            held.push(c);
            opened += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    opened
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
            noise: Noise::Idle,
            breaker: breaker_off,
        },
        Scenario {
            name: "noisy, behaving",
            noisy: 0,
            noise: Noise::Messages(BEHAVING),
            breaker: breaker_off,
        },
        Scenario {
            name: "noisy, looping, breaker off",
            noisy: 0,
            noise: Noise::Messages(LOOPING),
            breaker: breaker_off,
        },
        Scenario {
            name: "noisy, looping, breaker on",
            noisy: 1,
            noise: Noise::Messages(LOOPING),
            breaker: BreakerPolicy::default(),
        },
        Scenario {
            name: "noisy, rebuilding its index",
            noisy: 0,
            noise: Noise::Rebuild,
            breaker: BreakerPolicy::default(),
        },
        Scenario {
            name: "noisy, mining",
            noisy: 0,
            noise: Noise::Mining,
            breaker: BreakerPolicy::default(),
        },
        Scenario {
            name: "noisy, 300 half-sent requests",
            noisy: 0,
            noise: Noise::HalfSent,
            breaker: BreakerPolicy::default(),
        },
    ];
    // BENCH_SCENARIOS=alone,mining,... runs some (by the name's last word
    // or whole name); all by default.
    let only: Option<Vec<String>> = std::env::var("BENCH_SCENARIOS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());

    println!(
        "isolation: {cores} cores, {seconds} s per scenario, healthy {healthy_clients} clients × {healthy_rate} msg/s, \
         noisy {noisy_clients} clients as fast as answered, per-tenant concurrency {concurrency}, deadline 50 ms"
    );
    let mut baseline: Option<(Duration, Duration)> = None;
    for (round, scenario) in scenarios.iter().enumerate() {
        // "alone" always runs: it is what the others are compared with.
        if let Some(only) = &only
            && round > 0
            && !only.iter().any(|o| scenario.name.contains(o.as_str()))
        {
            continue;
        }
        env.app.set_breaker_policy(scenario.breaker);
        let stop = Arc::new(AtomicBool::new(false));
        let noisy: Vec<_> = match scenario.noise {
            Noise::Idle => Vec::new(),
            Noise::HalfSent => {
                let (base, stop) = (base.clone(), stop.clone());
                vec![std::thread::spawn(move || Noisy {
                    sent: hold_half_sent(&base, &stop),
                    ..Noisy::default()
                })]
            }
            noise => (0..noisy_clients)
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
                            let (elapsed, outcome) = make_noise(
                                noise,
                                &agent,
                                &base,
                                &key,
                                client + 10 * round,
                                noisy.sent,
                            );
                            noisy.sent += 1;
                            noisy.slowest = noisy.slowest.max(elapsed);
                            *noisy.outcomes.entry(outcome).or_default() += 1;
                        }
                        noisy
                    })
                })
                .collect(),
        };
        // Let the noisy tenant reach its steady state before measuring.
        if !matches!(scenario.noise, Noise::Idle) {
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
                "        noisy tenant: {sent} requests or connections ({:.0}/s), slowest answer {:.1} ms, outcomes {outcomes:?}",
                sent as f64 / (seconds as f64 + 0.5),
                ms(slowest),
            );
        }
    }
}
