//! The plugin lifecycle through the operator API: validated pushes, shadow
//! with its diff, sticky canaries, activation and rollback, the circuit
//! breaker, the audit log, and hot swaps under a steady stream of messages.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv, active_version, component, trace_of};

const FIXTURE: &str = "switchyard_fixture_misbehaving";

fn plugin_count(env: &TestEnv) -> usize {
    env.get("/v1/plugins", OPERATOR_KEY)
        .1
        .as_array()
        .unwrap()
        .len()
}

fn versions(env: &TestEnv, slot: &str) -> Vec<Value> {
    env.get(&format!("/v1/tenants/demo/slots/{slot}"), OPERATOR_KEY)
        .1["versions"]
        .as_array()
        .unwrap()
        .clone()
}

/// The classify version that decided a message (active or canary), by id.
fn decided_by(response: &Value) -> u64 {
    let entry = trace_of(response, "classify")
        .into_iter()
        .find(|t| t["role"] == "active" || t["role"] == "canary")
        .unwrap_or_else(|| panic!("no deciding classify entry: {}", response["trace"]));
    assert_eq!(
        entry["sha256"].as_str().unwrap().len(),
        64,
        "the trace names the exact version"
    );
    assert_eq!(
        entry["config_sha256"].as_str().unwrap().len(),
        64,
        "and its config"
    );
    entry["version_id"].as_u64().unwrap()
}

fn stage_fixture(env: &TestEnv, config: &str) -> u64 {
    // A candidate for the demo's "classifier" lane.
    let (status, body) = env.push_to_lane(
        "demo",
        "classify",
        "classifier",
        "fixture",
        "1",
        &component(FIXTURE),
        config,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "staged");
    assert_eq!(body["lane"], "classifier");
    body["id"].as_u64().unwrap()
}

#[test]
fn pushes_are_validated_before_anything_is_stored() {
    let env = TestEnv::demo();
    let before_plugins = plugin_count(&env);
    let before_versions = versions(&env, "classify").len();
    let cases: [(&[u8], &str, &str, &str); 5] = [
        (
            b"not a component at all",
            "classify",
            "",
            "not a valid component",
        ),
        (
            &component("switchyard_fixture_wrong_world"),
            "classify",
            "",
            "classify",
        ),
        (
            &component(FIXTURE),
            "classify",
            "reject",
            "refused its config",
        ),
        (
            &component(FIXTURE),
            "classify",
            "trap",
            "failed its smoke run: trap",
        ),
        (
            &component(FIXTURE),
            "route",
            "ok",
            "implements the classify slot, not route",
        ),
    ];
    for (bytes, slot, config, reason) in cases {
        let (status, body) = env.push("demo", slot, "candidate", "1", bytes, config);
        assert_eq!(status, 422, "{reason}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(reason),
            "expected {reason:?} in {message:?}"
        );
    }
    // The wrong-world refusal names what does not fit.
    let (_, body) = env.push(
        "demo",
        "classify",
        "wrong",
        "1",
        &component("switchyard_fixture_wrong_world"),
        "",
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("init") || message.contains("type"),
        "{message}"
    );
    assert_eq!(plugin_count(&env), before_plugins, "nothing stored");
    assert_eq!(
        versions(&env, "classify").len(),
        before_versions,
        "no version staged"
    );
    let (status, _) = env.post(
        "/v1/tenants/demo/slots/classify/versions",
        OPERATOR_KEY,
        &json!({"config": ""}),
    );
    assert_eq!(status, 400);
}

