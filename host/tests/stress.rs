//! The real `switchyard serve` under concurrent load over real sockets.
//!
//! Regression for the stall of issue 14: with 16 connections posting
//! messages, sled's concurrent `flush_async` deadlocked after a few hundred
//! messages (spacejam/sled#1308) and the server never answered again, not
//! even `/healthz`. Durability now goes through one flusher (group commit)
//! and no storage call runs on an async worker.
//!
//! `STRESS_SECS` (default 20) and `STRESS_CONNECTIONS` (default 32);
//! `STRESS_BIN` runs another build of the binary (an older commit, to see
//! whether it stalls).

#[path = "support/loadgen.rs"]
mod loadgen;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loadgen::{LoadConfig, Server};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const DEMO_KEY: &str = "demo-key-for-stress-tests";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `/healthz` over its own connection every 50 ms while `running`; returns
/// each answer's latency and status.
fn probe_health(addr: std::net::SocketAddr, running: Arc<AtomicBool>) -> Vec<(Duration, u16)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut answers = Vec::new();
    while running.load(Ordering::Relaxed) {
        let started = Instant::now();
        let status = agent
            .get(format!("http://{addr}/healthz"))
            .call()
            .map_or(0, |r| r.status().as_u16());
        answers.push((started.elapsed(), status));
        std::thread::sleep(Duration::from_millis(50));
    }
    answers
}

#[test]
fn thirty_two_connections_for_twenty_seconds_never_stall_and_lose_nothing() {
    let seconds: u64 = env_or("STRESS_SECS", 20);
    let connections: usize = env_or("STRESS_CONNECTIONS", 32);
    let data = tempfile::tempdir().unwrap();
    // Rates are not what this test is about: one key sends everything.
    let bin = std::env::var("STRESS_BIN").unwrap_or_else(|_| BIN.to_string());
    let server = Server::start(&bin, data.path(), DEMO_KEY, &["--rate-per-sec", "1000000"]);
    let running = Arc::new(AtomicBool::new(true));
    let prober = {
        let running = running.clone();
        let addr = server.addr;
        std::thread::spawn(move || probe_health(addr, running))
    };
    let config = LoadConfig {
        addr: server.addr,
        key: DEMO_KEY.into(),
        connections,
        duration: Duration::from_secs(seconds),
        conversations: 5_000,
        run: "stress".into(),
        stall_after: Duration::from_secs(5),
        seed: 0x5717,
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = tokio.block_on(loadgen::run(&config));
    running.store(false, Ordering::Relaxed);
    let health = prober.join().unwrap();
    let lost = tokio.block_on(loadgen::missing(
        server.addr,
        DEMO_KEY,
        &report.acknowledged,
    ));

    let mut health_ms: Vec<f64> = health.iter().map(|(d, _)| d.as_secs_f64() * 1e3).collect();
    health_ms.sort_by(f64::total_cmp);
    println!(
        "{connections} connections, {seconds} s: {} messages ({:.0}/s), {} reads, p50 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms, stalls {}, errors {:?}; /healthz {} probes, median {:.2} ms, max {:.2} ms",
        report.messages,
        report.per_second(),
        report.reads,
        report.quantile_ms(0.5),
        report.quantile_ms(0.99),
        report.quantile_ms(1.0),
        report.stalls,
        report.errors,
        health_ms.len(),
        health_ms[health_ms.len() / 2],
        health_ms[health_ms.len() - 1],
    );
    assert_eq!(report.stalls, 0, "requests unanswered within 5 s");
    assert_eq!(
        report.error_count(),
        0,
        "every request answered 2xx: {:?}",
        report.error_examples
    );
    assert!(
        report.messages >= 100 * seconds as usize,
        "the load ran: {} messages",
        report.messages
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(
        health.len() >= seconds as usize,
        "/healthz was probed throughout"
    );
    assert!(
        health.iter().all(|(_, status)| *status == 200),
        "/healthz said the server was unhealthy: {health:?}"
    );
    // Timing belongs in benchmarks; this bound only catches a /healthz stuck
    // behind the store (the stall made it wait forever).
    assert!(
        health_ms[health_ms.len() - 1] < 1_000.0,
        "/healthz waited behind the load"
    );
    let status = server.stop();
    assert!(status.success(), "a clean shutdown: {status}");
}
