//! `cargo bench -p switchyard --bench load`: the real `switchyard serve`
//! binary on a fresh data directory, driven over real sockets on 127.0.0.1
//! with 1, 4, 16, 64 and 256 connections (`tests/support/loadgen.rs`: Chinese
//! and English messages into 5,000 conversations, VIP customers,
//! escalations, tickets, a few reads). Printed per level: acknowledged
//! messages per second, p50/p99/max latency, errors and stalls; then the
//! same with `--durability off` (acknowledged before the disk) as the
//! ceiling, and the ratio durable / ceiling.
//!
//! `cargo bench -p switchyard --bench load -- soak`: one level
//! (`BENCH_SOAK_CONNECTIONS`, default 64) for `BENCH_SOAK_SECS` (default
//! 600): stalls, errors, every acknowledged message read back, resident
//! memory at start and end, database size per 1,000 messages.
//!
//! Environment: `BENCH_SECS` per level (default 20), `BENCH_LEVELS`
//! (default `1,4,16,64,256`), `BENCH_CEILING=0` for the durable levels only,
//! `BENCH_SERVE_ARGS` for extra `serve` flags (`--commit-delay-us 0`).

#[path = "../tests/support/loadgen.rs"]
mod loadgen;

use std::collections::BTreeMap;
use std::time::Duration;

use loadgen::{LoadConfig, LoadReport, Server};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const KEY: &str = "demo-key-for-load-benchmarks";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(server: &Server, connections: usize, seconds: u64, run: &str) -> LoadConfig {
    LoadConfig {
        addr: server.addr,
        key: KEY.into(),
        connections,
        duration: Duration::from_secs(seconds),
        conversations: 5_000,
        run: run.into(),
        stall_after: Duration::from_secs(5),
        seed: 0x10ad,
    }
}

/// Start a server on a fresh directory; the warm-up sends a few messages
/// so the first level does not pay for warming instances.
fn start(durability: &str) -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut args = vec![
        "--rate-per-sec",
        "1000000000",
        "--rate-burst",
        "1000000000",
        "--durability",
        durability,
    ];
    // Extra `serve` flags, to compare settings: BENCH_SERVE_ARGS="--commit-delay-us 0".
    let extra = std::env::var("BENCH_SERVE_ARGS").unwrap_or_default();
    args.extend(extra.split_whitespace());
    let server = Server::start(BIN, data.path(), KEY, &args);
    (data, server)
}

struct Row {
    connections: usize,
    report: LoadReport,
    cpu: f64,
}

fn line(row: &mut Row) -> String {
    let r = &mut row.report;
    format!(
        "{:>5} conns  {:>7.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {:>3}  stalls {}  server CPU {:.0}%",
        row.connections,
        r.per_second(),
        r.quantile_ms(0.5),
        r.quantile_ms(0.99),
        r.quantile_ms(1.0),
        r.error_count(),
        r.stalls,
        row.cpu * 100.0 / r.elapsed.as_secs_f64(),
    )
}

/// Mean microseconds per occurrence of each stage of message handling
/// between two `/metrics` scrapes, in the order of a message's life.
fn breakdown(
    before: &BTreeMap<String, (f64, u64)>,
    after: &BTreeMap<String, (f64, u64)>,
) -> String {
    const ORDER: [&str; 9] = [
        "auth",
        "parse",
        "queue",
        "load",
        "pipeline",
        "ticket",
        "commit",
        "bookkeeping",
        "serialise",
    ];
    let mut parts = Vec::new();
    let mut total = 0.0;
    for stage in ORDER {
        let (s1, n1) = after.get(stage).copied().unwrap_or_default();
        let (s0, n0) = before.get(stage).copied().unwrap_or_default();
        let n = n1.saturating_sub(n0);
        if n == 0 {
            continue;
        }
        let mean_us = (s1 - s0) * 1e6 / n as f64;
        total += mean_us;
        parts.push(format!("{stage} {mean_us:.0}"));
    }
    let mut slots = Vec::new();
    for (name, (s1, n1)) in after {
        let Some(slot) = name.strip_prefix("slot:") else {
            continue;
        };
        let (s0, n0) = before.get(name).copied().unwrap_or_default();
        if n1 > &n0 {
            slots.push(format!("{slot} {:.0}", (s1 - s0) * 1e6 / (n1 - n0) as f64));
        }
    }
    format!(
        "per message, µs: {} (sum {total:.0}); pipeline by slot, µs a call: {}",
        parts.join(", "),
        slots.join(", ")
    )
}

