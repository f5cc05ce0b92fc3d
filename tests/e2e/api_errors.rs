//! Bad requests get the right 4xx with a clear `{"error": {"code", "message"}}`,
//! never a 5xx, and nothing is stored from a refused request.

use axum::body::Body;
use axum::http::Method;
use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv};

fn assert_error(status: axum::http::StatusCode, body: &Value, expected: u16, code: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap().is_empty(),
        "{body}"
    );
}

fn post_raw(
    env: &TestEnv,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (axum::http::StatusCode, Value) {
    env.request(
        Method::POST,
        path,
        key,
        Some(Body::from(body.to_string())),
        "application/json",
    )
}

const MESSAGES: &str = "/v1/conversations/bad-1/messages";

#[test]
fn malformed_and_incomplete_bodies_are_400() {
    let env = TestEnv::demo();
    for body in [
        "{not json",
        r#"{"text": "hi"}"#,                       // no customer
        r#"{"customer": {"id": "c"}}"#,            // no text
        r#"{"text": 5, "customer": {"id": "c"}}"#, // wrong type
        r#"{"text": "hi", "customer": {"id": "c", "tier": "platinum"}}"#, // unknown tier
        r#"{"text": "hi", "customer": {"id": "c"}, "surprise": true}"#, // unknown field
        "[]",
    ] {
        let (status, response) = post_raw(&env, MESSAGES, Some(DEMO_KEY), body);
        assert_error(status, &response, 400, "bad_request");
    }
    // Not JSON at all.
    let (status, response) = env.request(
        Method::POST,
        MESSAGES,
        Some(DEMO_KEY),
        Some(Body::from("hi")),
        "text/plain",
    );
    assert_error(status, &response, 415, "unsupported_media_type");
    // Nothing was stored.
    let (status, _) = env.get("/v1/conversations/bad-1", DEMO_KEY);
    assert_eq!(status, 404);
}

#[test]
fn invalid_values_are_422_and_store_nothing() {
    let env = TestEnv::demo();
    let long = "字".repeat(4000);
    for (path, body) in [
        (MESSAGES, json!({"text": "   ", "customer": {"id": "c"}})),
        (MESSAGES, json!({"text": long, "customer": {"id": "c"}})),
        (
            MESSAGES,
            json!({"text": "hi", "customer": {"id": "../etc/passwd"}}),
        ),
        (
            MESSAGES,
            json!({"text": "hi", "channel": "", "customer": {"id": "c"}}),
        ),
        (
            "/v1/conversations/..%2F..%2Fx/messages",
            json!({"text": "hi", "customer": {"id": "c"}}),
        ),
        (
            "/v1/conversations/a%20b/messages",
            json!({"text": "hi", "customer": {"id": "c"}}),
        ),
    ] {
        let (status, response) = env.post(path, DEMO_KEY, &body);
        assert_error(status, &response, 422, "unprocessable");
    }
    let (status, _) = env.get("/v1/conversations/bad-1", DEMO_KEY);
    assert_eq!(status, 404);
}

#[test]
fn unknown_things_are_404() {
    let env = TestEnv::demo();
    let (status, body) = env.get("/v1/conversations/never-seen", DEMO_KEY);
    assert_error(status, &body, 404, "not_found");
    let (status, body) = env.get("/v1/tickets/t-nope", DEMO_KEY);
    assert_error(status, &body, 404, "not_found");
    // Issue 15, item 11: under /v1 the message blamed the prefix.
    let (status, body) = env.get("/v1/nothing-here", DEMO_KEY);
    assert_error(status, &body, 404, "not_found");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(message, "no such endpoint: GET /v1/nothing-here");
    let (status, body) = env.get("/conversations/x", DEMO_KEY);
    assert_error(status, &body, 404, "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lives under /v1"),
        "{body}"
    );
    let (status, body) = env.post("/v1/conversations/never-seen/close", DEMO_KEY, &json!({}));
    assert_error(status, &body, 404, "not_found");
    let (status, body) = env.request(Method::DELETE, "/v1/tickets", Some(DEMO_KEY), None, "");
    assert_error(status, &body, 405, "method_not_allowed");
}

