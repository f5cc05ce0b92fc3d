//! Tenants, plugin uploads and bindings through the operator API.

use switchyard_e2e::{OPERATOR_KEY, TestEnv};

/// A new tenant whose only plugin is the demo tenant's classifier; its key.
fn tenant_with_the_demo_classifier(env: &TestEnv, id: &str) -> String {
    let key = env.create_tenant(id);
    let classifier = switchyard_e2e::active_version(env, "demo", "classify");
    let (status, body) = env.bind(
        id,
        "classify",
        &[(
            classifier["sha256"].as_str().unwrap(),
            classifier["config"].as_str().unwrap(),
        )],
    );
    assert_eq!(status, 200, "{body}");
    key
}

#[test]
fn a_new_tenant_with_only_a_classifier_uses_defaults_for_the_other_slots() {
    let env = TestEnv::demo();
    let key = tenant_with_the_demo_classifier(&env, "tiny");
    let r = env.send_as(&key, "t-1", "where is my package?", "u", "standard");
    assert_eq!(r["intent"]["name"], "logistics");
    // No escalator, router, assistant or ticketer: each slot's default, in the trace.
    for slot in ["inspect", "escalate", "route", "assist", "ticket"] {
        let entries = switchyard_e2e::trace_of(&r, slot);
        assert_eq!(entries.len(), 1, "{slot}");
        assert_eq!(entries[0]["outcome"], "default", "{slot}");
    }
    assert_eq!(r["route"]["to"], "bot", "confident and not escalated");
    let unsure = env.send_as(&key, "t-2", "blorp zzz", "u", "standard");
    assert_eq!(unsure["escalation"]["escalate"], true);
    assert_eq!(unsure["route"]["queue"], "general");
}

#[test]
fn uploading_the_same_component_twice_stores_it_once() {
    let env = TestEnv::demo();
    let path = format!(
        "{}/switchyard_plugin_router.wasm",
        switchyard::demo::COMPONENT_DIR
    );
    let bytes = std::fs::read(path).unwrap();
    let (status, first) = env.upload("router", "0.1.0", &bytes);
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["slot"], "route");
    let (_, second) = env.upload("router", "0.1.0", &bytes);
    assert_eq!(first["sha256"], second["sha256"]);
    assert_eq!(
        env.get("/v1/plugins", OPERATOR_KEY).1["plugins"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    let tenants = env.get("/v1/tenants", OPERATOR_KEY).1["tenants"].clone();
    assert_eq!(tenants[0]["id"], "demo");
    assert!(
        tenants[0].get("key_hash").is_none(),
        "key hashes never leave the server"
    );
}

/// A plugin config may be up to 16 MiB (a CLINC150 intent model is 12.6
/// MB): a 13 MB one is staged and answers; one byte over the cap is refused
/// with the cap named, and nothing is staged.
#[test]
fn configs_up_to_sixteen_mib_are_staged_and_larger_ones_refused() {
    let env = TestEnv::demo();
    let inspector = switchyard_e2e::component("switchyard_plugin_inspector");
    let padded = |len: usize| {
        let config = r#"{"sensitive": [{"word": "regulator", "code": "regulator", "severity": "critical"}]}"#;
        format!("{config}{}", " ".repeat(len - config.len()))
    };
    let (status, body) = env.push(
        "demo",
        "inspect",
        "inspector",
        "big",
        &inspector,
        &padded(13_000_000),
    );
    assert_eq!(status, 201, "{body}");
    env.lifecycle("demo", "inspect", body["id"].as_u64().unwrap(), "activate");
    let r = env.send("big", "I will write to the regulator", "u", "standard");
    assert_eq!(r["findings"][0]["code"], "regulator", "{r}");

    let before = switchyard_e2e::active_version(&env, "demo", "inspect");
    let (status, body) = env.push(
        "demo",
        "inspect",
        "inspector",
        "too-big",
        &inspector,
        &padded((16 << 20) + 1),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("16777216 bytes"), "{body}");
    let (_, rollout) = env.get("/v1/tenants/demo/slots/inspect", OPERATOR_KEY);
    assert!(
        !rollout.to_string().contains("too-big"),
        "nothing staged: {rollout}"
    );
    assert_eq!(
        switchyard_e2e::active_version(&env, "demo", "inspect")["id"],
        before["id"]
    );
}

/// The digits after the dash of an id such as `m-1f`.
fn id_number(id: &serde_json::Value) -> u64 {
    let id = id.as_str().unwrap();
    u64::from_str_radix(id.rsplit('-').next().unwrap(), 16).unwrap()
}

/// The defect: one id counter for the whole database, so a tenant read every
/// other tenant's traffic off two of its own message ids.
#[test]
fn a_tenants_ids_do_not_move_with_another_tenants_traffic() {
    let env = TestEnv::demo();
    let key = tenant_with_the_demo_classifier(&env, "quiet");
    let first = env.send_as(&key, "q-1", "where is my package?", "u", "standard");
    for i in 0..20 {
        let busy = env.send(
            &format!("busy-{i}"),
            "我要退款，东西坏了",
            "busy",
            "standard",
        );
        assert!(busy["message_id"].is_string(), "{busy}");
    }
    let second = env.send_as(&key, "q-1", "still waiting for it", "u", "standard");
    assert_eq!(
        id_number(&second["message_id"]),
        id_number(&first["message_id"]) + 1,
        "{first} then {second}"
    );
}

/// Rollouts name configs by sha256; the config itself is one request away,
/// for the operator only and within the tenant that stored it.
#[test]
fn a_rollouts_config_is_fetched_by_its_sha256_by_the_operator_only() {
    let env = TestEnv::demo();
    let other = env.create_tenant("other");
    let (status, rollout) = env.get("/v1/tenants/demo/slots/classify", OPERATOR_KEY);
    assert_eq!(status, 200, "{rollout}");
    let versions = rollout["versions"].as_array().unwrap();
    assert!(!versions.is_empty());
    for version in versions {
        assert!(version.get("config").is_none(), "inline config: {version}");
    }
    let sha = versions[0]["config_sha256"].as_str().unwrap();
    let path = format!("/v1/tenants/demo/configs/{sha}");
    let (status, config) = env.get(&path, OPERATOR_KEY);
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["sha256"], sha);
    let text = config["config"].as_str().unwrap();
    assert_eq!(
        switchyard::runtime::sha256_hex(text.as_bytes()),
        sha,
        "the config is the one its hash names"
    );

    let (status, body) = env.get(&path, switchyard_e2e::DEMO_KEY);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("operator key")
    );
    let (status, body) = env.get(&path, &other);
    assert_eq!(status, 403, "{body}");
    // Another tenant's path does not reach the demo tenant's configs.
    let (status, body) = env.get(&format!("/v1/tenants/other/configs/{sha}"), OPERATOR_KEY);
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(sha),
        "{body}"
    );
    let (status, body) = env.get("/v1/tenants/nobody/configs/abc", OPERATOR_KEY);
    assert_eq!(status, 404, "{body}");
}

