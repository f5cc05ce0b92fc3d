//! `cargo bench -p switchyard-e2e`: time the demo tenant's full plugin pipeline
//! per message, in WebAssembly inside the host and the same first-party logic
//! called natively (against the SDK's mock host), and print both with their
//! ratio; also the message path with persistence and over HTTP (in-process,
//! with the fsync that acknowledges each message).
//!
//! Set `BENCH_ROUNDS` to change how many times the message set is run (default 400).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use switchyard::app::NewMessage;
use switchyard::demo::FIRST_PARTY;
use switchyard::model::{Customer, Tier};
use switchyard::pipeline::Inbound;
use switchyard_e2e::TestEnv;
use switchyard_sdk::testing::{self, MockArticle, MockHost};
// The plugins' logic is their slot trait's functions.
use switchyard_sdk::types::{self as t, AgentStatus};
use switchyard_sdk::{
    assist::Guest as _, classify::Guest as _, escalate::Guest as _, inspect::Guest as _,
    route::Guest as _, ticket::Guest as _,
};

/// (text, tier): routine, escalating, flagged and VIP messages in both languages.
const MESSAGES: [(&str, &str); 12] = [
    ("我要退款，订单号 2024113012345", "standard"),
    ("转人工", "standard"),
    ("I want to talk to a real person", "standard"),
    ("我要去12315投诉你们", "standard"),
    ("where is my package?", "standard"),
    ("我的快递到哪了", "vip"),
    ("能开发票吗", "standard"),
    ("can I exchange this jacket for a bigger size", "premium"),
    (
        "This is ridiculous, my parcel is a week late!!!",
        "standard",
    ),
    ("优惠券怎么用不了", "standard"),
    (
        "I want a refund for order 2024113000077, call me on 13812345678",
        "standard",
    ),
    ("what's the weather on mars tomorrow", "standard"),
];

