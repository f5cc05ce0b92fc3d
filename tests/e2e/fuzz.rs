//! Generated bad requests against every endpoint: malformed and mistyped
//! JSON, invalid UTF-8, huge numbers, deep nesting, oversized bodies,
//! unknown fields, and path segments with traversal, encoded slashes, NUL
//! and 1,000-byte ids; with the right key, another tenant's, or none.
//!
//! Every answer must be a 2xx or a 4xx with a JSON error that says what is
//! wrong, never a 5xx; and a refused request must store nothing (the sled
//! fingerprint is unchanged). Seeded and reproducible: `FUZZ_SEED`, and
//! `FUZZ_CASES` (default 1,500) for longer runs.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv};

#[derive(Clone, Copy, PartialEq)]
enum Caller {
    Tenant,
    Operator,
    Open,
}

/// Every route, with `{}` where an id goes.
const ENDPOINTS: &[(&str, &str, Caller)] = &[
    ("POST", "/v1/conversations/{}/messages", Caller::Tenant),
    ("GET", "/v1/conversations/{}", Caller::Tenant),
    ("POST", "/v1/conversations/{}/close", Caller::Tenant),
    ("GET", "/v1/conversations", Caller::Tenant),
    ("POST", "/v1/conversations/{}/claim", Caller::Tenant),
    ("POST", "/v1/conversations/{}/replies", Caller::Tenant),
    ("POST", "/v1/conversations/{}/notes", Caller::Tenant),
    ("POST", "/v1/conversations/{}/transfer", Caller::Tenant),
    ("POST", "/v1/conversations/{}/resolve", Caller::Tenant),
    ("GET", "/v1/me", Caller::Tenant),
    (
        "POST",
        "/v1/conversations/{}/suggestions/{}/dismiss",
        Caller::Tenant,
    ),
    ("GET", "/v1/suggestion-outcomes", Caller::Tenant),
    (
        "PUT",
        "/v1/conversations/{}/messages/{}/intent",
        Caller::Tenant,
    ),
    ("GET", "/v1/channel", Caller::Tenant),
    ("PUT", "/v1/channel", Caller::Tenant),
    ("DELETE", "/v1/channel", Caller::Tenant),
    ("GET", "/v1/outbox", Caller::Tenant),
    ("POST", "/v1/outbox/{}/redeliver", Caller::Tenant),
    ("PUT", "/v1/me/status", Caller::Tenant),
    ("POST", "/v1/agents/{}/key", Caller::Tenant),
    // Not `GET /v1/events`: a stream that is right never ends (its errors
    // are tested in `desk`).
    ("GET", "/v1/tickets", Caller::Tenant),
    ("GET", "/v1/tickets/{}", Caller::Tenant),
    ("PATCH", "/v1/tickets/{}", Caller::Tenant),
    ("GET", "/v1/agents", Caller::Tenant),
    ("POST", "/v1/agents", Caller::Tenant),
    ("GET", "/v1/agents/{}", Caller::Tenant),
    ("PUT", "/v1/agents/{}", Caller::Tenant),
    ("GET", "/v1/knowledge/articles", Caller::Tenant),
    ("POST", "/v1/knowledge/articles", Caller::Tenant),
    ("GET", "/v1/knowledge/articles/{}", Caller::Tenant),
    ("PUT", "/v1/knowledge/articles/{}", Caller::Tenant),
    ("DELETE", "/v1/knowledge/articles/{}", Caller::Tenant),
    ("POST", "/v1/knowledge/articles/{}/publish", Caller::Tenant),
    (
        "POST",
        "/v1/knowledge/articles/{}/unpublish",
        Caller::Tenant,
    ),
    ("GET", "/v1/knowledge/search?q={}", Caller::Tenant),
    ("POST", "/v1/knowledge/mine", Caller::Tenant),
    ("GET", "/v1/knowledge/drafts", Caller::Tenant),
    ("GET", "/v1/settings", Caller::Tenant),
    ("PUT", "/v1/settings", Caller::Tenant),
    ("POST", "/v1/key", Caller::Tenant),
    ("DELETE", "/v1/customers/{}", Caller::Tenant),
    ("GET", "/v1/tenants", Caller::Operator),
    ("POST", "/v1/tenants", Caller::Operator),
    ("GET", "/v1/plugins", Caller::Operator),
    ("POST", "/v1/plugins?name={}&version=1", Caller::Operator),
    ("GET", "/v1/tenants/{}/bindings", Caller::Operator),
    ("PUT", "/v1/tenants/{}/bindings/{}", Caller::Operator),
    ("GET", "/v1/tenants/{}/audit", Caller::Operator),
    ("GET", "/v1/tenants/{}/limits", Caller::Operator),
    ("PUT", "/v1/tenants/{}/limits", Caller::Operator),
    ("POST", "/v1/tenants/{}/key", Caller::Operator),
    ("GET", "/v1/tenants/{}/slots/{}", Caller::Operator),
    ("POST", "/v1/tenants/{}/slots/{}/versions", Caller::Operator),
    ("POST", "/v1/tenants/{}/slots/{}/rollback", Caller::Operator),
    ("PUT", "/v1/tenants/{}/slots/{}/lanes", Caller::Operator),
    (
        "POST",
        "/v1/tenants/{}/slots/{}/versions/{}/shadow",
        Caller::Operator,
    ),
    (
        "POST",
        "/v1/tenants/{}/slots/{}/versions/{}/canary",
        Caller::Operator,
    ),
    (
        "POST",
        "/v1/tenants/{}/slots/{}/versions/{}/activate",
        Caller::Operator,
    ),
    (
        "POST",
        "/v1/tenants/{}/slots/{}/versions/{}/stage",
        Caller::Operator,
    ),
    (
        "POST",
        "/v1/tenants/{}/slots/{}/versions/{}/retire",
        Caller::Operator,
    ),
    (
        "GET",
        "/v1/tenants/{}/slots/{}/versions/{}/diff",
        Caller::Operator,
    ),
    (
        "PUT",
        "/v1/tenants/{}/slots/{}/versions/{}/limits",
        Caller::Operator,
    ),
    ("GET", "/v1/queues", Caller::Tenant),
    ("GET", "/v1/stats?days={}", Caller::Tenant),
    ("GET", "/v1/tenants/{}/stats?days={}", Caller::Operator),
    ("GET", "/v1/forecast?hours={}", Caller::Tenant),
    ("GET", "/v1/tenants/{}/forecast?hours={}", Caller::Operator),
    ("GET", "/v1/reports/kpis?days={}&by={}", Caller::Tenant),
    ("GET", "/v1/reports/kpis?from={}&to={}", Caller::Tenant),
    (
        "GET",
        "/v1/tenants/{}/reports/kpis?group={}",
        Caller::Operator,
    ),
    (
        "GET",
        "/v1/reports/canary?slot={}&candidate={}",
        Caller::Tenant,
    ),
    (
        "GET",
        "/v1/tenants/{}/reports/canary?days={}",
        Caller::Operator,
    ),
    ("GET", "/v1/reports/weak-spots?days={}", Caller::Tenant),
    (
        "GET",
        "/v1/tenants/{}/reports/weak-spots?from={}",
        Caller::Operator,
    ),
    ("GET", "/v1/reports/coaching/{}?days={}", Caller::Tenant),
    (
        "GET",
        "/v1/tenants/{}/reports/coaching/{}",
        Caller::Operator,
    ),
    ("GET", "/v1/me/coaching?days={}", Caller::Tenant),
    // The chat's API: no visitor token here, so refused, never a 5xx.
    ("GET", "/chat/{}/api/conversation", Caller::Open),
    ("POST", "/chat/{}/api/messages", Caller::Open),
    ("POST", "/chat/{}/api/survey", Caller::Open),
    ("GET", "/metrics", Caller::Operator),
    ("GET", "/healthz", Caller::Open),
];

