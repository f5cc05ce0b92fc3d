//! The pharmacy demo tenant and its knowledge pack: the inspector asks the
//! pack about every message, dangerous combinations escalate to a pharmacist
//! with the finding attached, packs hot-swap like any plugin, and, when the
//! shared data is there, the real interaction graph runs in the real host.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard::demo::{PHARMACY_PACK, PHARMACY_TENANT};
use switchyard_e2e::*;

const PHARMACY_KEY: &str = "pharmacy-test-key";

fn pharmacy_env() -> TestEnv {
    let env = TestEnv::demo();
    switchyard::demo::seed_pharmacy(&env.app, PHARMACY_KEY).expect("seeding the pharmacy tenant");
    env
}

fn say(env: &TestEnv, conversation: &str, text: &str) -> Value {
    env.send_as(PHARMACY_KEY, conversation, text, "patient-1", "standard")
}

fn interactions(response: &Value) -> Vec<(String, String)> {
    response["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "drug-interaction")
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn dangerous_combinations_go_to_a_pharmacist_with_the_finding_in_chinese_and_english() {
    let env = pharmacy_env();
    for (conversation, text, drugs) in [
        (
            "zh",
            "我在吃华法林，可以同时吃阿司匹林吗？",
            "WARFARIN + ACETYLSALICYLIC ACID",
        ),
        (
            "en",
            "Can I take simvastatin with clarithromycin?",
            "SIMVASTATIN + CLARITHROMYCIN",
        ),
        (
            "brand",
            "I'm on Zocor and got Biaxin from the dentist",
            "SIMVASTATIN + CLARITHROMYCIN",
        ),
    ] {
        let r = say(&env, conversation, text);
        assert_eq!(
            interactions(&r),
            [("contraindication".into(), "critical".into())],
            "{text}: {r}"
        );
        let finding = &r["findings"].as_array().unwrap()[0];
        assert!(
            finding["detail"].as_str().unwrap().starts_with(drugs),
            "{finding}"
        );
        // The span is the drug named last, in the customer's own words.
        let (start, end) = (
            finding["start"].as_u64().unwrap() as usize,
            finding["end"].as_u64().unwrap() as usize,
        );
        assert!(
            ["阿司匹林", "clarithromycin", "Biaxin"].contains(&&text[start..end]),
            "{finding}"
        );
        assert!(reasons(&r).contains(&"drug-interaction".to_string()), "{r}");
        assert_eq!(r["route"]["queue"], "pharmacist", "{r}");
        assert_eq!(r["route"]["to"], "agent", "{r}");
        let compliance: Vec<&Value> = r["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "compliance")
            .collect();
        assert_eq!(compliance.len(), 1, "the pharmacist's script: {r}");
    }
}

#[test]
fn a_drug_named_earlier_in_the_conversation_counts_and_mild_pairs_do_not_escalate() {
    let env = pharmacy_env();
    let first = say(&env, "ctx", "我一直在吃华法林");
    assert!(interactions(&first).is_empty(), "{first}");
    let second = say(&env, "ctx", "今天头疼，能吃布洛芬吗？");
    assert_eq!(
        interactions(&second),
        [("not-recommended".into(), "critical".into())],
        "{second}"
    );
    assert_eq!(second["route"]["queue"], "pharmacist");
    // Asked again, the pair is reported again: it is in the message.
    // A precaution is shown to the agent but is no reason to escalate.
    let mild = say(
        &env,
        "mild",
        "Can I take my levothyroxine with calcium tablets?",
    );
    assert_eq!(
        interactions(&mild),
        [("precaution".into(), "warning".into())],
        "{mild}"
    );
    assert!(
        !reasons(&mild).contains(&"drug-interaction".to_string()),
        "{mild}"
    );
    // No drugs, no findings; the bot answers.
    let routine = say(&env, "routine", "When will my medicine arrive?");
    assert!(interactions(&routine).is_empty());
    assert_eq!(routine["route"]["to"], "bot", "{routine}");
}

fn pack_version(env: &TestEnv, config: &str) -> u64 {
    let (status, body) = env.push(
        PHARMACY_TENANT,
        "pack",
        "pharmacy",
        "edited",
        PHARMACY_PACK,
        config,
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_u64().unwrap()
}

#[test]
fn a_new_graph_is_hot_swapped_and_rolled_back_without_a_restart() {
    let env = pharmacy_env();
    let question = "Can I take warfarin with aspirin?";
    assert_eq!(
        interactions(&say(&env, "before", question))[0].0,
        "contraindication"
    );

    // The same pack with a graph in which that pair is only to be taken into account.
    let graph = switchyard::demo::pharmacy_demo_graph().unwrap();
    let mut edited: Value = serde_json::from_str(&graph).unwrap();
    let first_contraindication = edited["findings"]
        .as_array()
        .unwrap()
        .iter()
        .position(|f| f["mechanism"].as_str().unwrap().starts_with("Aspirin adds"))
        .unwrap();
    edited["findings"][first_contraindication]["severity"] = json!("take-into-account");
    let id = pack_version(&env, &edited.to_string());
    // A pack is never run beside the pipeline, so it cannot be shadowed.
    let (status, body) = env.post(
        &format!("/v1/tenants/{PHARMACY_TENANT}/slots/pack/versions/{id}/shadow"),
        OPERATOR_KEY,
        &json!({}),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("cannot be shadowed"), "{body}");
    env.lifecycle(PHARMACY_TENANT, "pack", id, "activate");
    let after = say(&env, "after", question);
    assert_eq!(
        interactions(&after),
        [("take-into-account".into(), "info".into())],
        "{after}"
    );
    assert!(!reasons(&after).contains(&"drug-interaction".to_string()));

    let (status, body) = env.post(
        &format!("/v1/tenants/{PHARMACY_TENANT}/slots/pack/rollback"),
        OPERATOR_KEY,
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        interactions(&say(&env, "rolled-back", question))[0].0,
        "contraindication"
    );

    // A graph the pack cannot read is refused at staging; the active one stays.
    let (status, body) = env.push(
        PHARMACY_TENANT,
        "pack",
        "pharmacy",
        "broken",
        PHARMACY_PACK,
        "{\"format\": \"other\"}",
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("pharmacy graph"), "{body}");
    assert_eq!(
        interactions(&say(&env, "still", question))[0].0,
        "contraindication"
    );
}

#[test]
fn a_missing_pack_costs_only_its_findings() {
    let env = pharmacy_env();
    let config = r#"{"sensitive": [], "packs": ["no-such-pack"]}"#;
    let inspector = switchyard_e2e::component("switchyard_plugin_inspector");
    let (status, body) = env.push(
        PHARMACY_TENANT,
        "inspect",
        "inspector",
        "nopack",
        &inspector,
        config,
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    env.lifecycle(
        PHARMACY_TENANT,
        "inspect",
        body["id"].as_u64().unwrap(),
        "activate",
    );
    let r = say(&env, "nopack", "Can I take warfarin with aspirin?");
    assert!(interactions(&r).is_empty(), "{r}");
    let inspect = trace_of(&r, "inspect");
    assert_eq!(inspect[0]["outcome"], "ok", "{r}");
}

/// The real graph as the pack's config, in the real host: the customer's
/// questions over HTTP, and every ONC pair asked of the installed pack.
#[test]
fn the_real_graph_in_the_host_flags_the_onc_pairs_and_only_real_interactions() {
    let Some(dir) = shared_data("ddi", "ansm_en_worldvista_interactions_2016.tsv") else {
        return;
    };
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let onc = read("onc_high_priority_pairs_mapped.dsv");
    let (graph, _) = switchyard_pack_pharmacy::graph::build(
        &read("ansm_en_worldvista_interactions_2016.tsv"),
        &read("ansm_en_worldvista_class_members_2016.tsv"),
        Some(&onc),
    )
    .unwrap();
    let env = pharmacy_env();
    let json = serde_json::to_string(&graph).unwrap();
    let id = pack_version(&env, &json);
    env.lifecycle(PHARMACY_TENANT, "pack", id, "activate");

    for (text, code) in [
        ("我在吃华法林，可以同时吃阿司匹林吗？", "contraindication"),
        (
            "Can I take simvastatin with clarithromycin?",
            "contraindication",
        ),
        ("Zocor and Klacid together?", "contraindication"),
        ("辛伐他汀和克拉霉素能一起吃吗", "contraindication"),
        // The issue: nitroglycerin (ANSM's "TRINITRINE KNOWN AS
        // NITROGLYCERIN IN THE US") and brand names were not found.
        (
            "can i take sildenafil with nitroglycerin",
            "contraindication",
        ),
        ("tadalafil with nitroglycerin spray", "contraindication"),
        ("viagra with nitroglycerin", "contraindication"),
        (
            "my mom takes coumadin and the dr gave her bactrim",
            "not-recommended",
        ),
    ] {
        let r = say(&env, &format!("real-{}", text.len()), text);
        assert!(interactions(&r).iter().any(|i| i.0 == code), "{text}: {r}");
        assert_eq!(r["route"]["queue"], "pharmacist");
    }

    let pipeline = env.app.pipeline(PHARMACY_TENANT).unwrap();
    let pack = pipeline
        .packs
        .pick("pharmacy", "any")
        .expect("the pack is installed")
        .0;
    let micros = std::cell::RefCell::new(Vec::new());
    let ask = |query: Value| -> Value {
        let (result, _) = pack.query(&query.to_string());
        micros.borrow_mut().push(result.micros);
        assert_eq!(result.outcome.as_str(), "ok", "{:?}", result.detail);
        match result.output {
            Some(switchyard::runtime::SlotOutput::Pack(Ok(answer))) => {
                serde_json::from_str(&answer).unwrap()
            }
            other => panic!("{other:?}"),
        }
    };
    let (mut known, mut flagged) = (0, 0);
    for line in onc
        .trim_start_matches('\u{feff}')
        .lines()
        .filter(|l| !l.is_empty())
    {
        let parts: Vec<&str> = line.split('$').collect();
        let answer = ask(json!({"drugs": [parts[0], parts[2]]}));
        if !answer["unknown"].as_array().unwrap().is_empty() {
            continue;
        }
        known += 1;
        if !answer["interactions"].as_array().unwrap().is_empty() {
            flagged += 1;
        }
    }
    let mut times = micros.borrow().clone();
    times.sort_unstable();
    eprintln!(
        "ONC pairs flagged through the component: {flagged} of {known}; pack query median {} µs, p99 {} µs",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    assert!(
        known > 1800 && flagged * 100 >= known * 95,
        "{flagged} of {known}"
    );

    // Pairs the sources do not list: no interaction reported. A name that
    // stands for more than one entry (the same drug spelt two ways,
    // "LEVOFLOXACINE") may have the other entry's interactions: left out.
    let native = switchyard_pack_pharmacy::Pharmacy::load(&json).unwrap();
    let listed: std::collections::HashSet<(u32, u32)> =
        graph.pairs.iter().map(|p| (p[0], p[1])).collect();
    let n = graph.drugs.len();
    let mut checked = 0;
    for i in (0..n).step_by(37) {
        let j = (i * 7 + 13) % n;
        let (a, b) = (i.min(j) as u32, i.max(j) as u32);
        let names = [&graph.drugs[a as usize], &graph.drugs[b as usize]];
        if a == b || listed.contains(&(a, b)) || names.iter().any(|n| native.entries(n).len() != 1)
        {
            continue;
        }
        let answer = ask(json!({"drugs": names}));
        if answer["drugs"].as_array().unwrap().len() == 2 {
            checked += 1;
            assert!(
                answer["interactions"].as_array().unwrap().is_empty(),
                "{answer}"
            );
        }
    }
    assert!(checked >= 20, "{checked}");
}
