//! `/healthz` and the Prometheus `/metrics`.

use axum::http::Method;
use switchyard_e2e::TestEnv;

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