#[test]
fn shadow_runs_beside_the_active_version_and_its_diff_is_reported() {
    let env = TestEnv::demo();
    let active = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    // The fixture in "ok" mode calls everything a refund.
    let shadow = stage_fixture(&env, "ok");
    env.lifecycle("demo", "classify", shadow, "shadow");
    let texts = [
        "where is my package?",
        "能开发票吗",
        "我要退款，订单号 2024113012345",
        "转人工",
    ];
    for (i, text) in texts.iter().enumerate() {
        let r = env.send(&format!("shadow-{i}"), text, &format!("c-{i}"), "standard");
        assert_eq!(decided_by(&r), active, "the shadow never decides");
        // The active classifier decided: only the refund message is a refund.
        assert_eq!(r["intent"]["name"] == "refund", i == 2, "{text}");
        let s = &r["shadow"];
        assert_eq!(s["intent"]["name"], "refund", "{s}");
        assert_eq!(s["intent_differs"], i != 2, "{text}: {s}");
        assert!(
            s["trace"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["role"] == "shadow" && t["version_id"] == shadow)
        );
    }
    let (status, diff) = env.get(
        &format!("/v1/tenants/demo/slots/classify/versions/{shadow}/diff"),
        OPERATOR_KEY,
    );
    assert_eq!(status, 200, "{diff}");
    assert_eq!(diff["messages"], 4);
    assert_eq!(diff["intent_differs"], 3);
    assert!(diff["route_differs"].as_u64().unwrap() >= 1, "{diff}");
    let example = &diff["examples"][0];
    assert_eq!(example["active"]["intent"], "logistics");
    assert_eq!(example["shadow"]["intent"], "refund");
}

#[test]
fn activate_and_rollback_swap_the_deciding_version_at_once() {
    let env = TestEnv::demo();
    let original = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    let candidate = stage_fixture(&env, "ok");
    let before = env.send("swap", "where is my package?", "c", "standard");
    assert_eq!(decided_by(&before), original);

    let rollout = env.lifecycle("demo", "classify", candidate, "activate");
    let states: HashMap<u64, String> = rollout["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(states[&candidate], "active");
    assert_eq!(states[&original], "retired");
    let after = env.send("swap", "where is my package?", "c", "standard");
    assert_eq!(decided_by(&after), candidate);
    assert_eq!(after["intent"]["name"], "refund");

    let (status, _) = env.post(
        "/v1/tenants/demo/slots/classify/rollback",
        OPERATOR_KEY,
        &json!({}),
    );
    assert_eq!(status, 200);
    let back = env.send("swap", "where is my package?", "c", "standard");
    assert_eq!(decided_by(&back), original);
    assert_eq!(back["intent"]["name"], "logistics");

    // The audit log says who (which key), what, from which version to which, why.
    let (_, log) = env.get("/v1/tenants/demo/audit", OPERATOR_KEY);
    let ours: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"]["kind"] == "operator")
        .collect();
    let actions: Vec<&str> = ours.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["stage", "activate", "rollback"]);
    let activate = ours[1];
    assert_eq!(activate["from"][0]["id"], original);
    assert_eq!(activate["to"][0]["id"], candidate);
    assert_eq!(activate["slot"], "classify");
    assert!(activate["at_ms"].as_u64().unwrap() > 0);
    assert!(activate["reason"].as_str().unwrap().contains("fixture@1"));
    let fingerprint = &switchyard::app::hash_key(OPERATOR_KEY)[..12];
    assert!(ours.iter().all(|e| e["actor"]["key"] == fingerprint));
    let (status, body) = env.post(
        "/v1/tenants/demo/slots/classify/rollback",
        OPERATOR_KEY,
        &json!({}),
    );
    assert_eq!(status, 409, "nothing earlier to roll back to: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to roll back to")
    );
    // Lifecycle commands need the operator key.
    let (status, _) = env.post(
        "/v1/tenants/demo/slots/classify/rollback",
        DEMO_KEY,
        &json!({}),
    );
    assert_eq!(status, 403);
}

#[test]
fn a_canary_is_sticky_per_conversation() {
    let env = TestEnv::demo();
    let original = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    let canary = stage_fixture(&env, "ok");
    let (status, body) = env.post(
        &format!("/v1/tenants/demo/slots/classify/versions/{canary}/canary"),
        OPERATOR_KEY,
        &json!({"percent": 30}),
    );
    assert_eq!(status, 200, "{body}");
    let mut on_canary = 0;
    for conversation in 0..40 {
        let deciders: HashSet<u64> = (0..3)
            .map(|_| {
                decided_by(&env.send(
                    &format!("sticky-{conversation}"),
                    "where is my package?",
                    "c",
                    "standard",
                ))
            })
            .collect();
        assert_eq!(
            deciders.len(),
            1,
            "conversation {conversation} switched versions: {deciders:?}"
        );
        let decider = *deciders.iter().next().unwrap();
        assert!(decider == original || decider == canary);
        on_canary += usize::from(decider == canary);
    }
    assert!(
        (4..=22).contains(&on_canary),
        "30% of 40 conversations, got {on_canary}"
    );
    let (status, body) = env.post(
        &format!("/v1/tenants/demo/slots/classify/versions/{canary}/canary"),
        OPERATOR_KEY,
        &json!({"percent": 100}),
    );
    assert_eq!(status, 422, "{body}");
}