#[test]
fn keys_are_checked_and_tenants_are_isolated() {
    let env = TestEnv::demo();
    env.send(
        "mine",
        "我要退款，订单号 2024113012345",
        "cust-1",
        "standard",
    );
    let other = env.create_tenant("acme");

    // No key, a malformed header, an unknown key.
    let (status, body) = env.request(Method::GET, "/v1/conversations/mine", None, None, "");
    assert_error(status, &body, 401, "unauthorized");
    let (status, body) = env.get("/v1/conversations/mine", "not-a-real-key");
    assert_error(status, &body, 401, "unauthorized");

    // Another tenant's key sees nothing of the demo tenant.
    let (status, body) = env.get("/v1/conversations/mine", &other);
    assert_error(status, &body, 404, "not_found");
    assert_eq!(
        env.get("/v1/tickets", &other).1,
        json!({"tickets": [], "next": null})
    );
    assert_eq!(
        env.get("/v1/agents", &other).1,
        json!({"agents": [], "next": null})
    );
    assert_eq!(
        env.get("/v1/knowledge/articles", &other).1,
        json!({"articles": [], "next": null})
    );
    // Writing into the same conversation id as another tenant creates its own.
    let theirs = env.send_as(&other, "mine", "hello", "someone-else", "standard");
    assert_eq!(theirs["conversation_id"], "mine");
    let (_, ours) = env.get("/v1/conversations/mine", DEMO_KEY);
    let customer_entries = |view: &serde_json::Value| {
        view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["author"] == "customer")
            .map(|e| e["text"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        customer_entries(&ours),
        [json!("我要退款，订单号 2024113012345")]
    );

    // Operator-only endpoints refuse tenant keys; tenant endpoints refuse the operator key.
    let (status, body) = env.get("/v1/plugins", DEMO_KEY);
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = env.post("/v1/tenants", DEMO_KEY, &json!({"id": "x", "name": "x"}));
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = env.get("/v1/conversations/mine", OPERATOR_KEY);
    assert_error(status, &body, 403, "forbidden");
}

#[test]
fn a_conversation_belongs_to_one_customer() {
    let env = TestEnv::demo();
    env.send("shared", "hello", "alice", "standard");
    let (status, body) = env.post(
        "/v1/conversations/shared/messages",
        DEMO_KEY,
        &json!({"text": "hello", "customer": {"id": "mallory"}}),
    );
    assert_error(status, &body, 409, "conflict");
}

#[test]
fn bad_plugin_uploads_and_bindings_are_refused_with_the_reason() {
    let env = TestEnv::demo();
    let (status, body) = env.upload("junk", "1", b"definitely not wasm");
    assert_error(status, &body, 422, "unprocessable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a valid component"),
        "{body}"
    );
    let (status, body) = env.request(
        Method::POST,
        "/v1/plugins",
        Some(OPERATOR_KEY),
        Some(Body::from("x")),
        "application/wasm",
    );
    assert_error(status, &body, 400, "bad_request");
    let (status, body) = env.bind("demo", "classify", &[(&"0".repeat(64), "")]);
    assert_error(status, &body, 404, "not_found");
    let (status, body) = env.bind("demo", "teleport", &[]);
    assert_error(status, &body, 404, "not_found");
    // A first-party inspector bound to the classify slot names the mismatch.
    let inspector = switchyard_e2e::active_version(&env, "demo", "inspect")["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = env.bind("demo", "classify", &[(&inspector, "{}")]);
    assert_error(status, &body, 422, "unprocessable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("inspect slot"),
        "{body}"
    );
    assert_eq!(
        env.get("/v1/plugins", OPERATOR_KEY).1["plugins"]
            .as_array()
            .unwrap()
            .len(),
        6,
        "nothing stored"
    );
}
