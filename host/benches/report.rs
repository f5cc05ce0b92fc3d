//! `cargo bench -p switchyard --bench report`: a 30-day KPI report over a
//! million stored customer messages, from the real `switchyard serve`
//! binary over a loopback socket (target: under 1 s).
//!
//! The history is generated (seeded, so runs repeat) and written to a data
//! directory through the store's commit path as the events a real service
//! leaves: 1,000,000 customer messages (`BENCH_MESSAGES`) over 30 days
//! (`BENCH_DAYS`) in about a third as many conversations, with bot
//! replies, handoffs, claims, agents' replies and notes, resolutions,
//! surveys (a third answered), suggestion outcomes, corrections and
//! tickets; 77 intents, 40 agents, 5 queues, 3 channels, a canary taking
//! a tenth of the conversations. It is counted once in-process (the
//! counter's throughput is printed), then the binary serves it and each
//! report is asked `BENCH_REPEATS` times (default 5): the first and the
//! median are printed with their ratio to the 1 s target.

#[path = "../tests/support/loadgen.rs"]
mod loadgen;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::model::{Event, EventKind};
use switchyard::storage::{Commit, Storage};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const DEMO_KEY: &str = "demo-key-for-report-runs";
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const SEC: u64 = 1000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: seeded, so every run writes the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    /// Zipf-like: small indexes far more often (intents, articles).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0) as u64 % n
    }
}

fn event(at_ms: u64, kind: EventKind, conversation: &str, detail: Value) -> Event {
    Event {
        id: 0,
        at_ms,
        kind,
        conversation_id: Some(conversation.to_string()),
        message_id: None,
        queue: None,
        agent: None,
        status: None,
        detail: Some(detail),
    }
}

/// One conversation's events, as the host writes them.
fn conversation(rng: &mut Rng, n: u64, start: u64, messages: u64, out: &mut Vec<Event>) {
    use switchyard::model::ConversationStatus::*;
    let id = format!("g-{n}");
    let intent = format!("intent_{:02}", rng.skewed(77));
    let customer = format!("cust{:06}", rng.below(180_000));
    let channel = ["web", "wechat", "app"][rng.below(3) as usize];
    let canary = rng.chance(0.1);
    let classify_version = if canary { 13 } else { 3 };
    // Harder intents (higher numbers) reach people more often.
    let handoff_at = if rng.chance(0.08 + 0.2 * (intent[7..].parse::<f64>().unwrap_or(0.0) / 77.0))
    {
        Some(rng.below(messages))
    } else {
        None
    };
    let queue = ["general", "after-sales", "billing", "logistics", "vip"][rng.below(5) as usize];
    let agent = format!("agent-{:02}", rng.below(40));
    let mut at = start;
    let mut with_people = false;
    let opens_ticket = rng.chance(0.08);
    for m in 0..messages {
        let handoff = handoff_at == Some(m);
        let answered = !with_people && !handoff && rng.chance(0.97);
        out.push(event(
            at,
            EventKind::MessageCreated,
            &id,
            json!({"route": if handoff || with_people { queue } else { "bot" },
                "escalated": handoff, "handoff": handoff, "first": m == 0,
                "classify_version": classify_version, "route_version": 5, "intent": intent,
                "customer": customer, "channel": channel, "bot_turn": !with_people,
                "answered": answered,
                "ticket_department": if m == 0 && opens_ticket { json!("logistics") } else { json!(null) }}),
        ));
        if answered {
            out.push(event(
                at,
                EventKind::MessageCreated,
                &id,
                json!({"author": "bot", "private": false}),
            ));
        }
        if rng.chance(0.02) {
            out.push(event(
                at + 30 * SEC,
                EventKind::MessageCorrected,
                &id,
                json!({"was": intent, "corrected_before": false, "corrected": true, "by": agent}),
            ));
        }
        if handoff {
            let mut waiting = event(at, EventKind::ConversationStatus, &id, json!(null));
            waiting.status = Some(Waiting);
            waiting.queue = Some(queue.into());
            out.push(waiting);
            at += (5 + rng.below(300)) * SEC;
            let mut assigned = event(at, EventKind::Assigned, &id, json!(null));
            assigned.agent = Some(agent.clone());
            out.push(assigned);
            out.push(event(
                at + 2 * SEC,
                EventKind::MessageCreated,
                &id,
                json!({"author": "agent", "agent": agent, "private": true}),
            ));
            at += (3 + rng.below(120)) * SEC;
            out.push(event(
                at,
                EventKind::MessageCreated,
                &id,
                json!({"author": "agent", "agent": agent, "private": false}),
            ));
            for _ in 0..3 {
                let outcome =
                    ["accepted", "accepted", "edited", "dismissed"][rng.below(4) as usize];
                let mut e = event(
                    at,
                    EventKind::SuggestionOutcome,
                    &id,
                    json!({"outcome": outcome, "article_id": format!("art-{}", rng.skewed(200)), "version_id": 9}),
                );
                e.agent = Some(agent.clone());
                out.push(e);
            }
            with_people = true;
        }
        at += (20 + rng.below(240)) * SEC;
    }
    let resolves = with_people || rng.chance(0.6);
    if resolves {
        at += (60 + rng.below(1800)) * SEC;
        let mut resolved = event(
            at,
            EventKind::ConversationStatus,
            &id,
            json!({"by": if with_people { json!(agent) } else { json!(null) }, "survey": true}),
        );
        resolved.status = Some(Resolved);
        out.push(resolved);
        if rng.chance(0.33) {
            let score = [5, 5, 5, 4, 4, 3, 2, 1][rng.below(8) as usize];
            out.push(event(at + 120 * SEC, EventKind::SurveyAnswered, &id,
                json!({"score": score, "agent": if with_people { json!(agent) } else { json!(null) }})));
        }
    }
    if opens_ticket {
        let closed = start + (1 + rng.below(48)) * HOUR;
        out.push(event(closed, EventKind::TicketStatus, &id,
            json!({"department": "logistics", "from": "open", "to": "solved", "created_at_ms": start})));
    }
}