#[test]
fn the_breaker_takes_a_failing_canary_out_and_the_previous_version_serves() {
    let env = TestEnv::demo();
    let original = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    // Passes its smoke run, then traps on every message that says "boom".
    let broken = stage_fixture(&env, "only:boom:trap");
    let (status, body) = env.post(
        &format!("/v1/tenants/demo/slots/classify/versions/{broken}/canary"),
        OPERATOR_KEY,
        &json!({"percent": 99}),
    );
    assert_eq!(status, 200, "{body}");
    let mut traps = 0;
    for i in 0..40 {
        let r = env.send(
            &format!("boom-{i}"),
            "boom, where is my package?",
            "c",
            "standard",
        );
        traps += trace_of(&r, "classify")
            .iter()
            .filter(|t| t["outcome"] == "trap")
            .count();
    }
    assert_eq!(traps, 5, "the breaker trips at the fifth failure");
    let states: HashMap<u64, String> = versions(&env, "classify")
        .iter()
        .map(|v| {
            (
                v["id"].as_u64().unwrap(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(states[&broken], "retired");
    assert_eq!(states[&original], "active");
    let after = env.send("boom-after", "boom, where is my package?", "c", "standard");
    assert_eq!(decided_by(&after), original);

    let (_, log) = env.get("/v1/tenants/demo/audit", OPERATOR_KEY);
    let trip = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "breaker")
        .expect("breaker event");
    assert_eq!(trip["actor"]["kind"], "breaker");
    assert_eq!(
        trip["from"].as_array().unwrap().len(),
        2,
        "active and canary decided before"
    );
    assert_eq!(trip["to"][0]["id"], original);
    assert!(
        trip["reason"].as_str().unwrap().contains("5 failed calls"),
        "{trip}"
    );
    let (_, metrics) = env.request(
        axum::http::Method::GET,
        "/metrics",
        Some(OPERATOR_KEY),
        None,
        "",
    );
    assert!(metrics.as_str().unwrap().contains(
        "switchyard_lifecycle_changes_total{tenant=\"demo\",slot=\"classify\",action=\"breaker\"} 1"
    ));
}

#[test]
fn the_breaker_restores_the_previous_active_version() {
    let env = TestEnv::demo();
    let original = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    let broken = stage_fixture(&env, "only:boom:trap");
    env.lifecycle("demo", "classify", broken, "activate");
    for i in 0..5 {
        env.send(&format!("boom-{i}"), "boom", "c", "standard");
    }
    assert_eq!(active_version(&env, "demo", "classify")["id"], original);
    let r = env.send("boom-after", "boom, where is my package?", "c", "standard");
    assert_eq!(decided_by(&r), original);
}

#[test]
fn rollouts_survive_a_restart() {
    let env = TestEnv::demo();
    let shadow = stage_fixture(&env, "ok");
    env.lifecycle("demo", "classify", shadow, "shadow");
    let canary = stage_fixture(&env, "count");
    env.post(
        &format!("/v1/tenants/demo/slots/classify/versions/{canary}/canary"),
        OPERATOR_KEY,
        &json!({"percent": 50}),
    );
    let before = versions(&env, "classify");
    let dir = env.shutdown();
    let env = TestEnv::open(dir, switchyard::runtime::Limits::default());
    assert_eq!(versions(&env, "classify"), before);
    let r = env.send("after-restart", "where is my package?", "c", "standard");
    assert!(
        r["shadow"]["trace"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["version_id"] == shadow)
    );
}

/// When each change took effect, and the versions that decide from then on.
type Timeline = Vec<(Instant, HashSet<u64>)>;
/// One message: sent, answered, status, the version that decided it.
type Sent = (Instant, Instant, u16, Option<u64>);

/// Several connections send messages without pause while the operator
/// activates, canaries, stops and rolls back versions over 100 times. No
/// request may fail, and every message must be decided by a version that was
/// bound at some moment while it was being handled.
#[test]
fn hot_swaps_under_load_drop_nothing() {
    let env = TestEnv::demo();
    let base = env.serve();
    let a = active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    let b = stage_fixture(&env, "ok");

    // (when, versions that decide from then on)
    let timeline: Arc<Mutex<Timeline>> =
        Arc::new(Mutex::new(vec![(Instant::now(), HashSet::from([a]))]));
    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (base, stop, results) = (base.clone(), stop.clone(), results.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build()
                    .into();
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 5_000 {
                    n += 1;
                    let body = json!({"text": "where is my package?", "customer": {"id": format!("load-{client}-{n}")}});
                    let started = Instant::now();
                    let response = agent
                        .post(format!("{base}/v1/conversations/load-{client}-{n}/messages"))
                        .header("Authorization", format!("Bearer {DEMO_KEY}"))
                        .send_json(&body);
                    let ended = Instant::now();
                    let (status, decider) = match response {
                        Ok(mut r) => {
                            let status = r.status().as_u16();
                            let value: Value = r.body_mut().read_json().unwrap_or(Value::Null);
                            let decider = (status == 201).then(|| decided_by(&value));
                            (status, decider)
                        }
                        Err(_) => (0, None),
                    };
                    results.lock().unwrap().push((started, ended, status, decider));
                }
            })
        })
        .collect();

    let ops: u32 = 120;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let command = |path: String, body: Value| -> Value {
        let mut r = agent
            .post(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {OPERATOR_KEY}"))
            .send_json(&body)
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.body_mut().read_json().unwrap()
    };
    let deciding = |rollout: &Value| -> HashSet<u64> {
        rollout["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "active" || v["state"] == "canary")
            .map(|v| v["id"].as_u64().unwrap())
            .collect()
    };
    let slot = "/v1/tenants/demo/slots/classify";
    for i in 0..ops {
        let rollout = match i % 6 {
            0 => command(format!("{slot}/versions/{b}/activate"), json!({})),
            1 => command(format!("{slot}/rollback"), json!({})),
            2 => command(
                format!("{slot}/versions/{b}/canary"),
                json!({"percent": 50}),
            ),
            3 => command(format!("{slot}/versions/{b}/stage"), json!({})),
            4 => command(format!("{slot}/versions/{b}/activate"), json!({})),
            _ => command(format!("{slot}/versions/{a}/activate"), json!({})),
        };
        timeline
            .lock()
            .unwrap()
            .push((Instant::now(), deciding(&rollout)));
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    let timeline = timeline.lock().unwrap();
    let results = results.lock().unwrap();
    assert!(
        results.len() >= 100,
        "only {} messages were sent",
        results.len()
    );
    let failed = results.iter().filter(|r| r.2 != 201).count();
    assert_eq!(failed, 0, "{failed} of {} requests failed", results.len());
    let mut misdecided = 0;
    for (started, ended, _, decider) in results.iter() {
        let decider = decider.expect("every trace names the deciding version");
        // Bound at the start (the last change before it) or by any change while it ran.
        let at_start = timeline
            .iter()
            .rev()
            .find(|(t, _)| t <= started)
            .map(|(_, s)| s);
        let during = timeline
            .iter()
            .filter(|(t, _)| t > started && t <= ended)
            .map(|(_, s)| s);
        let allowed: HashSet<u64> = at_start
            .into_iter()
            .chain(during)
            .flatten()
            .copied()
            .collect();
        // A change is recorded just after its API call returns, so a message
        // may also run on the set being swapped in at that moment.
        let next = timeline
            .iter()
            .find(|(t, _)| t > ended)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        if !allowed.contains(&decider) && !next.contains(&decider) {
            misdecided += 1;
        }
    }
    assert_eq!(
        misdecided, 0,
        "messages decided by a version not bound while they ran"
    );
    println!(
        "{} messages on 4 connections, {ops} lifecycle changes, 0 failed, 0 misdecided",
        results.len()
    );
}
