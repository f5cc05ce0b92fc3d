//! One tenant or customer cannot make the server hold more than its share:
//! per-tenant article and agent quotas checked at their exact
//! boundary, bounded customer tags and agent fields, and a refused write that stores nothing
//! and leaves other tenants able to write.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard::quotas::{MAX_CUSTOMER_TAGS, MAX_TAG_BYTES, Quotas};
use switchyard_e2e::{DEMO_KEY, TestEnv};

fn article(id: &str) -> Value {
    json!({"id": id, "title": "Gift wrapping", "keywords": ["gift"], "body": "We wrap any order for 5 yuan.", "published": true})
}

fn assert_quota_refused(status: StatusCode, body: &Value, needle: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message}");
}

#[test]
fn the_article_count_quota_holds_at_its_boundary_and_only_for_its_tenant() {
    let env = TestEnv::empty_with_quotas(Quotas {
        articles: 3,
        ..Quotas::default()
    });
    let key = env.create_tenant("small-shop");
    for i in 0..3 {
        let (status, body) = env.post("/v1/knowledge/articles", &key, &article(&format!("a-{i}")));
        assert_eq!(status, StatusCode::CREATED, "article {i} of 3: {body}");
    }
    let before = env.app.storage.fingerprint().unwrap();
    let (status, body) = env.post("/v1/knowledge/articles", &key, &article("a-3"));
    assert_quota_refused(status, &body, "the quota is 3");
    assert_eq!(
        env.app.storage.fingerprint().unwrap(),
        before,
        "nothing stored"
    );
    // Replacing one of the three is no new article.
    let (status, body) = env.put("/v1/knowledge/articles/a-1", &key, &article("a-1"));
    assert_eq!(status, StatusCode::OK, "{body}");
    // Each tenant has its own: another is not held by what small-shop uses.
    let other = env.create_tenant("other-shop");
    let (status, body) = env.post("/v1/knowledge/articles", &other, &article("b-0"));
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another tenant is not held: {body}"
    );
    // Deleting makes room again.
    let (status, _) = env.request(
        axum::http::Method::DELETE,
        "/v1/knowledge/articles/a-0",
        Some(&key),
        None,
        "",
    );
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = env.post("/v1/knowledge/articles", &key, &article("a-3"));
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[test]
fn the_article_bytes_quota_holds_at_its_boundary() {
    // Articles of one shape store the same number of bytes (ids of one
    // length, a 13-digit millisecond time); the quota fits exactly two.
    let stored = |id: &str| {
        let mut a: switchyard::model::Article = serde_json::from_value(article(id)).unwrap();
        a.updated_at_ms = 1_800_000_000_000;
        switchyard::storage::Storage::stored_bytes(&a)
    };
    let size = stored("a-0");
    assert_eq!(stored("a-1"), size);
    let env = TestEnv::empty_with_quotas(Quotas {
        articles: 100,
        article_bytes: 2 * size,
        ..Quotas::default()
    });
    let key = env.create_tenant("byte-shop");
    for id in ["a-0", "a-1"] {
        let (status, body) = env.post("/v1/knowledge/articles", &key, &article(id));
        assert_eq!(status, StatusCode::CREATED, "{id} fits: {body}");
    }
    let (status, body) = env.post("/v1/knowledge/articles", &key, &article("a-2"));
    assert_quota_refused(status, &body, &format!("the quota is {} bytes", 2 * size));
    let (status, _) = env.get("/v1/knowledge/articles/a-2", &key);
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the refused article is not stored"
    );
}

#[test]
fn customer_tags_are_bounded_in_count_and_length() {
    let env = TestEnv::demo();
    let send = |conversation: &str, tags: Vec<String>| {
        env.post(
            &format!("/v1/conversations/{conversation}/messages"),
            DEMO_KEY,
            &json!({"text": "where is my package?", "customer": {"id": "tagged", "tags": tags}}),
        )
    };
    let at_limit: Vec<String> = (0..MAX_CUSTOMER_TAGS).map(|i| format!("tag-{i}")).collect();
    let (status, body) = send("tags-ok", at_limit.clone());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, stored) = env.get("/v1/conversations/tags-ok", DEMO_KEY);
    assert_eq!(
        stored["conversation"]["customer"]["tags"]
            .as_array()
            .unwrap()
            .len(),
        MAX_CUSTOMER_TAGS
    );
    let (status, body) = send("tags-long-ok", vec!["x".repeat(MAX_TAG_BYTES)]);
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let before = env.app.storage.fingerprint().unwrap();
    let mut one_over = at_limit;
    one_over.push("one-too-many".into());
    for (tags, needle) in [
        (one_over, format!("at most {MAX_CUSTOMER_TAGS}")),
        (
            vec!["x".repeat(MAX_TAG_BYTES + 1)],
            format!("1 to {MAX_TAG_BYTES} bytes"),
        ),
        (vec![" ".into()], format!("1 to {MAX_TAG_BYTES} bytes")),
    ] {
        let (status, body) = send("tags-bad", tags);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(&needle),
            "{body}"
        );
    }
    assert_eq!(
        env.app.storage.fingerprint().unwrap(),
        before,
        "nothing stored"
    );
}