fn levels(tokio: &tokio::runtime::Runtime, durability: &str) -> Vec<Row> {
    let seconds: u64 = env_or("BENCH_SECS", 20);
    let levels: Vec<usize> = std::env::var("BENCH_LEVELS")
        .unwrap_or_else(|_| "1,4,16,64,256".into())
        .split(',')
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let (_data, server) = start(durability);
    tokio.block_on(loadgen::run(&config(&server, 4, 2, "warm-up")));
    println!("durability {durability}, {seconds} s per level:");
    let mut rows = Vec::new();
    for connections in levels {
        let cpu_before = server.cpu_seconds();
        let stages_before = tokio.block_on(loadgen::stage_seconds(server.addr));
        let report = tokio.block_on(loadgen::run(&config(
            &server,
            connections,
            seconds,
            &format!("{durability}-{connections}"),
        )));
        let mut row = Row {
            connections,
            report,
            cpu: server.cpu_seconds() - cpu_before,
        };
        println!("  {}", line(&mut row));
        let stages_after = tokio.block_on(loadgen::stage_seconds(server.addr));
        println!("    {}", breakdown(&stages_before, &stages_after));
        for e in &row.report.error_examples {
            println!("    error: {e}");
        }
        if durability == "group-commit" {
            let lost = tokio.block_on(loadgen::missing(server.addr, KEY, &row.report.acknowledged));
            println!(
                "    {} acknowledged messages read back, {} missing",
                row.report.acknowledged.len(),
                lost.len()
            );
        }
        rows.push(row);
    }
    let status = server.stop();
    println!("  server stopped: {status}");
    rows
}

fn soak(tokio: &tokio::runtime::Runtime) {
    let seconds: u64 = env_or("BENCH_SOAK_SECS", 600);
    let connections: usize = env_or("BENCH_SOAK_CONNECTIONS", 64);
    let (_data, server) = start("group-commit");
    tokio.block_on(loadgen::run(&config(&server, 4, 2, "warm-up")));
    let (rss_start, disk_start) = (server.rss_mib(), server.disk_bytes());
    println!(
        "soak: {connections} connections for {seconds} s; at start RSS {rss_start:.1} MiB, data {:.1} MiB",
        disk_start as f64 / 1048576.0
    );
    // Minutes at a time, so memory and throughput can be watched over the run.
    let mut total = LoadReport::default();
    let mut elapsed = Duration::ZERO;
    let chunk = 60.min(seconds);
    let mut minute = 0;
    while elapsed.as_secs() < seconds {
        let mut report = tokio.block_on(loadgen::run(&config(
            &server,
            connections,
            chunk,
            &format!("soak-{minute}"),
        )));
        println!(
            "  minute {:>2}: {:>6.0} msg/s  p99 {:>6.2} ms  max {:>7.2} ms  errors {} stalls {}  RSS {:.1} MiB  data {:.1} MiB",
            minute + 1,
            report.per_second(),
            report.quantile_ms(0.99),
            report.quantile_ms(1.0),
            report.error_count(),
            report.stalls,
            server.rss_mib(),
            server.disk_bytes() as f64 / 1048576.0,
        );
        elapsed += report.elapsed;
        total.elapsed += report.elapsed;
        total.messages += report.messages;
        total.stalls += report.stalls;
        for (k, v) in std::mem::take(&mut report.errors) {
            *total.errors.entry(k).or_default() += v;
        }
        total
            .message_latency_us
            .append(&mut report.message_latency_us);
        total.acknowledged.append(&mut report.acknowledged);
        minute += 1;
    }
    let lost = tokio.block_on(loadgen::missing(server.addr, KEY, &total.acknowledged));
    let (rss_end, disk_end) = (server.rss_mib(), server.disk_bytes());
    println!(
        "soak total: {} messages in {:.0} s ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, stalls {}, errors {:?}",
        total.messages,
        total.elapsed.as_secs_f64(),
        total.per_second(),
        total.quantile_ms(0.5),
        total.quantile_ms(0.99),
        total.quantile_ms(1.0),
        total.stalls,
        total.errors,
    );
    println!(
        "  {} acknowledged messages read back, {} missing; RSS {rss_start:.1} -> {rss_end:.1} MiB; \
         data {:.1} -> {:.1} MiB ({:.1} KiB per 1,000 messages)",
        total.acknowledged.len(),
        lost.len(),
        disk_start as f64 / 1048576.0,
        disk_end as f64 / 1048576.0,
        (disk_end.saturating_sub(disk_start)) as f64 / 1024.0 / (total.messages as f64 / 1000.0),
    );
    let status = server.stop();
    println!("  server stopped: {status}");
}

fn main() {
    // One thread drives every connection, leaving the cores to the server.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if std::env::args().any(|a| a == "soak") {
        soak(&tokio);
        return;
    }
    if std::env::var("BENCH_CEILING").is_ok_and(|v| v == "0") {
        levels(&tokio, "group-commit");
        return;
    }
    let mut durable = levels(&tokio, "group-commit");
    let mut ceiling = levels(&tokio, "off");
    println!("durable / ceiling:");
    for (d, c) in durable.iter_mut().zip(ceiling.iter_mut()) {
        println!(
            "  {:>5} conns  {:>7.0} / {:>7.0} msg/s = {:.2}   p99 {:.2} / {:.2} ms",
            d.connections,
            d.report.per_second(),
            c.report.per_second(),
            d.report.per_second() / c.report.per_second(),
            d.report.quantile_ms(0.99),
            c.report.quantile_ms(0.99),
        );
    }
}
