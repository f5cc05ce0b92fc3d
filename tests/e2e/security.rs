//! Tenant isolation, keys, personal data and per-key limits, at the HTTP API.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard::api::throttle::{RatePolicy, Throttle};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv, trace_of};

fn fixture_sha(env: &TestEnv) -> String {
    switchyard_e2e::upload_misbehaving(env)
}

#[test]
fn keys_are_stored_hashed_and_rotate_with_an_optional_grace_period() {
    let env = TestEnv::demo();
    let old = env.create_tenant("acme");
    env.send_as(&old, "k1", "hello", "c1", "standard");

    // Tenant rotates its own key with a grace period: both work meanwhile.
    let (status, body) = env.post("/v1/key", &old, &json!({"grace_secs": 60}));
    assert_eq!(status, 200, "{body}");
    let second = body["api_key"].as_str().unwrap().to_string();
    assert_ne!(second, old);
    assert_eq!(env.get("/v1/conversations/k1", &old).0, StatusCode::OK);
    assert_eq!(env.get("/v1/conversations/k1", &second).0, StatusCode::OK);
    // A tenant may not choose its key.
    let (status, _) = env.post("/v1/key", &second, &json!({"api_key": "chosen-by-me"}));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The operator rotates with no grace: only the newest key works, and the
    // key in grace before is gone too.
    let (status, body) = env.post("/v1/tenants/acme/key", OPERATOR_KEY, &json!({}));
    assert_eq!(status, 200, "{body}");
    let third = body["api_key"].as_str().unwrap().to_string();
    for stale in [&old, &second] {
        assert_eq!(
            env.get("/v1/conversations/k1", stale).0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(env.get("/v1/conversations/k1", &third).0, StatusCode::OK);
    let (_, audit) = env.get("/v1/tenants/acme/audit", OPERATOR_KEY);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "rotate-key").count(),
        2,
        "{audit}"
    );

    // No key is on disk in clear, only its sha256.
    env.app.storage.flush_blocking().unwrap();
    for key in [&old, &second, &third, &DEMO_KEY.to_string()] {
        assert!(
            !data_dir_contains(&env, key.as_bytes()),
            "{key} stored in clear"
        );
    }
}

/// Issue 15, item 2: a key in its grace period could rotate the tenant's
/// key. A tenant rotated K1 -> K2 because K1 leaked; whoever held K1 called
/// `POST /v1/key`, got K3, and K2 stopped working.
#[test]
fn a_key_in_its_grace_period_may_read_but_not_rotate() {
    let env = TestEnv::demo();
    let leaked = env.create_tenant("acme");
    let (status, body) = env.post("/v1/key", &leaked, &json!({"grace_secs": 600}));
    assert_eq!(status, 200, "{body}");
    let current = body["api_key"].as_str().unwrap().to_string();
    let before = env.app.storage.fingerprint().unwrap();
    let (status, body) = env.post("/v1/key", &leaked, &json!({"grace_secs": 0}));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("grace period"),
        "{body}"
    );
    assert_eq!(
        env.app.storage.fingerprint().unwrap(),
        before,
        "nothing written"
    );
    // Both still read; the current key still rotates.
    assert_eq!(env.get("/v1/settings", &leaked).0, StatusCode::OK);
    assert_eq!(env.get("/v1/settings", &current).0, StatusCode::OK);
    let (status, body) = env.post("/v1/key", &current, &json!({}));
    assert_eq!(status, 200, "{body}");
}

fn data_dir_contains(env: &TestEnv, needle: &[u8]) -> bool {
    fn walk(dir: &std::path::Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p, needle)
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                bytes.windows(needle.len()).any(|w| w == needle)
            }
        })
    }
    walk(env.dir.path(), needle)
}