/// The first-party plugins must decide the longest message a customer may
/// send within the default limits, however it is tokenised: 8 KiB of
/// one-letter words, of CJK characters, and of digits and punctuation.
/// Regression (issue 14): the classifier ran out of its default fuel on the
/// one-letter words (the intent model read the whole text) and on the digits
/// (every number run was checked for entities); it now reads the first
/// 1,000 characters and the first 64 numbers.
#[test]
fn first_party_plugins_decide_an_8_kib_message_of_short_tokens_within_default_limits() {
    let env = TestEnv::demo();
    let max = switchyard::app::MAX_MESSAGE_BYTES;
    let fill = |unit: &str| unit.repeat(max / unit.len());
    for (i, text) in [fill("a "), fill("退"), fill("1,"), fill("ab ")]
        .iter()
        .enumerate()
    {
        assert!(text.len() <= max && text.len() > max - 4, "{}", text.len());
        let r = env.send(&format!("long-{i}"), text, "long-writer", "standard");
        let trace = r["trace"].as_array().unwrap();
        assert!(!trace.is_empty());
        for call in trace {
            assert_eq!(call["outcome"], "ok", "message {i}: {call}");
        }
    }
}

fn agent(id: &str) -> Value {
    json!({"id": id, "name": "Agent", "skills": ["general"], "capacity": 5})
}

/// The defect: a tenant could create agents without end (the roster import
/// hands every one to the router on every message), each with a name and
/// skills of any size.
#[test]
fn the_agent_quota_holds_at_its_boundary_and_agent_fields_are_bounded() {
    let env = TestEnv::empty_with_quotas(Quotas {
        agents: 3,
        ..Default::default()
    });
    let key = env.create_tenant("staffed");
    let other = env.create_tenant("other");
    for i in 0..3 {
        let (status, body) = env.post("/v1/agents", &key, &agent(&format!("a{i}")));
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let before = env.app.storage.fingerprint().unwrap();
    let (status, body) = env.post("/v1/agents", &key, &agent("a3"));
    assert_quota_refused(status, &body, "3 agents");
    let (status, body) = env.put("/v1/agents/a3", &key, &agent("a3"));
    assert_quota_refused(status, &body, "3 agents");
    assert_eq!(
        env.app.storage.fingerprint().unwrap(),
        before,
        "nothing stored"
    );
    // Replacing one of the three is not a new agent; another tenant has its own quota.
    let (status, body) = env.put("/v1/agents/a0", &key, &agent("a0"));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = env.post("/v1/agents", &other, &agent("a3"));
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let max_name = switchyard::quotas::MAX_AGENT_NAME_BYTES;
    let max_skills = switchyard::quotas::MAX_AGENT_SKILLS;
    let max_skill = switchyard::quotas::MAX_SKILL_BYTES;
    let with = |name: usize, skills: usize, skill: usize| json!({"id": "a1", "name": "n".repeat(name), "skills": (0..skills).map(|i| format!("{i}{}", "s".repeat(skill - i.to_string().len()))).collect::<Vec<_>>(), "capacity": 5});
    let (status, body) = env.put(
        "/v1/agents/a1",
        &key,
        &with(max_name, max_skills, max_skill),
    );
    assert_eq!(status, StatusCode::OK, "at every bound: {body}");
    for (bad, what) in [
        (with(max_name + 1, 1, 8), "name"),
        (with(8, max_skills + 1, 8), "skills"),
        (with(8, 1, max_skill + 1), "skill"),
    ] {
        let before = env.app.storage.fingerprint().unwrap();
        let (status, body) = env.put("/v1/agents/a1", &key, &bad);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(what),
            "{body}"
        );
        assert_eq!(
            env.app.storage.fingerprint().unwrap(),
            before,
            "{what}: nothing stored"
        );
    }
}
