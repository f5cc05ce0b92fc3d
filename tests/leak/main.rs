//! Nothing leaks when plugins misbehave: 10,000 failing calls (traps,
//! panics, fuel and memory exhaustion, stack overflow, garbage and oversized
//! output, host-call floods), each of which throws its instance away, leave
//! the process's resident memory where it was.
//!
//! Its own test binary, so no other test's allocations move the figure.

use std::time::Instant;

use switchyard::runtime::{Limits, Outcome};
use switchyard_e2e::{TestEnv, component};

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

const CALLS: usize = 10_000;
/// Allowed growth after warm-up. The allocator keeps some freed memory; a
/// leak of one instance per call (at least 1 MiB of linear memory each)
/// would be gigabytes.
const ALLOWED_GROWTH: u64 = 48 << 20;

#[test]
fn ten_thousand_failing_calls_leak_nothing() {
    let Some(_) = rss_bytes() else {
        eprintln!("skipped: /proc/self/status is not available on this system");
        return;
    };
    let env = TestEnv::demo();
    let (status, meta) = env.upload(
        "misbehaving",
        "1",
        &component("switchyard_fixture_misbehaving"),
    );
    assert_eq!(status, 201, "{meta}");
    let sha = meta["sha256"].as_str().unwrap();
    let cases = [
        ("trap", Outcome::Trap),
        ("panic", Outcome::Trap),
        ("recurse", Outcome::Trap),
        ("recurse-shadow", Outcome::Trap),
        ("flood", Outcome::Trap),
        ("loop", Outcome::OutOfFuel),
        ("hog", Outcome::OutOfMemory),
        ("nan", Outcome::InvalidOutput),
        ("out-of-range", Outcome::InvalidOutput),
        ("huge", Outcome::InvalidOutput),
        ("alias", Outcome::InvalidOutput),
    ];
    let bound: Vec<_> = cases
        .iter()
        .map(|(mode, _)| {
            let limits = Limits {
                // A small fuel budget keeps the looping case cheap; it fails the same way.
                fuel: if *mode == "loop" {
                    2_000_000
                } else {
                    Limits::default().fuel
                },
                ..Limits::default()
            };
            env.app
                .bind_stored(sha, mode, limits)
                .expect("binding the fixture")
        })
        .collect();
    let run = |calls: usize| {
        for i in 0..calls {
            let which = i % cases.len();
            let result = env.app.sample_call("demo", &bound[which]).unwrap();
            assert_eq!(
                result.outcome, cases[which].1,
                "{}: {:?}",
                cases[which].0, result.detail
            );
        }
    };
    // Warm-up: the allocator, wasmtime's caches and the knowledge index settle.
    run(cases.len() * 50);
    let before = rss_bytes().unwrap();
    let started = Instant::now();
    run(CALLS);
    let elapsed = started.elapsed();
    let after = rss_bytes().unwrap();
    let growth = after.saturating_sub(before);
    println!(
        "{CALLS} failing calls over {} cases in {:.1} s ({:.0} µs each); RSS {:.1} MiB -> {:.1} MiB (growth {:.1} MiB)",
        cases.len(),
        elapsed.as_secs_f64(),
        elapsed.as_micros() as f64 / CALLS as f64,
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
        growth as f64 / (1 << 20) as f64,
    );
    assert!(
        growth < ALLOWED_GROWTH,
        "resident memory grew by {growth} bytes over {CALLS} failing calls"
    );
}
