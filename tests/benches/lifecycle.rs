//! `cargo bench -p switchyard-e2e --bench lifecycle`: how fast a precompiled
//! version takes over (from the activation call to the first message decided
//! by it), and how long a restart takes with 50 plugin versions stored.
//!
//! `BENCH_SWAPS` sets the number of activations measured (default 40),
//! `BENCH_VERSIONS` the number of stored versions (default 50).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::app::{NewMessage, Switchyard};
use switchyard::lifecycle::Transition;
use switchyard::model::{Actor, Customer, Slot, Tier};
use switchyard::runtime::{Limits, Runtime};
use switchyard::storage::Storage;
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv, active_version, component};

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The same component with a custom section appended: a new sha256, the same code.
fn variant(component: &[u8], n: u32) -> Vec<u8> {
    let name = b"switchyard-bench";
    let payload = n.to_le_bytes();
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut out = component.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8); // size (LEB128, < 128)
    out.extend_from_slice(&section);
    out
}

fn decided_by(app: &Switchyard, conversation: &str) -> u64 {
    let record = app
        .handle_message(
            "demo",
            conversation,
            NewMessage {
                text: "where is my package?".into(),
                channel: "web".into(),
                customer: Customer {
                    id: conversation.into(),
                    tier: Tier::Standard,
                    tags: vec![],
                },
            },
        )
        .unwrap();
    record
        .decision
        .trace
        .iter()
        .find(|t| t.slot == Slot::Classify && t.role.as_deref() == Some("active"))
        .and_then(|t| t.version_id)
        .unwrap()
}

fn main() {
    let swaps: usize = std::env::var("BENCH_SWAPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let stored: u32 = std::env::var("BENCH_VERSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let fixture = component("switchyard_fixture_misbehaving");
    let env = TestEnv::demo();
    let app = env.app.clone();
    let actor = Actor::operator(None);
    let original = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    let (status, staged) = env.push_to_lane(
        "demo",
        "classify",
        "classifier",
        "fixture",
        "1",
        &fixture,
        "ok",
    );
    assert_eq!(status, 201, "{staged}");
    let candidate = staged["id"].as_u64().unwrap();

    // In process: the activation call, then the next message.
    let mut in_process = Vec::new();
    for i in 0..swaps {
        let target = if i % 2 == 0 { candidate } else { original };
        let started = Instant::now();
        app.transition("demo", Slot::Classify, target, Transition::Activate, &actor)
            .unwrap();
        assert_eq!(decided_by(&app, &format!("swap-{i}")), target);
        in_process.push(started.elapsed());
    }

    // Over the HTTP API (in-process axum), including both fsyncs.
    let mut over_http = Vec::new();
    for i in 0..swaps {
        let target = if i % 2 == 0 { candidate } else { original };
        let started = Instant::now();
        let (status, _) = env.post(
            &format!("/v1/tenants/demo/slots/classify/versions/{target}/activate"),
            OPERATOR_KEY,
            &json!({}),
        );
        assert_eq!(status, 200);
        let (status, body) = env.post(
            &format!("/v1/conversations/http-swap-{i}/messages"),
            DEMO_KEY,
            &json!({"text": "where is my package?", "customer": {"id": format!("h-{i}")}}),
        );
        assert_eq!(status, 201);
        let decider = body["trace"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["slot"] == "classify" && t["role"] == "active")
            .unwrap()["version_id"]
            .as_u64()
            .unwrap();
        assert_eq!(decider, target);
        over_http.push(started.elapsed());
    }

    // Restart with `stored` versions: push them (each compiled once, artifacts kept).
    let started = Instant::now();
    for n in 0..stored {
        let (status, body) = env.push_to_lane(
            "demo",
            "classify",
            "classifier",
            "fixture",
            &format!("v{n}"),
            &variant(&fixture, n),
            "ok",
        );
        assert_eq!(status, 201, "{body}");
    }
    let setup = started.elapsed();
    let versions = app.storage.plugins().unwrap().len();
    let dir = env.shutdown();
    drop(app);

    // What `switchyard serve` does before it listens: open the database, a
    // new runtime (nothing compiled in memory), every tenant's pipeline.
    let started = Instant::now();
    let storage = Storage::open(dir.path()).unwrap();
    let restarted = Arc::new(Switchyard::new(
        storage,
        Runtime::new().unwrap(),
        Limits::default(),
    ));
    for tenant in restarted.storage.tenants().unwrap() {
        restarted.pipeline(&tenant.id).unwrap();
    }
    let restart = started.elapsed();
    assert!(decided_by(&restarted, "after-restart") > 0);

    // And every stored version made ready, from the cached artifacts.
    let runtime = Runtime::new().unwrap();
    let started = Instant::now();
    for meta in restarted.storage.plugins().unwrap() {
        let bytes = restarted
            .storage
            .plugin_component(&meta.sha256)
            .unwrap()
            .unwrap();
        runtime
            .component(&restarted.storage, &meta.sha256, &bytes)
            .unwrap();
    }
    let load_all = started.elapsed();
    // Against compiling them all (what a restart would cost without the cache).
    let runtime = Runtime::new().unwrap();
    let started = Instant::now();
    for meta in restarted.storage.plugins().unwrap() {
        let bytes = restarted
            .storage
            .plugin_component(&meta.sha256)
            .unwrap()
            .unwrap();
        runtime.compile(&meta.sha256, &bytes).unwrap();
    }
    let compile_all = started.elapsed();

    println!("Switchyard lifecycle benchmark");
    println!(
        "activation -> first message on the new version, in process:  median {:.2} ms  p99 {:.2} ms  (n={swaps})",
        ms(percentile(&mut in_process, 0.5)),
        ms(percentile(&mut in_process, 0.99))
    );
    println!(
        "activation -> first message on the new version, HTTP API:    median {:.2} ms  p99 {:.2} ms  (n={swaps})",
        ms(percentile(&mut over_http, 0.5)),
        ms(percentile(&mut over_http, 0.99))
    );
    println!(
        "pushing {stored} versions (validate, compile, smoke run, store): {:.0} ms",
        ms(setup)
    );
    println!(
        "restart with {versions} plugin versions stored (open, runtime, every tenant's pipeline): {:.0} ms",
        ms(restart)
    );
    println!(
        "making all {versions} versions ready from cached artifacts: {:.0} ms; compiling them instead: {:.0} ms ({:.0}x)",
        ms(load_all),
        ms(compile_all),
        compile_all.as_secs_f64() / load_all.as_secs_f64()
    );
}