/// Field names the API knows, so generated objects often get past the outer layer.
const FIELDS: &[&str] = &[
    "text",
    "channel",
    "customer",
    "id",
    "tier",
    "tags",
    "name",
    "skills",
    "capacity",
    "status",
    "title",
    "scenario",
    "problem_type",
    "keywords",
    "body",
    "published",
    "templates",
    "lang",
    "similarity",
    "min_cluster_size",
    "min_confidence",
    "since_ms",
    "answered_score",
    "config",
    "sha256",
    "component",
    "version",
    "lane",
    "percent",
    "plugins",
    "limits",
    "fuel",
    "deadline_ms",
    "memory_bytes",
    "mask_stored_messages",
    "queues",
    "api_key",
    "grace_secs",
    "x-unknown",
];

fn id_segment(rng: &mut StdRng) -> String {
    match rng.random_range(0..12) {
        0 => "..".into(),
        1 => "%2e%2e".into(),
        2 => "a%2Fb".into(),
        3 => "%00".into(),
        4 => "x".repeat(1_000),
        5 => "%E8%AE%A2%E5%8D%95".into(), // 订单
        6 => "%FF%FE".into(),             // not UTF-8
        7 => "demo".into(),
        8 => "classify".into(),
        9 => rng.random::<u64>().to_string(),
        10 => "18446744073709551616".into(), // u64::MAX + 1
        _ => format!("c{}", rng.random_range(0..5)),
    }
}

fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<u64>()),
        4 => json!(rng.random::<f64>() * 1e300),
        5 => json!(""),
        6 => json!("x".repeat(rng.random_range(0..5_000))),
        7 => json!("退款 13812345678 \u{0} \u{202e}"),
        _ => json!(["standard", "vip", "open", "closed", "general", "web"][rng.random_range(0..6)]),
    }
}

fn value(rng: &mut StdRng, depth: u32) -> Value {
    if depth == 0 || rng.random_bool(0.4) {
        return scalar(rng);
    }
    if rng.random_bool(0.5) {
        Value::Array(
            (0..rng.random_range(0..6))
                .map(|_| value(rng, depth - 1))
                .collect(),
        )
    } else {
        let mut object = serde_json::Map::new();
        for _ in 0..rng.random_range(0..7) {
            let field = FIELDS[rng.random_range(0..FIELDS.len())];
            object.insert(field.into(), value(rng, depth - 1));
        }
        Value::Object(object)
    }
}

/// A body and its content type.
fn body(rng: &mut StdRng) -> (Vec<u8>, &'static str) {
    match rng.random_range(0..10) {
        0 => (
            b"{\"text\": \"\xff\xfe bad utf-8\"}".to_vec(),
            "application/json",
        ),
        1 => {
            let depth = rng.random_range(100..20_000);
            (
                format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes(),
                "application/json",
            )
        }
        2 => (
            b"{\"capacity\": 1e400, \"percent\": 99999999999999999999999}".to_vec(),
            "application/json",
        ),
        3 => (vec![b' '; 300 << 10], "application/json"),
        4 => (b"{\"text\": \"hi\"".to_vec(), "application/json"),
        5 => (value(rng, 4).to_string().into_bytes(), "text/plain"),
        6 => (vec![0, 97, 115, 109, 1, 0, 0, 0, 255], "application/wasm"),
        _ => (value(rng, 5).to_string().into_bytes(), "application/json"),
    }
}

#[test]
fn generated_bad_requests_never_get_a_5xx_or_store_anything() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5717);
    let cases: usize = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_500);
    let mut rng = StdRng::seed_from_u64(seed);
    let env = TestEnv::demo();
    let other = env.create_tenant("other");
    let mut before = env.app.storage.fingerprint().unwrap();
    let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..cases {
        let (method, template, caller) = ENDPOINTS[rng.random_range(0..ENDPOINTS.len())];
        let mut path = String::new();
        for (i, part) in template.split("{}").enumerate() {
            if i > 0 {
                path.push_str(&id_segment(&mut rng));
            }
            path.push_str(part);
        }
        let key = match (rng.random_range(0..10), caller) {
            (0, _) => None,
            (1, _) => Some(other.as_str()),
            (2, _) => Some("not-a-key-at-all"),
            (_, Caller::Operator) => Some(OPERATOR_KEY),
            _ => Some(DEMO_KEY),
        };
        let (bytes, content_type) = body(&mut rng);
        let sends_body = matches!(method, "POST" | "PUT" | "PATCH") || rng.random_bool(0.1);
        let method: Method = method.parse().unwrap();
        let Ok(uri) = path.parse::<axum::http::Uri>() else {
            continue; // not a request a client could send
        };
        let described = format!(
            "case {case} (FUZZ_SEED={seed}): {method} {uri} key={key:?} body={:.200}",
            String::from_utf8_lossy(&bytes)
        );
        let (status, answer) = env.request(
            method,
            &uri.to_string(),
            key,
            sends_body.then(|| Body::from(bytes)),
            content_type,
        );
        *by_status.entry(status.as_u16()).or_default() += 1;
        assert!(
            !status.is_server_error(),
            "{described} -> {status} {answer}"
        );
        let after = env.app.storage.fingerprint().unwrap();
        if status.is_client_error() {
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.is_empty() && answer["error"]["code"].is_string(),
                "{described} -> {status} without a clear error: {answer}"
            );
            assert_eq!(
                after, before,
                "{described} -> {status} but something was stored"
            );
        } else {
            assert!(
                status.is_success() || status == StatusCode::NOT_MODIFIED,
                "{described} -> {status}"
            );
        }
        if status.is_success() && uri.path().ends_with("/key") {
            // A key was rotated: put the known keys back so later cases still get in.
            for (tenant, key) in [("demo", DEMO_KEY), ("other", other.as_str())] {
                env.post(
                    &format!("/v1/tenants/{tenant}/key"),
                    OPERATOR_KEY,
                    &json!({"api_key": key}),
                );
            }
            before = env.app.storage.fingerprint().unwrap();
            continue;
        }
        before = after;
    }
    println!("{cases} generated requests (seed {seed}): {by_status:?}");
}