#[test]
fn every_tenant_endpoint_refuses_no_key_and_hides_other_tenants_data() {
    let env = TestEnv::demo();
    let other = env.create_tenant("other");
    // Demo data the other tenant must never see.
    let r = env.send(
        "secret-conv",
        "我要退款，订单号 2024113012345",
        "secret-cust",
        "standard",
    );
    let ticket = r["ticket"]["id"].as_str().unwrap().to_string();
    let tenant_reads = [
        "/v1/conversations/secret-conv".to_string(),
        format!("/v1/tickets/{ticket}"),
        "/v1/agents/li.na".to_string(),
        "/v1/knowledge/articles/kb-refund-timeline".to_string(),
    ];
    for path in &tenant_reads {
        assert_eq!(
            env.get(path, DEMO_KEY).0,
            StatusCode::OK,
            "{path} exists for its tenant"
        );
        assert_eq!(
            env.request(axum::http::Method::GET, path, None, None, "").0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let (status, body) = env.get(path, &other);
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        // The operator key acts for no tenant.
        assert_eq!(
            env.get(path, OPERATOR_KEY).0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    for path in [
        "/v1/tickets",
        "/v1/agents",
        "/v1/knowledge/articles",
        "/v1/settings",
    ] {
        let (status, body) = env.get(path, &other);
        assert_eq!(status, StatusCode::OK, "{path}");
        let text = body.to_string();
        assert!(
            !text.contains("secret-cust")
                && !text.contains("li.na")
                && !text.contains("kb-refund-timeline"),
            "{path}: {text}"
        );
    }
    let (status, _) = env.request(
        axum::http::Method::DELETE,
        "/v1/customers/secret-cust",
        Some(&other),
        None,
        "",
    );
    assert_eq!(
        status,
        StatusCode::OK,
        "deleting a customer the tenant does not have deletes nothing"
    );
    assert_eq!(
        env.get("/v1/conversations/secret-conv", DEMO_KEY).0,
        StatusCode::OK
    );
    // Operator-only actions, with a tenant key.
    for (method, path) in [
        ("GET", "/v1/tenants"),
        ("GET", "/v1/plugins"),
        ("GET", "/v1/tenants/other/limits"),
        ("GET", "/v1/tenants/other/audit"),
        ("POST", "/v1/tenants/other/key"),
        ("GET", "/metrics"),
    ] {
        let method: axum::http::Method = method.parse().unwrap();
        let (status, _) = env.request(
            method,
            path,
            Some(&other),
            Some(axum::body::Body::from("{}")),
            "application/json",
        );
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[test]
fn plugins_read_only_their_own_tenants_data_through_the_host() {
    let env = TestEnv::demo();
    let other = env.create_tenant("other");
    // Same conversation and customer ids in both tenants.
    env.send_as(
        &other,
        "shared",
        "OTHER-SECRET text",
        "same-customer",
        "standard",
    );
    let (status, body) = env.post(
        "/v1/agents",
        &other,
        &json!({"id": "other-agent", "name": "O", "skills": ["general"], "capacity": 3}),
    );
    assert_eq!(status, 201, "{body}");
    env.send("shared", "DEMO-OWN text", "same-customer", "standard");
    let sha = fixture_sha(&env);
    let (status, body) = env.bind("demo", "classify", &[(&sha, "snoop")]);
    assert_eq!(status, 200, "{body}");
    let r = env.send("shared", "退款 refund", "same-customer", "standard");
    let seen = r["intent"]["name"].as_str().unwrap();
    assert!(seen.contains("history=DEMO-OWN text"), "{seen}");
    assert!(seen.contains("agent=li.na"), "{seen}");
    assert!(
        !seen.contains("OTHER-SECRET") && !seen.contains("other-agent"),
        "{seen}"
    );
    // Pack names cannot reach outside the tenant either.
    assert!(seen.contains("pack=../other/pharmacy:Err"), "{seen}");
}

#[test]
fn personal_data_is_masked_in_logs_traces_and_optionally_in_stored_messages() {
    let env = TestEnv::demo();
    let sha = fixture_sha(&env);
    let good = switchyard_e2e::active_version(&env, "demo", "classify");
    let (status, body) = env.bind(
        "demo",
        "classify",
        &[
            (&sha, "only:退款:leak-pii"),
            (
                good["sha256"].as_str().unwrap(),
                good["config"].as_str().unwrap(),
            ),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let text = "我要退款，手机13812345678，卡号4111111111111111";
    // Capture what the host logs while deciding (the call runs on this thread).
    let logs = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || Capture(logs.clone())
        })
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let record = tracing::subscriber::with_default(subscriber, || {
        env.app
            .handle_message(
                "demo",
                "pii-1",
                switchyard::app::NewMessage {
                    text: text.into(),
                    channel: "web".into(),
                    customer: serde_json::from_value(json!({"id": "pii-cust", "tier": "standard"}))
                        .unwrap(),
                },
            )
            .unwrap()
    });
    let logged = String::from_utf8(logs.lock().unwrap().concat()).unwrap();
    assert!(
        logged.contains("*******5678"),
        "the plugin's log line was written, masked: {logged}"
    );
    assert!(
        !logged.contains("13812345678") && !logged.contains("4111111111111111"),
        "{logged}"
    );
    let trace = serde_json::to_string(&record.decision.trace).unwrap();
    assert!(trace.contains("*******5678"), "{trace}");
    assert!(!trace.contains("13812345678"), "{trace}");
    // Stored as written by default...
    let (_, conv) = env.get("/v1/conversations/pii-1", DEMO_KEY);
    assert_eq!(conv["messages"][0]["text"], text, "{conv}");
    // ...masked once the tenant asks for it.
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    settings["mask_stored_messages"] = json!(true);
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, 200, "{body}");
    env.send("pii-2", text, "pii-cust", "standard");
    let (_, conv) = env.get("/v1/conversations/pii-2", DEMO_KEY);
    let stored = conv["messages"][0]["text"].as_str().unwrap();
    assert!(
        !stored.contains("13812345678") && !stored.contains("4111111111111111"),
        "{stored}"
    );
    assert!(
        stored.contains("5678") && stored.contains("我要退款"),
        "{stored}"
    );
}

struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);

/// Issue 15, item 6: a plugin's log line with a newline forged a separate
/// host log line, since the text formatter does not escape messages.
#[test]
fn a_plugin_cannot_forge_a_host_log_line_with_a_newline() {
    let env = TestEnv::demo();
    let sha = fixture_sha(&env);
    let (status, body) = env.bind("demo", "classify", &[(&sha, "only:退款:leak-pii")]);
    assert_eq!(status, 200, "{body}");
    let forged = "2026-12-02T00:00:00.000000Z ERROR switchyard::api: operator key rotated";
    let text = format!("我要退款\n{forged}\r\u{1b}[2K");
    let logs = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || Capture(logs.clone())
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        env.app
            .handle_message(
                "demo",
                "forge-1",
                switchyard::app::NewMessage {
                    text,
                    channel: "web".into(),
                    customer: serde_json::from_value(json!({"id": "forger", "tier": "standard"}))
                        .unwrap(),
                },
            )
            .unwrap()
    });
    let logged = String::from_utf8(logs.lock().unwrap().concat()).unwrap();
    let plugin_lines: Vec<&str> = logged.lines().filter(|l| l.contains("退款")).collect();
    assert_eq!(
        plugin_lines.len(),
        1,
        "the plugin's line was written once: {logged}"
    );
    assert!(
        plugin_lines[0].contains("\\n2026-12-02") && plugin_lines[0].contains("\\u{1b}"),
        "escaped: {logged}"
    );
    assert!(
        !logged.lines().any(|l| l.starts_with("2026-12-02T00:00:00")),
        "a forged line: {logged}"
    );
    assert!(!logged.contains('\u{1b}'), "{logged:?}");
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().push(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn forgetting_a_customer_deletes_their_data_and_only_theirs() {
    let env = TestEnv::demo();
    let r = env.send(
        "gone-1",
        "我要退款，订单号 2024113012345",
        "leaver",
        "standard",
    );
    assert!(r["ticket"]["id"].is_string(), "{r}");
    env.send("gone-2", "转人工", "leaver", "vip");
    env.send(
        "kept-1",
        "我要退款，订单号 2024113099999",
        "stayer",
        "standard",
    );
    let (_, agents_before) = env.get("/v1/agents", DEMO_KEY);
    let (status, report) = env.request(
        axum::http::Method::DELETE,
        "/v1/customers/leaver",
        Some(DEMO_KEY),
        None,
        "",
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["conversations"], 2, "{report}");
    assert_eq!(report["messages"], 2, "{report}");
    assert_eq!(report["tickets"], 1, "{report}");
    for c in ["gone-1", "gone-2"] {
        assert_eq!(
            env.get(&format!("/v1/conversations/{c}"), DEMO_KEY).0,
            StatusCode::NOT_FOUND
        );
        // The history lines plugins read go with the messages.
        assert!(
            env.app
                .storage
                .recent_history("demo", c, 10)
                .unwrap()
                .is_empty(),
            "{c}"
        );
    }
    assert_eq!(
        env.app
            .storage
            .recent_history("demo", "kept-1", 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        env.get("/v1/conversations/kept-1", DEMO_KEY).0,
        StatusCode::OK
    );
    let (_, tickets) = env.get("/v1/tickets", DEMO_KEY);
    let owners: Vec<&str> = tickets["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["stayer"]);
    // The agent who had the VIP conversation has the load back.
    let load = |agents: &Value| -> u64 {
        agents["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["load"].as_u64().unwrap())
            .sum()
    };
    let (_, agents_after) = env.get("/v1/agents", DEMO_KEY);
    assert!(
        load(&agents_after) < load(&agents_before),
        "{agents_before} -> {agents_after}"
    );
    // The audit names the customer by hash only; nothing of theirs is on disk.
    let (_, audit) = env.get("/v1/tenants/demo/audit", OPERATOR_KEY);
    let event = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "forget-customer")
        .unwrap();
    assert!(!event.to_string().contains("leaver"), "{event}");
    let dir = env.shutdown();
    let env = TestEnv::open(dir, Default::default());
    assert_eq!(
        env.get("/v1/conversations/gone-1", DEMO_KEY).0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.get("/v1/conversations/kept-1", DEMO_KEY).0,
        StatusCode::OK
    );
}

#[test]
fn json_bodies_over_256_kib_are_refused_and_nothing_is_stored() {
    let env = TestEnv::demo();
    let article = |id: &str, body_bytes: usize| {
        json!({"id": id, "title": "big", "scenario": "s", "problem_type": "p",
               "keywords": [], "body": "x".repeat(body_bytes), "published": false})
    };
    let (status, body) = env.post(
        "/v1/knowledge/articles",
        DEMO_KEY,
        &article("under", 250 << 10),
    );
    assert_eq!(status, StatusCode::CREATED, "just under the limit: {body}");
    let (status, body) = env.post(
        "/v1/knowledge/articles",
        DEMO_KEY,
        &article("over", 256 << 10),
    );
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(
        env.get("/v1/knowledge/articles/over", DEMO_KEY).0,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn each_key_has_its_own_request_rate() {
    let env = TestEnv::demo().with_throttle(Throttle::new(
        RatePolicy {
            per_second: 0.5,
            burst: 3.0,
        },
        2,
    ));
    let other = env.create_tenant("other");
    for _ in 0..2 {
        assert_eq!(env.get("/v1/agents", DEMO_KEY).0, StatusCode::OK);
    }
    let (status, body) = env.get("/v1/agents", DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = env.get("/v1/agents", DEMO_KEY);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert_eq!(
        env.get("/v1/agents", &other).0,
        StatusCode::OK,
        "another key is not slowed down"
    );
}

#[test]
fn operators_set_limits_per_tenant_and_per_version_within_bounds() {
    let env = TestEnv::demo();
    let (status, limits) = env.get("/v1/tenants/demo/limits", OPERATOR_KEY);
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["defaults"]["fuel"], 20_000_000);
    // Out of range, or unknown: refused, nothing changes.
    let (status, body) = env.put(
        "/v1/tenants/demo/limits",
        OPERATOR_KEY,
        &json!({"deadline_ms": 0}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = env.put(
        "/v1/tenants/demo/limits",
        OPERATOR_KEY,
        &json!({"fuel_units": 5}),
    );
    assert!(status.is_client_error());
    // Limits the tenant's own plugins cannot work within are refused, naming one.
    let (status, body) = env.put(
        "/v1/tenants/demo/limits",
        OPERATOR_KEY,
        &json!({"init_fuel": 1000}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not work within these limits"),
        "{body}"
    );
    let r = env.send("lim-1", "我要退款", "c", "standard");
    assert_eq!(trace_of(&r, "classify")[0]["outcome"], "ok");
    // A workable change applies at once, and a version can override it.
    let (status, body) = env.put(
        "/v1/tenants/demo/limits",
        OPERATOR_KEY,
        &json!({"fuel": 5_000_000}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["effective"]["fuel"], 5_000_000);
    let id = switchyard_e2e::active_version(&env, "demo", "classify")["id"]
        .as_u64()
        .unwrap();
    let (status, body) = env.put(
        &format!("/v1/tenants/demo/slots/classify/versions/{id}/limits"),
        OPERATOR_KEY,
        &json!({"fuel": 10_000}),
    );
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "10,000 units cannot classify: {body}"
    );
    let r = env.send("lim-2", "我要退款", "c", "standard");
    assert_eq!(trace_of(&r, "classify")[0]["outcome"], "ok");
    assert!(trace_of(&r, "classify")[0]["fuel"].as_u64().unwrap() > 0);
}

#[test]
fn a_route_to_a_queue_the_tenant_did_not_declare_falls_back() {
    let env = TestEnv::demo();
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    let queues: Vec<Value> = settings["queues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| *q != "after-sales")
        .cloned()
        .collect();
    settings["queues"] = json!(queues);
    assert_eq!(
        env.put("/v1/settings", DEMO_KEY, &settings).0,
        StatusCode::OK
    );
    let r = env.send("q-1", "我要退款，东西坏了，转人工", "q-cust", "standard");
    let route = trace_of(&r, "route");
    assert_eq!(route[0]["outcome"], "invalid-output", "{r}");
    assert_eq!(route[1]["plugin"], "default");
    assert_eq!(r["route"]["queue"], "general", "{r}");
}
