//! The banking demo tenant and its knowledge pack: the pack carries the
//! intent model and the playbook, the classifier, router and assistant ask
//! it; a lost or stolen card goes to the card-emergency queue ahead of
//! everything else, routine questions get the bot with the pack's script,
//! and a new pack version swaps model, scripts and routes without a restart.

use axum::http::StatusCode;
use serde_json::Value;
use switchyard::demo::{BANKING_PACK, BANKING_TENANT};
use switchyard_e2e::*;

const BANKING_KEY: &str = "banking-test-key";

fn banking_env() -> TestEnv {
    let env = TestEnv::demo();
    switchyard::demo::seed_banking(&env.app, BANKING_KEY).expect("seeding the banking tenant");
    env
}

fn say(env: &TestEnv, conversation: &str, text: &str, tier: &str) -> Value {
    env.send_as(BANKING_KEY, conversation, text, conversation, tier)
}

fn suggestion_texts(response: &Value) -> Vec<&str> {
    response["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["text"].as_str())
        .collect()
}

fn playbook() -> Value {
    serde_json::from_str(include_str!("../../examples/banking/playbook.json")).unwrap()
}

#[test]
fn a_lost_card_goes_to_the_card_emergency_queue_first_and_routine_questions_to_the_bot() {
    let env = banking_env();
    let playbook = playbook();
    let script = |intent: &str, lang: &str| {
        playbook["intents"][intent]["script"][lang]
            .as_str()
            .unwrap()
            .to_string()
    };

    for (conversation, text, tier) in [
        (
            "lost-en",
            "I lost my card this morning, please block it",
            "standard",
        ),
        ("lost-zh", "我的银行卡丢了，快帮我冻结", "standard"),
        // A VIP would go to private banking; a stolen card goes to the card team.
        (
            "stolen-vip",
            "My card was stolen from my bag at the airport",
            "vip",
        ),
    ] {
        let r = say(&env, conversation, text, tier);
        assert_eq!(r["intent"]["name"], "lost_or_stolen_card", "{text}: {r}");
        assert_eq!(r["route"]["queue"], "card-emergency", "{text}: {r}");
        assert!(r["route"]["priority"].as_u64().unwrap() >= 8, "{r}");
        let agent = r["route"]["agent"].as_str().unwrap();
        assert!(agent.starts_with("sec."), "a card-security agent: {r}");
        // The agent sees the pack's script in the customer's language; the
        // customer is told a person is coming.
        let lang = if conversation.ends_with("zh") {
            "zh"
        } else {
            "en"
        };
        assert!(
            suggestion_texts(&r).contains(&script("lost_or_stolen_card", lang).as_str()),
            "{r}"
        );
        assert_eq!(r["ticket"]["department"], "card-security", "{r}");
        // The classifier, the router and the assistant each asked the pack.
        for slot in ["classify", "route", "assist"] {
            assert_eq!(trace_of(&r, slot)[0]["outcome"], "ok", "{slot}: {r}");
        }
        assert_eq!(trace_of(&r, "pack").len(), 3, "{r}");
    }

    // A routine question: the bot answers with the pack's script.
    let r = say(
        &env,
        "delivery",
        "How long does it take for a new card to be delivered?",
        "standard",
    );
    assert_eq!(r["intent"]["name"], "card_delivery_estimate", "{r}");
    assert_eq!(r["route"]["to"], "bot", "{r}");
    assert_eq!(
        r["reply"].as_str(),
        Some(script("card_delivery_estimate", "en").as_str())
    );
    let r = say(&env, "delivery-zh", "新卡多久能寄到？", "standard");
    assert_eq!(r["route"]["to"], "bot", "{r}");
    assert_eq!(
        r["reply"].as_str(),
        Some(script("card_delivery_estimate", "zh").as_str())
    );

    // A double charge is a dispute: its queue's priority floor applies.
    let r = say(
        &env,
        "twice",
        "The supermarket took the same payment from me twice yesterday",
        "standard",
    );
    assert_eq!(r["intent"]["name"], "transaction_charged_twice", "{r}");
    assert_eq!(r["route"]["queue"], "disputes", "{r}");
    assert_eq!(r["route"]["priority"], 5, "{r}");
}

fn pack_version(env: &TestEnv, version: &str, config: &str) -> (StatusCode, Value) {
    env.push(
        BANKING_TENANT,
        "pack",
        "banking",
        version,
        BANKING_PACK,
        config,
    )
}

#[test]
fn a_new_pack_version_swaps_scripts_and_routes_without_a_restart_and_bad_data_is_refused() {
    let env = banking_env();
    let question = "How long does it take for a new card to be delivered?";
    assert_eq!(
        say(&env, "before", question, "standard")["route"]["to"],
        "bot"
    );

    // The vendor's next version: delivery questions go to the cards team with a new script.
    let mut data: Value =
        serde_json::from_str(&switchyard::demo::banking_demo_pack().unwrap()).unwrap();
    let entry = &mut data["playbook"]["intents"]["card_delivery_estimate"];
    entry["bot"] = false.into();
    entry["script"]["en"] = "Let me check where your card is.".into();
    let (status, body) = pack_version(&env, "2", &data.to_string());
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_u64().unwrap();
    env.lifecycle(BANKING_TENANT, "pack", id, "activate");
    let after = say(&env, "after", question, "standard");
    assert_eq!(after["route"]["queue"], "cards", "{after}");
    assert!(
        suggestion_texts(&after).contains(&"Let me check where your card is."),
        "{after}"
    );

    let (status, body) = env.post(
        &format!("/v1/tenants/{BANKING_TENANT}/slots/pack/rollback"),
        OPERATOR_KEY,
        &serde_json::json!({}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        say(&env, "rolled-back", question, "standard")["route"]["to"],
        "bot"
    );

    // Data the pack cannot use is refused at staging, with the reason; the
    // active version keeps answering.
    let mut no_zh = data.clone();
    no_zh["playbook"]["intents"]["card_arrival"]["script"]["zh"] = "".into();
    let mut bad_model = data.clone();
    bad_model["model"] = "not a model".into();
    for (config, reason) in [
        (no_zh.to_string(), "card_arrival"),
        (bad_model.to_string(), "banking pack model"),
        ("{}".to_string(), "banking pack data"),
    ] {
        let (status, body) = pack_version(&env, "broken", &config);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains(reason), "{reason}: {body}");
    }
    assert_eq!(
        say(&env, "still", question, "standard")["route"]["to"],
        "bot"
    );
}

#[test]
fn without_its_pack_the_tenant_still_answers_every_message() {
    let env = banking_env();
    let (status, body) = env.post(
        &format!("/v1/tenants/{BANKING_TENANT}/slots/pack/rollback"),
        OPERATOR_KEY,
        &serde_json::json!({}),
    );
    // Nothing to roll back to: the only version stays. Retire it instead.
    assert_ne!(status, StatusCode::OK, "{body}");
    let active = active_version(&env, BANKING_TENANT, "pack");
    env.lifecycle(
        BANKING_TENANT,
        "pack",
        active["id"].as_u64().unwrap(),
        "retire",
    );
    let r = say(&env, "nopack", "I lost my card", "standard");
    assert_eq!(r["intent"]["name"], "unknown", "{r}");
    assert_eq!(r["route"]["queue"], "general", "{r}");
    assert_eq!(trace_of(&r, "classify")[0]["outcome"], "ok", "{r}");
}

/// Every pack call is in the decision's trace, after the plugin that asked,
/// and in the metrics; a pack version that keeps failing is taken out by
/// its circuit breaker and the previous version answers again.
#[test]
fn pack_calls_are_traced_and_counted_and_a_failing_pack_version_is_taken_out() {
    let env = banking_env();
    let r = say(&env, "traced", "I lost my card", "standard");
    let slots: Vec<(&str, &str)> = r["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["slot"].as_str().unwrap(), t["plugin"].as_str().unwrap()))
        .collect();
    for asker in ["classifier", "router", "assistant"] {
        let at = slots.iter().position(|s| s.1 == asker).unwrap();
        assert_eq!(slots[at + 1], ("pack", "banking"), "{slots:?}");
    }
    let first = active_version(&env, BANKING_TENANT, "pack");
    assert_eq!(trace_of(&r, "pack")[0]["version_id"], first["id"], "{r}");

    // A second version in the pack's lane that traps on messages about
    // cards (it passes staging: the smoke query does not mention them).
    let trapping = component("switchyard_fixture_trapping_pack");
    let (status, body) = env.push_to_lane(
        BANKING_TENANT,
        "pack",
        "banking",
        "trapping",
        "1",
        &trapping,
        "card",
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_u64().unwrap();
    env.lifecycle(BANKING_TENANT, "pack", id, "activate");
    let mut failures = 0;
    for i in 0..5 {
        let r = say(&env, &format!("trapped-{i}"), "I lost my card", "standard");
        let pack = trace_of(&r, "pack");
        if pack.first().is_some_and(|p| p["outcome"] == "trap") {
            failures += 1;
            assert_eq!(pack[0]["version_id"], id, "{r}");
            assert_eq!(r["intent"]["name"], "unknown", "{r}");
        }
    }
    assert_eq!(
        failures, 5,
        "each message's classifier asked the trapping pack"
    );
    // The breaker took it out; the first version answers again.
    assert_eq!(
        active_version(&env, BANKING_TENANT, "pack")["id"],
        first["id"]
    );
    let r = say(&env, "restored", "I lost my card", "standard");
    assert_eq!(r["intent"]["name"], "lost_or_stolen_card", "{r}");

    let metrics = env.metrics();
    for line in [
        "slot=\"pack\",plugin=\"trapping@1\",outcome=\"trap\"} 5",
        "switchyard_lifecycle_changes_total{tenant=\"banking\",slot=\"pack\",action=\"breaker\"} 1",
    ] {
        assert!(metrics.contains(line), "{line}:\n{metrics}");
    }
}

/// An operator's own tenant that happens to be called "banking" (an
/// upgraded host) is left alone: no demo agents, plugins or key over it.
/// The defect: a plugin that asked a pack with no warm instance paid for
/// the pack's instantiation and `init` inside its own deadline, so a pack
/// slow to make ready timed the asking classifier out (and, repeated,
/// tripped its breaker). With no instance ever kept (pool of 0), every
/// question makes a pack that takes longer than the asker's whole deadline.
#[test]
fn a_packs_cold_start_is_not_charged_to_the_plugin_that_asks_it() {
    let env = TestEnv::demo_with(switchyard::runtime::Limits {
        pool_size: 0,
        ..Default::default()
    });
    switchyard::demo::seed_banking(&env.app, BANKING_KEY).expect("seeding the banking tenant");
    let slow = component("switchyard_fixture_trapping_pack");
    let (status, body) = env.push_to_lane(
        BANKING_TENANT,
        "pack",
        "banking",
        "slow-start",
        "1",
        &slow,
        "spin:100 never-asked",
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.lifecycle(
        BANKING_TENANT,
        "pack",
        body["id"].as_u64().unwrap(),
        "activate",
    );
    let classifier = active_version(&env, BANKING_TENANT, "classify");

    let r = say(&env, "cold", "I lost my card", "standard");
    let asked = trace_of(&r, "pack");
    assert!(!asked.is_empty(), "nobody asked the pack: {r}");
    let deadline_us = 50_000;
    assert!(
        asked[0]["micros"].as_u64().unwrap() > deadline_us,
        "the pack started faster than the asker's deadline: the test proves nothing: {r}"
    );
    let classify = trace_of(&r, "classify");
    assert_eq!(classify[0]["version_id"], classifier["id"], "{r}");
    assert_eq!(classify[0]["outcome"], "ok", "{r}");
    assert_eq!(
        active_version(&env, BANKING_TENANT, "classify")["id"],
        classifier["id"]
    );
}

#[test]
fn an_existing_tenant_named_banking_is_not_seeded_over() {
    let env = TestEnv::demo();
    let key = env.create_tenant(BANKING_TENANT);
    assert!(!switchyard::demo::seed_banking(&env.app, BANKING_KEY).unwrap());
    assert_eq!(
        env.get("/v1/agents", &key).1,
        serde_json::json!({"agents": [], "next": null})
    );
    let (status, _) = env.get("/v1/agents", BANKING_KEY);
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the demo key was not set");
    let r = env.send_as(&key, "own", "I lost my card", "c1", "standard");
    assert_eq!(trace_of(&r, "classify")[0]["plugin"], "default", "{r}");
}