/// Issue 15, item 9: a new tenant started empty, and nothing said how to
/// give it plugins and agents. `from` copies an example tenant.
#[test]
fn a_tenant_created_from_an_example_answers_like_the_example() {
    let env = TestEnv::demo();
    let (status, created) = env.post(
        "/v1/tenants",
        OPERATOR_KEY,
        &serde_json::json!({"id": "shop-2", "name": "Shop 2", "from": "demo"}),
    );
    assert_eq!(status, 201, "{created}");
    let key = created["api_key"].as_str().unwrap().to_string();
    let text = "我要退款，订单号 2024113012345";
    let copy = env.send_as(&key, "c-1", text, "cust-1", "standard");
    let demo = env.send("c-1", text, "cust-1", "standard");
    for field in ["intent", "route", "escalation", "reply"] {
        assert_eq!(copy[field], demo[field], "{field}: {copy}");
    }
    assert_eq!(copy["ticket"]["action"], "opened", "{copy}");
    let plugins: Vec<&str> = copy["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["plugin"].as_str().unwrap())
        .collect();
    assert!(!plugins.contains(&"default"), "{plugins:?}");
    let (_, agents) = env.get("/v1/agents", &key);
    let (_, demo_agents) = env.get("/v1/agents", switchyard_e2e::DEMO_KEY);
    assert_eq!(
        agents["agents"].as_array().unwrap().len(),
        demo_agents["agents"].as_array().unwrap().len()
    );
    assert!(!agents["agents"].as_array().unwrap().is_empty());
    let (_, settings) = env.get("/v1/settings", &key);
    let (_, demo_settings) = env.get("/v1/settings", switchyard_e2e::DEMO_KEY);
    assert_eq!(settings["queues"], demo_settings["queues"]);

    // The pharmacy example brings its pack: the interaction check works.
    let (status, created) = env.post(
        "/v1/tenants",
        OPERATOR_KEY,
        &serde_json::json!({"id": "chemist-2", "name": "Chemist 2", "from": "pharmacy"}),
    );
    assert_eq!(status, 201, "{created}");
    let r = env.send_as(
        created["api_key"].as_str().unwrap(),
        "p-1",
        "I take warfarin, can I take aspirin?",
        "cust-1",
        "standard",
    );
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "drug-interaction"),
        "{r}"
    );

    // An unknown example or a taken id: refused, and nothing is created.
    let (status, body) = env.post(
        "/v1/tenants",
        OPERATOR_KEY,
        &serde_json::json!({"id": "bakery-1", "name": "Bakery", "from": "bakery"}),
    );
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"bakery\"") && message.contains("demo, pharmacy, banking"),
        "{message}"
    );
    let (_, tenants) = env.get("/v1/tenants", OPERATOR_KEY);
    assert!(!tenants.to_string().contains("bakery-1"), "{tenants}");
    let (status, body) = env.post(
        "/v1/tenants",
        OPERATOR_KEY,
        &serde_json::json!({"id": "shop-2", "name": "again", "from": "banking"}),
    );
    assert_eq!(status, 409, "{body}");
    let (_, agents_after) = env.get("/v1/agents", &key);
    assert_eq!(agents_after, agents, "a refused copy changes nothing");
    // A tenant's key cannot create tenants, from an example or not.
    let (status, _) = env.post(
        "/v1/tenants",
        &key,
        &serde_json::json!({"id": "mine", "name": "mine", "from": "demo"}),
    );
    assert!(status == 401 || status == 403, "{status}");
}