struct Stats {
    median: Duration,
    p99: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    Stats {
        median: at(0.5),
        p99: at(0.99),
        mean: samples.iter().sum::<Duration>() / samples.len() as u32,
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn print(name: &str, s: &Stats, n: usize) {
    println!(
        "{name:<44} median {:>8.1} µs   p99 {:>8.1} µs   mean {:>8.1} µs   (n={n})",
        us(s.median),
        us(s.p99),
        us(s.mean)
    );
}

fn tier(name: &str) -> Tier {
    match name {
        "vip" => Tier::Vip,
        "premium" => Tier::Premium,
        _ => Tier::Standard,
    }
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let env = TestEnv::demo();
    let app = env.app.clone();

    // --- wasm: the pipeline alone, in process ---
    let pipeline = app.pipeline("demo").unwrap();
    let knowledge = app.knowledge("demo").unwrap();
    let tenant: Arc<str> = Arc::from("demo");
    let inbound: Vec<Inbound> = MESSAGES
        .iter()
        .enumerate()
        .map(|(i, (text, tier_name))| Inbound {
            tenant: tenant.clone(),
            conversation_id: format!("bench-{i}"),
            message_id: format!("m-bench-{i}"),
            text: text.to_string(),
            channel: "web".into(),
            customer: Customer {
                id: format!("bench-customer-{i}"),
                tier: tier(tier_name),
                tags: vec![],
            },
            received_at_ms: 0,
            assigned_agent: None,
            state: Default::default(),
            declared_queues: vec![],
        })
        .collect();
    for m in &inbound {
        pipeline.run(&app.storage, knowledge.clone(), m); // warm every instance
    }
    let mut wasm = Vec::with_capacity(rounds * inbound.len());
    let mut per_slot: std::collections::BTreeMap<String, u64> = Default::default();
    for _ in 0..rounds {
        for m in &inbound {
            let started = Instant::now();
            let (result, _) = pipeline.run(&app.storage, knowledge.clone(), m);
            wasm.push(started.elapsed());
            for entry in &result.decision.trace {
                *per_slot.entry(entry.slot.to_string()).or_default() += entry.micros;
            }
            std::hint::black_box(result.decision);
        }
    }

    // --- native: the same plugin crates, same configs, mock host ---
    let mut host = MockHost::default();
    host.agents = app
        .storage
        .agents("demo")
        .unwrap()
        .into_iter()
        .map(|a| t::Agent {
            id: a.agent.id,
            name: a.agent.name,
            skills: a.agent.skills,
            capacity: a.agent.capacity,
            load: a.load,
            status: match a.agent.status {
                switchyard::model::AgentStatus::Online => AgentStatus::Online,
                switchyard::model::AgentStatus::Away => AgentStatus::Away,
                switchyard::model::AgentStatus::Offline => AgentStatus::Offline,
            },
        })
        .collect();
    host.articles = app
        .storage
        .articles("demo")
        .unwrap()
        .into_iter()
        .map(|a| MockArticle {
            id: a.id,
            title: a.title,
            body: a.body,
            keywords: a.keywords,
            templates: a.templates.into_iter().map(|t| (t.lang, t.text)).collect(),
        })
        .collect();
    testing::install(host);
    let config = |slot: &str| {
        FIRST_PARTY
            .iter()
            .find(|p| p.slot.as_str() == slot)
            .unwrap()
            .demo_config
            .to_string()
    };
    switchyard_plugin_inspector::Plugin::init(config("inspect")).unwrap();
    switchyard_plugin_classifier::Plugin::init(config("classify")).unwrap();
    switchyard_plugin_escalator::Plugin::init(config("escalate")).unwrap();
    switchyard_plugin_router::Plugin::init(config("route")).unwrap();
    switchyard_plugin_assistant::Plugin::init(config("assist")).unwrap();
    switchyard_plugin_ticketer::Plugin::init(config("ticket")).unwrap();
    let native_once = |text: &str, tier_name: &str| {
        let mut turn = testing::turn(text);
        turn.customer.tier = match tier_name {
            "vip" => t::Tier::Vip,
            "premium" => t::Tier::Premium,
            _ => t::Tier::Standard,
        };
        let inspection = switchyard_plugin_inspector::Plugin::inspect(turn.clone());
        turn.findings = inspection.findings;
        let c = switchyard_plugin_classifier::Plugin::classify(turn.clone());
        turn.intent = Some(c.intent);
        turn.entities = c.entities;
        turn.escalation = Some(switchyard_plugin_escalator::Plugin::escalate(turn.clone()));
        turn.route = switchyard_plugin_router::Plugin::route(turn.clone());
        let assistance = switchyard_plugin_assistant::Plugin::assist(turn.clone());
        turn.suggestions = assistance.suggestions;
        std::hint::black_box(switchyard_plugin_ticketer::Plugin::ticket(turn));
    };
    for (text, tier_name) in MESSAGES {
        native_once(text, tier_name);
    }
    let mut native = Vec::with_capacity(rounds * MESSAGES.len());
    for _ in 0..rounds {
        for (text, tier_name) in MESSAGES {
            let started = Instant::now();
            native_once(text, tier_name);
            native.push(started.elapsed());
        }
    }

    // --- the message path: pipeline + decision record + ticket + load, in one sled transaction (no fsync) ---
    let persist_rounds = (rounds / 4).max(10);
    let mut persisted = Vec::new();
    for round in 0..persist_rounds {
        for (i, (text, tier_name)) in MESSAGES.iter().enumerate() {
            let started = Instant::now();
            app.handle_message(
                "demo",
                &format!("persist-{round}-{i}"),
                NewMessage {
                    text: text.to_string(),
                    channel: "web".into(),
                    customer: Customer {
                        id: format!("persist-{round}-{i}"),
                        tier: tier(tier_name),
                        tags: vec![],
                    },
                },
            )
            .unwrap();
            persisted.push(started.elapsed());
        }
        // Close the conversations again so agent loads stay realistic.
        for i in 0..MESSAGES.len() {
            app.close_conversation(
                "demo",
                &format!("persist-{round}-{i}"),
                &switchyard::conversations::DeskActor::Admin,
            )
            .unwrap();
        }
    }

    // --- over HTTP (axum in process, no socket), including the fsync before the answer ---
    let http_rounds = (rounds / 20).max(5);
    let mut http = Vec::new();
    for round in 0..http_rounds {
        for (i, (text, tier_name)) in MESSAGES.iter().enumerate() {
            let body = json!({"text": text, "channel": "web", "customer": {"id": format!("http-{round}-{i}"), "tier": tier_name}});
            let started = Instant::now();
            let (status, _) = env.post(
                &format!("/v1/conversations/http-{round}-{i}/messages"),
                switchyard_e2e::DEMO_KEY,
                &body,
            );
            http.push(started.elapsed());
            assert_eq!(status, 201);
        }
    }

    let (nw, nn, np, nh) = (wasm.len(), native.len(), persisted.len(), http.len());
    let (w, n) = (stats(wasm), stats(native));
    println!(
        "Switchyard pipeline benchmark: demo tenant, 6 first-party plugins, {} messages x {rounds} rounds",
        MESSAGES.len()
    );
    print("pipeline, wasm in host (per message)", &w, nw);
    print("same plugin logic, native (per message)", &n, nn);
    println!(
        "{:<44} median {:>8.2}x         p99 {:>8.2}x",
        "ratio wasm / native",
        us(w.median) / us(n.median),
        us(w.p99) / us(n.p99)
    );
    let slots: Vec<String> = per_slot
        .iter()
        .map(|(slot, total)| format!("{slot} {:.0}", *total as f64 / nw as f64))
        .collect();
    println!(
        "{:<44} {}",
        "wasm mean µs per slot (call incl. host imports)",
        slots.join(", ")
    );
    print(
        "handle_message: pipeline + sled commit",
        &stats(persisted),
        np,
    );
    print("HTTP POST (in-process) incl. fsync", &stats(http), nh);
}
