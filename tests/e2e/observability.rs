//! `/healthz` and the Prometheus `/metrics`.

use axum::http::{Method, StatusCode};
use switchyard_e2e::{DEMO_KEY, TestEnv};

#[test]
fn metrics_count_messages_escalations_and_plugin_calls() {
    let env = TestEnv::demo();
    env.send("m-1", "转人工", "u", "standard");
    env.send("m-2", "where is my package?", "u2", "standard");
    let (status, health) = env.request(Method::GET, "/healthz", None, None, "");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["store"]["durability"], "group-commit", "{health}");
    assert_eq!(health["store"]["waiting"], 0, "{health}");
    assert!(
        health["store"]["flushes"].as_u64().unwrap() >= 2,
        "{health}"
    );
    assert!(health["blocking_pool_wait_us"].is_u64(), "{health}");
    let (status, _) = env.request(Method::GET, "/metrics", None, None, "");
    assert_eq!(status, 401, "metrics list every tenant: operator key only");
    let (status, _) = env.request(
        Method::GET,
        "/metrics",
        Some(switchyard_e2e::DEMO_KEY),
        None,
        "",
    );
    assert_eq!(status, 403);
    let (status, text) = env.request(
        Method::GET,
        "/metrics",
        Some(switchyard_e2e::OPERATOR_KEY),
        None,
        "",
    );
    assert_eq!(status, 200);
    let text = text.as_str().unwrap();
    assert!(
        text.contains("switchyard_messages_total{tenant=\"demo\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_escalations_total{tenant=\"demo\",reason=\"asked-for-human\"} 1"),
        "{text}"
    );
    assert!(text.contains("switchyard_plugin_calls_total{tenant=\"demo\",slot=\"classify\",plugin=\"classifier@0.1.0\",outcome=\"ok\"} 2"), "{text}");
    assert!(text.contains("switchyard_plugin_call_seconds_bucket{slot=\"inspect\",plugin=\"inspector@0.1.0\",le=\"+Inf\"} 2"), "{text}");
    assert!(
        text.contains("switchyard_pipeline_seconds_count{tenant=\"demo\"} 2"),
        "{text}"
    );
}

/// The desks' live state for alerts: waiting per queue, the longest wait,
/// agents online (issue 19: Prometheus gauges for the live figures).
#[test]
fn metrics_carry_the_live_queues_and_agents_online() {
    let env = TestEnv::demo();
    let (_, agents) = env.get("/v1/agents?limit=100", DEMO_KEY);
    let all = agents["agents"].as_array().unwrap();
    assert!(!all.is_empty());
    for agent in all {
        let mut record = agent.clone();
        let record_obj = record.as_object_mut().unwrap();
        record_obj.remove("load");
        record_obj.insert("status".into(), serde_json::json!("away"));
        let id = agent["id"].as_str().unwrap();
        let (status, body) = env.put(&format!("/v1/agents/{id}"), DEMO_KEY, &record);
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for i in 0..2 {
        let r = env.send(
            &format!("gauge-{i}"),
            "耳机有杂音，我要退款",
            &format!("c-{i}"),
            "standard",
        );
        assert_eq!(r["route"]["queue"], "after-sales", "{r}");
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let metrics = env.metrics();
    assert!(
        metrics.contains("switchyard_queue_waiting{tenant=\"demo\",queue=\"after-sales\"} 2\n"),
        "{metrics}"
    );
    let longest = metrics
        .lines()
        .find(|l| {
            l.starts_with(
                "switchyard_queue_longest_wait_seconds{tenant=\"demo\",queue=\"after-sales\"}",
            )
        })
        .unwrap_or_else(|| panic!("no longest wait: {metrics}"));
    let secs: f64 = longest.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((1.0..60.0).contains(&secs), "{longest}");
    assert!(
        metrics.contains("switchyard_agents_online{tenant=\"demo\"} 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE switchyard_queue_waiting gauge"));
}