fn get(base: &str, path: &str) -> (Duration, Value) {
    let started = Instant::now();
    let mut response = ureq::get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {}", loadgen::OPERATOR_KEY))
        .call()
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let body: Value = response.body_mut().read_json().expect("a JSON answer");
    (started.elapsed(), body)
}

fn main() {
    let messages: u64 = env_or("BENCH_MESSAGES", 1_000_000);
    let days: u64 = env_or("BENCH_DAYS", 30);
    let repeats: usize = env_or("BENCH_REPEATS", 5);
    let data = tempfile::tempdir().expect("a temporary directory");
    // The demo tenant, as `serve` makes it, with the history's 40 agents.
    let seeding = loadgen::Server::start(BIN, data.path(), DEMO_KEY, &[]);
    for n in 0..40 {
        ureq::post(format!("http://{}/v1/agents", seeding.addr))
            .header("Authorization", format!("Bearer {DEMO_KEY}"))
            .send_json(
                json!({"id": format!("agent-{n:02}"), "name": format!("Agent {n}"),
                "skills": ["general"], "capacity": 5, "status": "online"}),
            )
            .expect("creating an agent");
    }
    seeding.stop();

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let first_day = (now / DAY - days + 1) * DAY;
    let mut rng = Rng(19);
    let started = Instant::now();
    let mut events = Vec::new();
    let (mut written, mut n) = (0u64, 0u64);
    while written < messages {
        let length = (1 + rng.skewed(8)).min(messages - written);
        // Busier in the day (UTC 1-13 here), every day of the period.
        let day = first_day + rng.below(days) * DAY;
        let hour = if rng.chance(0.8) {
            1 + rng.below(12)
        } else {
            rng.below(24)
        };
        let start = (day + hour * HOUR + rng.below(HOUR)).min(now - 10 * 60 * SEC);
        conversation(&mut rng, n, start, length, &mut events);
        written += length;
        n += 1;
    }
    events.sort_by_key(|e| e.at_ms);
    let generated = started.elapsed();
    let storage = Storage::open(data.path()).expect("opening the store");
    let started = Instant::now();
    for batch in events.chunks(2_000) {
        storage
            .commit_durably(
                Commit {
                    tenant: "demo".into(),
                    events: batch.to_vec(),
                    ..Default::default()
                },
                None,
            )
            .expect("writing the history");
    }
    let stored = started.elapsed();
    let started = Instant::now();
    let counted = switchyard::traffic::count_new(&storage, "demo").expect("counting");
    let counting = started.elapsed();
    drop(storage);
    println!(
        "report: {messages} customer messages in {n} conversations over {days} days, {} events \
         (generated in {:.1} s, stored in {:.1} s); counted once in {:.1} s: {:.0} events/s",
        events.len(),
        generated.as_secs_f64(),
        stored.as_secs_f64(),
        counting.as_secs_f64(),
        counted as f64 / counting.as_secs_f64()
    );
    drop(events);

    let server = loadgen::Server::start(BIN, data.path(), DEMO_KEY, &[]);
    let base = format!("http://{}", server.addr);
    let period = format!("days={days}");
    let reports = [
        (
            "kpis, by day",
            format!("/v1/tenants/demo/reports/kpis?{period}"),
        ),
        (
            "kpis, by hour",
            format!("/v1/tenants/demo/reports/kpis?{period}&group=hour"),
        ),
        (
            "kpis, by intent",
            format!("/v1/tenants/demo/reports/kpis?{period}&by=intent"),
        ),
        (
            "kpis, by agent",
            format!("/v1/tenants/demo/reports/kpis?{period}&by=agent"),
        ),
        (
            "canary",
            format!("/v1/tenants/demo/reports/canary?{period}"),
        ),
        (
            "weak spots (7 days)",
            "/v1/tenants/demo/reports/weak-spots".to_string(),
        ),
        (
            "coaching",
            format!("/v1/tenants/demo/reports/coaching/li.na?{period}"),
        ),
    ];
    println!(
        "{:<22} {:>10} {:>10} {:>10}  answer",
        "report", "first ms", "median ms", "/ 1 s"
    );
    for (name, path) in reports {
        let mut times = Vec::new();
        let mut last = Value::Null;
        for _ in 0..repeats.max(1) {
            let (took, body) = get(&base, &path);
            times.push(took.as_secs_f64() * 1000.0);
            last = body;
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let what = match name {
            n if n.starts_with("kpis") => format!(
                "{} conversations, {} rows",
                last["totals"]["conversations"],
                last["series"]
                    .as_array()
                    .map_or(0, Vec::len)
                    .max(last["groups"].as_array().map_or(0, Vec::len))
            ),
            "canary" => format!(
                "{} comparisons",
                last["comparisons"].as_array().map_or(0, Vec::len)
            ),
            "weak spots (7 days)" => {
                format!("{} intents", last["intents"].as_array().map_or(0, Vec::len))
            }
            _ => format!("{} gaps", last["gaps"].as_array().map_or(0, Vec::len)),
        };
        println!(
            "{name:<22} {first:>10.1} {median:>10.1} {:>10.3}  {what}",
            median / 1000.0
        );
    }
    println!(
        "server: {:.0} MiB resident, {:.0} MiB on disk",
        server.rss_mib(),
        server.disk_bytes() as f64 / 1_048_576.0
    );
    server.stop();
}
