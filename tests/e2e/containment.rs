//! A plugin that loops, hogs memory, traps, panics or returns garbage never
//! takes a message down: the answer comes back within the deadline plus a
//! margin, the slot falls back to its default, and the trace says what happened.

use std::time::{Duration, Instant};

use switchyard::runtime::Limits;
use switchyard_e2e::{TestEnv, trace_of};

fn fixture() -> Vec<u8> {
    let path = format!(
        "{}/switchyard_fixture_misbehaving.wasm",
        switchyard::demo::COMPONENT_DIR
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const DEADLINE: Duration = Duration::from_millis(50);
/// Slack for scheduling on a busy 2-core machine; the point is "bounded", not "fast".
const MARGIN: Duration = Duration::from_millis(400);

/// The demo tenant with the misbehaving plugin bound *before* the demo
/// classifier in the classify slot.
fn demo_with_bad_classifier(mode: &str) -> (TestEnv, String) {
    let env = TestEnv::demo_with(Limits {
        deadline: DEADLINE,
        ..Limits::default()
    });
    let (status, meta) = env.upload("misbehaving", "1", &fixture());
    assert!(status == 201, "{meta}");
    assert_eq!(meta["slot"], "classify");
    let bad = meta["sha256"].as_str().unwrap().to_string();
    let good = switchyard_e2e::active_version(&env, "demo", "classify");
    let good_sha = good["sha256"].as_str().unwrap();
    let good_config = good["config"].as_str().unwrap();
    let (status, body) = env.bind("demo", "classify", &[(&bad, mode), (good_sha, good_config)]);
    assert_eq!(status, 200, "{body}");
    (env, bad)
}

/// `mode` on messages about refunds only: the fixture passes its smoke run
/// at binding (validation would refuse a plugin that always fails) and then
/// misbehaves on real traffic.
fn check_contained(mode: &str, expected_outcome: &str) {
    let (env, bad) = demo_with_bad_classifier(&format!("only:退款:{mode}"));
    let started = Instant::now();
    let r = env.send(
        &format!("contain-{mode}"),
        "我要退款，订单号 2024113012345",
        "cust-x",
        "standard",
    );
    let elapsed = started.elapsed();
    let classify = trace_of(&r, "classify");
    assert_eq!(classify[0]["sha256"], bad.as_str());
    assert_eq!(
        classify[0]["outcome"], expected_outcome,
        "{mode}: {}",
        classify[0]
    );
    let detail = classify[0]["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.is_empty() && !detail.starts_with("error while executing"),
        "{mode}: the failure is explained: {detail}"
    );
    // The good classifier behind it still decided.
    assert_eq!(classify[1]["outcome"], "ok");
    assert_eq!(r["intent"]["name"], "refund");
    assert!(
        elapsed < DEADLINE + MARGIN,
        "{mode}: answered in {elapsed:?}"
    );
}

#[test]
fn infinite_loop_times_out_at_the_deadline() {
    check_contained("loop", "timeout");
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    check_contained("hog", "out-of-memory");
}

#[test]
fn waiting_on_the_clock_is_refused_not_a_hang() {
    check_contained("sleep", "trap");
}

#[test]
fn trap_and_panic_are_traps() {
    check_contained("trap", "trap");
    check_contained("panic", "trap");
}

#[test]
fn garbage_output_is_rejected() {
    check_contained("nan", "invalid-output");
    check_contained("out-of-range", "invalid-output");
    check_contained("huge", "invalid-output");
}

#[test]
fn a_slot_whose_only_plugin_fails_uses_its_default() {
    let env = TestEnv::demo_with(Limits {
        deadline: DEADLINE,
        ..Limits::default()
    });
    let (_, meta) = env.upload("misbehaving", "1", &fixture());
    let bad = meta["sha256"].as_str().unwrap();
    let (status, body) = env.bind("demo", "classify", &[(bad, "only:package:loop")]);
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    let r = env.send("only-bad", "where is my package?", "cust-y", "standard");
    assert!(started.elapsed() < DEADLINE + MARGIN);
    let classify = trace_of(&r, "classify");
    assert_eq!(classify[0]["outcome"], "timeout");
    assert_eq!(classify[1]["plugin"], "default");
    assert_eq!(classify[1]["outcome"], "default");
    // Default intent: unknown at 0, so the escalator hands the chat to a person.
    assert_eq!(r["intent"]["name"], "unknown");
    assert_eq!(r["intent"]["confidence"], 0.0);
    assert_eq!(r["escalation"]["escalate"], true);
    assert_ne!(r["route"]["to"], "bot");
}

#[test]
fn a_trapped_instance_is_replaced_and_the_next_message_is_fine() {
    let (env, _) = demo_with_bad_classifier("only:boom:trap");
    let bad = env.send("replace", "boom 我要退款", "cust-z", "standard");
    assert_eq!(trace_of(&bad, "classify")[0]["outcome"], "trap");
    let good = env.send("replace", "我要退款", "cust-z", "standard");
    assert_eq!(trace_of(&good, "classify")[0]["outcome"], "ok");
}

#[test]
fn a_config_that_init_rejects_is_refused_at_binding() {
    let env = TestEnv::demo();
    let (_, meta) = env.upload("misbehaving", "1", &fixture());
    let (status, body) = env.bind(
        "demo",
        "classify",
        &[(meta["sha256"].as_str().unwrap(), "reject")],
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("refuses the config"),
        "{body}"
    );
    // Nothing changed: the demo classifier still decides.
    let r = env.send("after-reject", "我要退款", "cust-r", "standard");
    assert_eq!(trace_of(&r, "classify")[0]["plugin"], "classifier");
}

#[test]
fn instances_are_reused_but_never_shared_between_bindings() {
    // "count" answers with how many calls its instance has seen: a warm
    // instance is reused for the same binding, and a second tenant binding
    // the same component gets instances of its own.
    let env = TestEnv::demo();
    let (_, meta) = env.upload("misbehaving", "1", &fixture());
    let sha = meta["sha256"].as_str().unwrap().to_string();
    let other_key = env.create_tenant("other");
    for tenant in ["demo", "other"] {
        let (status, body) = env.bind(tenant, "classify", &[(&sha, "count")]);
        assert_eq!(status, 200, "{body}");
    }
    // Binding ran init and the smoke run (call 1) on a fresh instance, which stays warm.
    let first = env.send("count-a", "hello", "c", "standard");
    let second = env.send("count-a", "hello", "c", "standard");
    assert_eq!(first["intent"]["name"], "call-2");
    assert_eq!(second["intent"]["name"], "call-3");
    let other = env.send_as(&other_key, "count-b", "hello", "c", "standard");
    assert_eq!(
        other["intent"]["name"], "call-2",
        "the other tenant's instance has its own count"
    );
}
