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

use switchyard::cli::{TrainingArgs, banking_pack_data, load_examples, playbook_languages};
use switchyard::demo::{BANKING_PACK, BANKING_TENANT};
use switchyard_e2e::*;
use switchyard_sdk::intents::train::Example;
use switchyard_sdk::playbook::Playbook;

const BANKING_KEY: &str = "banking-bench-key";

/// The project's bilingual demo examples, trained on beside BANKING77 so the
/// model serves the Chinese the tenant's playbook scripts.
const DEMO_TRAIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/banking/demo-train.csv"
);
/// How many times the demo's examples count by default (`BENCH_ALSO_WEIGHT`
/// to compare): 28 Chinese examples among 10,003 English ones barely move
/// the model otherwise.
const ALSO_WEIGHT: usize = 8;
/// Questions none of the training sets hold, Chinese among them.
const DEMO_VALIDATION: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/banking/demo-validation.csv"
);

fn main() {
    let Some(dir) = switchyard_e2e::shared_data("intents/banking77", "test.csv") else {
        return;
    };
    let mut train = load_examples(dir.join("train.csv").to_str().unwrap(), &[]).unwrap();
    // As `--also examples/banking/demo-train.csv --also-weight 8`.
    let demo = load_examples(DEMO_TRAIN, &[]).unwrap();
    let weight: usize = std::env::var("BENCH_ALSO_WEIGHT")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(ALSO_WEIGHT);
    println!("the demo's examples counted {weight} times (BENCH_ALSO_WEIGHT)");
    for _ in 0..weight {
        train.extend(demo.iter().cloned());
    }
    let test = load_examples(dir.join("test.csv").to_str().unwrap(), &[]).unwrap();
    let chinese: Vec<Example> = load_examples(DEMO_VALIDATION, &[])
        .unwrap()
        .into_iter()
        // The banking questions: the small-talk rows (`oos`) have no
        // playbook entry to be right about.
        .filter(|e| e.label != "oos")
        .filter(|e| {
            e.text
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        })
        .chain([Example {
            // Issue 15, item 8: went to the ordinary cards queue.
            text: "我的卡被偷了，赶紧冻结".into(),
            label: "lost_or_stolen_card".into(),
        }])
        .collect();
    assert!(chinese.len() > 1, "Chinese validation questions");
    let playbook: Playbook =
        serde_json::from_str(include_str!("../../examples/banking/playbook.json")).unwrap();
    let build = banking_pack_data(
        &train,
        &playbook,
        &playbook_languages(&playbook),
        &TrainingArgs::default(),
    )
    .unwrap();
    println!(
        "banking pack: {} examples (BANKING77 and the demo's), {} intents, trained in {:.1} s; config {} bytes; {}",
        build.examples,
        build.intents,
        build.seconds,
        build.json.len(),
        build.languages.join("; ")
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

    let mut timings = measure(
        &env,
        &playbook,
        &format!("{} BANKING77 test questions", test.len()),
        "q",
        &test,
        "en",
    );
    measure(
        &env,
        &playbook,
        &format!(
            "{} Chinese questions (the demo's validation set and the issue's)",
            chinese.len()
        ),
        "zh",
        &chinese,
        "zh",
    );
    let summary = |name: &str, micros: &mut Vec<u64>| {
        micros.sort_unstable();
        println!(
            "  {name:<24}median {:>5} µs, p99 {:>5} µs",
            micros[micros.len() / 2],
            micros[micros.len() * 99 / 100]
        );
    };
    for slot in ["classify", "route", "assist", "whole request"] {
        let name = match slot {
            "whole request" => slot.to_string(),
            _ => format!("{slot} (with the pack)"),
        };
        summary(&name, timings.get_mut(slot).unwrap());
    }

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

/// Send every example through the banking tenant as a new conversation,
/// print what went right, and return the time per stage (µs).
fn measure(
    env: &TestEnv,
    playbook: &Playbook,
    title: &str,
    prefix: &str,
    examples: &[Example],
    lang: &str,
) -> HashMap<&'static str, Vec<u64>> {
    let emergency = "card-emergency";
    let queue_of = |intent: &str| playbook.intents[intent].queue.as_str();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut micros: HashMap<&'static str, Vec<u64>> = HashMap::new();
    for (i, example) in examples.iter().enumerate() {
        let started = Instant::now();
        let r = env.send_as(
            BANKING_KEY,
            &format!("{prefix}{i}"),
            &example.text,
            &format!("{prefix}-c{i}"),
            "standard",
        );
        micros
            .entry("whole request")
            .or_default()
            .push(started.elapsed().as_micros() as u64);
        for slot in ["classify", "route", "assist"] {
            micros
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
        let script = match lang {
            "zh" => truth.script.zh.as_str(),
            _ => truth.script.en.as_str(),
        };
        count(
            "bot answered right",
            to_bot && r["reply"].as_str() == Some(script),
        );
        count("escalated", r["escalation"]["escalate"] == true);
    }
    let n = examples.len();
    let c = |what: &str| counts.get(what).copied().unwrap_or(0);
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("{title} through the banking tenant:");
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
        "  bot answered            {:>5}  {:.2}%; with the right intent's script ({lang}): {:.2}% of those",
        c("bot answered"),
        pct(c("bot answered"), n),
        pct(c("bot answered right"), c("bot answered"))
    );
    println!(
        "  escalated               {:>5}  {:.2}%",
        c("escalated"),
        pct(c("escalated"), n)
    );
    micros
}
