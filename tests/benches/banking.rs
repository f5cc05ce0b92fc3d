//! The banking pack on BANKING77, as `cargo bench --bench banking`: the pack
//! built as `switchyard pack build banking` builds it (the BANKING77 training
//! set beside `examples/banking/playbook.json`), installed on the banking
//! demo tenant, and every test question sent through the tenant's whole
//! pipeline (the in-process HTTP API, real compiled plugins, sled).
//!
//! Printed: intent accuracy; how many questions land where the playbook
//! says their true intent belongs (the bot for intents it may answer, else
//! the intent's queue); recall and precision of the card-emergency queue;
//! how many the bot answered and how many of those with the right intent's
//! script; and time per message (the classify, route and assist stages,
//! each including its calls to the pack, and the whole request).
//!
//! Skips with a message when `../shared/data` is absent.

use std::collections::HashMap;
use std::time::Instant;

use switchyard::cli::{TrainingArgs, banking_pack_data, load_examples};
use switchyard::demo::{BANKING_PACK, BANKING_TENANT};
use switchyard_e2e::*;
use switchyard_sdk::playbook::Playbook;

const BANKING_KEY: &str = "banking-bench-key";

fn main() {
    let Some(dir) = switchyard_e2e::shared_data("intents/banking77", "test.csv") else {
        return;
    };
    let train = load_examples(dir.join("train.csv").to_str().unwrap(), &[]).unwrap();
    let test = load_examples(dir.join("test.csv").to_str().unwrap(), &[]).unwrap();
    let playbook: Playbook =
        serde_json::from_str(include_str!("../../examples/banking/playbook.json")).unwrap();
    let build = banking_pack_data(&train, &playbook, &TrainingArgs::default()).unwrap();
    println!(
        "banking pack: {} examples, {} intents, trained in {:.1} s; config {} bytes",
        build.examples,
        build.intents,
        build.seconds,
        build.json.len()
    );

    let env = TestEnv::demo();
    switchyard::demo::seed_banking(&env.app, BANKING_KEY).unwrap();
    let (status, body) = env.push(
        BANKING_TENANT,
        "pack",
        "banking",
        "banking77",
        BANKING_PACK,
        &build.json,
    );
    assert_eq!(status.as_u16(), 201, "{body}");
    env.lifecycle(
        BANKING_TENANT,
        "pack",
        body["id"].as_u64().unwrap(),
        "activate",
    );

    let emergency = "card-emergency";
    let queue_of = |intent: &str| playbook.intents[intent].queue.as_str();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut stage_micros: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut request_micros = Vec::with_capacity(test.len());
    for (i, example) in test.iter().enumerate() {
        let started = Instant::now();
        let r = env.send_as(
            BANKING_KEY,
            &format!("q{i}"),
            &example.text,
            &format!("c{i}"),
            "standard",
        );
        request_micros.push(started.elapsed().as_micros() as u64);
        for slot in ["classify", "route", "assist"] {
            stage_micros
                .entry(slot)
                .or_default()
                .push(trace_of(&r, slot)[0]["micros"].as_u64().unwrap());
        }
        let truth = &playbook.intents[&example.label];
        let mut count = |what: &'static str, yes: bool| {
            *counts.entry(what).or_default() += usize::from(yes);
        };
        count(
            "intent right",
            r["intent"]["name"] == example.label.as_str(),
        );
        let to_bot = r["route"]["to"] == "bot";
        let queue = r["route"]["queue"].as_str().unwrap_or("");
        count(
            "right place",
            if truth.bot {
                to_bot
            } else {
                queue == truth.queue
            },
        );
        let should_be_emergency = queue_of(&example.label) == emergency;
        count("emergency questions", should_be_emergency);
        count("sent to emergency", queue == emergency);
        count(
            "emergency caught",
            should_be_emergency && queue == emergency,
        );
        count("bot answered", to_bot);
        count(
            "bot answered right",
            to_bot && r["reply"].as_str() == Some(truth.script.en.as_str()),
        );
        count("escalated", r["escalation"]["escalate"] == true);
    }
    let n = test.len();
    let c = |what: &str| counts.get(what).copied().unwrap_or(0);
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("{n} BANKING77 test questions through the banking tenant:");
    println!(
        "  intent right            {:>5}  {:.2}%",
        c("intent right"),
        pct(c("intent right"), n)
    );
    println!(
        "  right place             {:>5}  {:.2}%  (the bot for intents it may answer, else the intent's queue)",
        c("right place"),
        pct(c("right place"), n)
    );
    println!(
        "  card-emergency recall   {:>5}  {:.2}%  of {} questions whose intent belongs there",
        c("emergency caught"),
        pct(c("emergency caught"), c("emergency questions")),
        c("emergency questions")
    );
    println!(
        "  card-emergency precision {:>4}  {:.2}%  of {} sent there",
        c("emergency caught"),
        pct(c("emergency caught"), c("sent to emergency")),
        c("sent to emergency")
    );
    println!(
        "  bot answered            {:>5}  {:.2}%; with the right intent's script: {:.2}% of those",
        c("bot answered"),
        pct(c("bot answered"), n),
        pct(c("bot answered right"), c("bot answered"))
    );
    println!(
        "  escalated               {:>5}  {:.2}%",
        c("escalated"),
        pct(c("escalated"), n)
    );
    let summary = |name: &str, micros: &mut Vec<u64>| {
        micros.sort_unstable();
        println!(
            "  {name:<24}median {:>5} µs, p99 {:>5} µs",
            micros[micros.len() / 2],
            micros[micros.len() * 99 / 100]
        );
    };
    for slot in ["classify", "route", "assist"] {
        summary(
            &format!("{slot} (with the pack)"),
            stage_micros.get_mut(slot).unwrap(),
        );
    }
    summary("whole request", &mut request_micros);

    // The pack asked directly, as the host runs it for a plugin.
    let pipeline = env.app.pipeline(BANKING_TENANT).unwrap();
    let (pack, _) = pipeline.packs.pick("banking", "bench").unwrap();
    let text_queries: Vec<String> = test
        .iter()
        .map(|e| serde_json::json!({"text": e.text}).to_string())
        .collect();
    let intent_queries: Vec<String> = test
        .iter()
        .map(|e| serde_json::json!({"intent": e.label}).to_string())
        .collect();
    for (name, queries) in [
        ("pack query {\"text\"}", &text_queries),
        ("pack query {\"intent\"}", &intent_queries),
    ] {
        let mut micros: Vec<u64> = queries
            .iter()
            .map(|query| {
                let (result, _) = pack.query(query);
                assert_eq!(result.outcome.as_str(), "ok", "{:?}", result.detail);
                result.micros
            })
            .collect();
        summary(name, &mut micros);
    }
}
