//! `cargo bench -p switchyard --bench isolation`: how much a misbehaving
//! tenant slows a healthy one, on the real `switchyard serve` binary over
//! loopback sockets, each scenario on a fresh server and data directory.
//!
//! The demo tenant ("healthy") sends customer messages at a steady pace while
//! a second tenant ("noisy") misbehaves as fast as the server answers it. The
//! healthy tenant's latency is reported per scenario, with its ratio to the
//! healthy tenant running alone:
//!
//! - `alone`: only the healthy tenant sends;
//! - `noisy, behaving`: the noisy tenant sends messages its plugin answers at
//!   once (the cost of a busy neighbour);
//! - `noisy, looping, breaker off`: its classifier loops on every message
//!   until the deadline stops it (fuel raised to the maximum, so each call
//!   burns the whole 50 ms of CPU), and the circuit breaker never takes it
//!   out (the worst case: only limits and the per-tenant cap contain it);
//! - `noisy, looping, breaker on`: the default breaker policy;
//! - `noisy, rebuilding its index`: it rewrites large articles and searches,
//!   so its knowledge index is rebuilt again and again;
//! - `noisy, mining`: it asks for blind-spot mining over the messages it
//!   stored first (5,000 it did not get answered) as fast as answered;
//! - `noisy, 300 half-sent requests`: 300 connections that sent half a
//!   request's headers, reopened as the header deadline cuts them;
//! - `noisy, max-size messages`: a tenant running the first-party plugins
//!   (the demo's versions and configs) gets only messages of the largest
//!   size, 8 KiB of one-letter words, CJK characters, digits and commas; its
//!   classifier must still be the active version afterwards.
//!
//! `BENCH_SCENARIOS=mining,half-sent` runs only the scenarios whose name
//! contains one of the words (and `alone`, the baseline).
//!
//! Servers run with the defaults of `serve` (per-tenant concurrency twice the
//! cores; `BENCH_TENANT_CONCURRENCY` to compare others) and no request rate
//! limit, so the load generator is never refused. Environment: `BENCH_SECS`
//! per scenario (default 15), `BENCH_HEALTHY_CLIENTS` (2),
//! `BENCH_HEALTHY_RATE` messages per second per healthy client (50),
//! `BENCH_NOISY_CLIENTS` (4), `BENCH_MINING_MESSAGES` the mining tenant
//! stores first (5,000).

#[path = "../tests/support/loadgen.rs"]
mod loadgen;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loadgen::{OPERATOR_KEY, Server};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const DEMO_KEY: &str = "demo-key-for-isolation-runs";

/// What the healthy tenant's customers write: routine, escalating and flagged,
/// in both languages.
const HEALTHY: [&str; 6] = [
    "where is my package?",
    "我的快递到哪了",
    "能开发票吗",
    "can I exchange this jacket for a bigger size",
    "我要去12315投诉你们",
    "I want to talk to a real person",
];
/// The looping fixture loops on messages containing "退款".
const LOOPING: &str = "我要退款 (refund)";
const BEHAVING: &str = "where is my package?";
/// Connections the half-sent scenario holds open at once.
const HALF_SENT_CONNECTIONS: usize = 300;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One request; the status and the body as JSON (`Null` if it is not).
fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    key: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json");
    let body = body.map(Value::to_string).unwrap_or_default();
    match agent.run(request.body(body).expect("a valid request")) {
        Ok(mut response) => (
            response.status().as_u16(),
            response.body_mut().read_json().unwrap_or(Value::Null),
        ),
        Err(_) => (0, Value::Null),
    }
}

/// One message; returns its latency and the answer (status must be 201).
fn send(
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    conversation: &str,
    text: &str,
) -> (Duration, Value) {
    let started = Instant::now();
    let url = format!("{base}/v1/conversations/{conversation}/messages");
    let message = json!({"text": text, "customer": {"id": conversation}});
    let (status, body) = call(agent, "POST", &url, key, Some(&message));
    let elapsed = started.elapsed();
    assert_eq!(status, 201, "{}: {body}", &text[..text.len().min(40)]);
    (elapsed, body)
}

/// Setting up tenants through the operator API, as an operator would.
struct Operator {
    agent: ureq::Agent,
    base: String,
}

impl Operator {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = call(
            &self.agent,
            method,
            &format!("{}{path}", self.base),
            OPERATOR_KEY,
            body,
        );
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    fn create_tenant(&self, id: &str) -> String {
        let tenant = self.call("POST", "/v1/tenants", Some(&json!({"id": id, "name": id})));
        tenant["api_key"].as_str().expect("a key").to_string()
    }

    /// Upload a test fixture component; its sha256.
    fn upload_fixture(&self, stem: &str) -> String {
        let path = format!("{}/{stem}.wasm", switchyard::demo::COMPONENT_DIR);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut response = self
            .agent
            .post(format!("{}/v1/plugins?name={stem}&version=1", self.base))
            .header("Authorization", format!("Bearer {OPERATOR_KEY}"))
            .header("Content-Type", "application/wasm")
            .send(&bytes[..])
            .expect("uploading a fixture");
        let meta: Value = response.body_mut().read_json().expect("plugin metadata");
        meta["sha256"].as_str().expect("a sha256").to_string()
    }

    fn bind(&self, tenant: &str, slot: &str, sha256: &str, config: &str) {
        self.call(
            "PUT",
            &format!("/v1/tenants/{tenant}/bindings/{slot}"),
            Some(&json!({"plugins": [{"sha256": sha256, "config": config}]})),
        );
    }

    /// The active version of a slot with its config: (sha256, config, id).
    fn active(&self, tenant: &str, slot: &str) -> (String, String, u64) {
        let rollout = self.call("GET", &format!("/v1/tenants/{tenant}/slots/{slot}"), None);
        let version = rollout["versions"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["state"] == "active"))
            .unwrap_or_else(|| panic!("no active version on {tenant}/{slot}: {rollout}"))
            .clone();
        let config = self.call(
            "GET",
            &format!(
                "/v1/tenants/{tenant}/configs/{}",
                version["config_sha256"].as_str().unwrap()
            ),
            None,
        );
        (
            version["sha256"].as_str().unwrap().to_string(),
            config["config"].as_str().unwrap().to_string(),
            version["id"].as_u64().unwrap(),
        )
    }

    /// A tenant whose only classifier loops on messages about refunds until
    /// its deadline stops it: the fuel raised as far as an operator may, so
    /// the wall clock ends each call.
    fn looping_tenant(&self, id: &str) -> String {
        let key = self.create_tenant(id);
        let sha = self.upload_fixture("switchyard_fixture_misbehaving");
        self.bind(id, "classify", &sha, "only:退款:loop");
        self.call(
            "PUT",
            &format!("/v1/tenants/{id}/limits"),
            Some(&json!({"fuel": 100_000_000_000u64})),
        );
        key
    }

    /// A tenant running the demo's first-party plugins with their configs
    /// (the router aside: it routes to queues this tenant did not declare).
    fn first_party_tenant(&self, id: &str) -> String {
        let key = self.create_tenant(id);
        for slot in ["inspect", "classify", "escalate", "assist", "ticket"] {
            let (sha, config, _) = self.active("demo", slot);
            self.bind(id, slot, &sha, &config);
        }
        key
    }
}

#[derive(Default)]
struct Noisy {
    sent: usize,
    /// What each request came to (a trace outcome or a status) -> count.
    outcomes: std::collections::BTreeMap<String, usize>,
    slowest: Duration,
}

/// What the other tenant does meanwhile.
#[derive(Clone, Copy, PartialEq)]
enum Noise {
    Idle,
    /// Messages with this text to the looping tenant, each client as fast
    /// as answered.
    Messages(&'static str),
    /// Each client rewrites a large article and searches, so the tenant's
    /// knowledge index is rebuilt again and again.
    Rebuild,
    /// Each client asks for blind-spot mining as fast as answered (one run
    /// at a time is allowed; the others get 409, a rest 429).
    Mining,
    /// Hundreds of connections that send half a request's headers and
    /// hold, reopened as the header deadline cuts them.
    HalfSent,
    /// Messages of the largest size, of short tokens that cost the
    /// plugins most per byte, to a tenant running the first-party plugins.
    MaxSize,
}

struct Scenario {
    name: &'static str,
    noise: Noise,
    breaker_on: bool,
}

/// One round of `noise` by one noisy client; returns what to count.
fn make_noise(
    noise: Noise,
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    client: usize,
    n: usize,
) -> (Duration, String) {
    let started = Instant::now();
    let outcome = match noise {
        Noise::Idle | Noise::HalfSent => unreachable!("no request loop"),
        Noise::Messages(text) => {
            let conversation = format!("n-{client}-{}", n % 64);
            let (_, body) = send(agent, base, key, &conversation, text);
            body["trace"]
                .as_array()
                .and_then(|t| t.iter().find(|e| e["slot"] == "classify"))
                .map_or("default".to_string(), |e| {
                    e["outcome"].as_str().unwrap_or("?").to_string()
                })
        }
        Noise::Rebuild => {
            // 16 KB of text that changes every time: the index is rebuilt.
            let body: String = (0..800)
                .map(|w| format!("word{}x{} ", (w * 7 + n) % 997, client))
                .collect();
            let id = format!("big-{client}");
            let article = json!({"id": id, "title": format!("Large article {n}"),
                "keywords": ["large"], "body": body, "published": true});
            let url = format!("{base}/v1/knowledge/articles/{id}");
            let (put, _) = call(agent, "PUT", &url, key, Some(&article));
            let url = format!("{base}/v1/knowledge/search?q=word{n}x{client}");
            let (search, _) = call(agent, "GET", &url, key, None);
            format!("put {put}, search {search}")
        }
        Noise::Mining => {
            let url = format!("{base}/v1/knowledge/mine");
            let (status, _) = call(agent, "POST", &url, key, Some(&json!({})));
            format!("mine {status}")
        }
        Noise::MaxSize => {
            let max = switchyard::app::MAX_MESSAGE_BYTES;
            let unit = ["a ", "退", "1,", "ab "][n % 4];
            let text = unit.repeat(max / unit.len());
            let conversation = format!("long-{client}-{}", n % 64);
            let (_, body) = send(agent, base, key, &conversation, &text);
            // Any call that did not answer in time or within budget counts.
            body["trace"]
                .as_array()
                .and_then(|t| t.iter().find(|e| e["outcome"] != "ok"))
                .map_or("all ok".to_string(), |e| {
                    format!("{} {}", e["slot"], e["outcome"])
                })
        }
    };
    (started.elapsed(), outcome)
}

/// Texts the mining tenant's customers wrote: none of them an intent the
/// demo classifier knows, in a few recurring themes with varied wording.
fn unknown_message(n: usize) -> String {
    let themes = [
        "the loyalty points from my last order never showed up",
        "积分没有到账，上个月买的",
        "your app logs me out every time I open the wallet page",
        "小程序里的钱包页面一打开就闪退",
        "can I pick a delivery slot in the evening",
    ];
    format!("{} ({})", themes[n % themes.len()], n / themes.len())
}

/// Hold [`HALF_SENT_CONNECTIONS`] half-sent requests until `stop`; returns
/// how many connections were opened in all.
fn hold_half_sent(base: &str, stop: &AtomicBool) -> usize {
    use std::io::Write;
    let addr = base.trim_start_matches("http://").to_string();
    let mut held: Vec<std::net::TcpStream> = Vec::new();
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        // Connections the server cut at its header deadline are replaced.
        held.retain(|c| {
            let mut probe = [0u8; 1];
            c.set_nonblocking(true).ok();
            !matches!(std::io::Read::read(&mut &*c, &mut probe), Ok(0))
        });
        while held.len() < HALF_SENT_CONNECTIONS {
            let Ok(mut c) = std::net::TcpStream::connect(&addr) else {
                break;
            };
            let _ = c.write_all(b"POST /v1/conversations/x/messages HTTP/1.1\r\nHost: x\r\n");
            held.push(c);
            opened += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    opened
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A fresh server for one scenario.
fn start(breaker_on: bool) -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().expect("a temp dir");
    let mut args = vec![
        "--rate-per-sec".to_string(),
        "1000000000".into(),
        "--rate-burst".into(),
        "1000000000".into(),
    ];
    if !breaker_on {
        args.extend(["--breaker-failures".into(), u32::MAX.to_string()]);
    }
    if let Ok(n) = std::env::var("BENCH_TENANT_CONCURRENCY") {
        args.extend(["--tenant-concurrency".into(), n]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(BIN, data.path(), DEMO_KEY, &args);
    (data, server)
}

fn main() {
    let seconds: u64 = env_or("BENCH_SECS", 15);
    let healthy_clients: usize = env_or("BENCH_HEALTHY_CLIENTS", 2);
    let healthy_rate: u64 = env_or("BENCH_HEALTHY_RATE", 50);
    let noisy_clients: usize = env_or("BENCH_NOISY_CLIENTS", 4);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scenario = |name, noise, breaker_on| Scenario {
        name,
        noise,
        breaker_on,
    };
    let scenarios = [
        scenario("alone", Noise::Idle, true),
        scenario("noisy, behaving", Noise::Messages(BEHAVING), true),
        scenario(
            "noisy, looping, breaker off",
            Noise::Messages(LOOPING),
            false,
        ),
        scenario("noisy, looping, breaker on", Noise::Messages(LOOPING), true),
        scenario("noisy, rebuilding its index", Noise::Rebuild, true),
        scenario("noisy, mining", Noise::Mining, true),
        scenario("noisy, 300 half-sent requests", Noise::HalfSent, true),
        scenario("noisy, max-size messages", Noise::MaxSize, true),
    ];
    // BENCH_SCENARIOS=mining,half-sent runs some; all by default.
    let only: Option<Vec<String>> = std::env::var("BENCH_SCENARIOS")
        .ok()
        .map(|v| v.split(',').map(str::to_string).collect());

    println!(
        "isolation: the switchyard binary, {cores} cores, {seconds} s per scenario, healthy \
         {healthy_clients} clients × {healthy_rate} msg/s, noisy {noisy_clients} clients as fast \
         as answered, deadline 50 ms, a fresh server per scenario"
    );
    let mut baseline: Option<(Duration, Duration)> = None;
    for (round, scenario) in scenarios.iter().enumerate() {
        // "alone" always runs: it is what the others are compared with.
        if let Some(only) = &only
            && round > 0
            && !only.iter().any(|o| scenario.name.contains(o.as_str()))
        {
            continue;
        }
        let (_data, server) = start(scenario.breaker_on);
        let base = format!("http://{}", server.addr);
        let operator = Operator {
            agent: agent(),
            base: base.clone(),
        };
        let noisy_key = match scenario.noise {
            Noise::Idle | Noise::HalfSent => String::new(),
            Noise::Messages(_) => operator.looping_tenant("noisy"),
            Noise::Rebuild | Noise::Mining | Noise::MaxSize => operator.first_party_tenant("noisy"),
        };
        if scenario.noise == Noise::Mining {
            seed_messages(&base, &noisy_key, noisy_clients);
        }
        let classifier_before =
            (scenario.noise == Noise::MaxSize).then(|| operator.active("noisy", "classify").2);
        // Warm the healthy tenant's instances, as a running server has them.
        let warm = agent();
        for (i, text) in HEALTHY.iter().enumerate() {
            send(&warm, &base, DEMO_KEY, &format!("warm-{i}"), text);
        }

        let stop = Arc::new(AtomicBool::new(false));
        let noisy: Vec<_> = match scenario.noise {
            Noise::Idle => Vec::new(),
            Noise::HalfSent => {
                let (base, stop) = (base.clone(), stop.clone());
                vec![std::thread::spawn(move || Noisy {
                    sent: hold_half_sent(&base, &stop),
                    ..Noisy::default()
                })]
            }
            noise => (0..noisy_clients)
                .map(|client| {
                    let (base, key, stop) = (base.clone(), noisy_key.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let agent = agent();
                        let mut noisy = Noisy::default();
                        while !stop.load(Ordering::Relaxed) {
                            let (elapsed, outcome) =
                                make_noise(noise, &agent, &base, &key, client, noisy.sent);
                            noisy.sent += 1;
                            noisy.slowest = noisy.slowest.max(elapsed);
                            *noisy.outcomes.entry(outcome).or_default() += 1;
                        }
                        noisy
                    })
                })
                .collect(),
        };
        // Let the noisy tenant reach its steady state before measuring.
        if scenario.noise != Noise::Idle {
            std::thread::sleep(Duration::from_millis(500));
        }

        let healthy: Vec<_> = (0..healthy_clients)
            .map(|client| {
                let base = base.clone();
                std::thread::spawn(move || {
                    let agent = agent();
                    let period = Duration::from_micros(1_000_000 / healthy_rate.max(1));
                    let end = Instant::now() + Duration::from_secs(seconds);
                    let mut next = Instant::now();
                    let mut latencies = Vec::new();
                    let mut n = 0usize;
                    while Instant::now() < end {
                        let text = HEALTHY[n % HEALTHY.len()];
                        let conversation = format!("h{client}-{}", n % 64);
                        let (elapsed, _) = send(&agent, &base, DEMO_KEY, &conversation, text);
                        latencies.push(elapsed);
                        n += 1;
                        // A steady pace; when a reply ran late, send the next at once.
                        next += period;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        } else {
                            next = Instant::now();
                        }
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies: Vec<Duration> = healthy
            .into_iter()
            .flat_map(|h| h.join().expect("healthy client"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let noisy: Vec<Noisy> = noisy
            .into_iter()
            .map(|h| h.join().expect("noisy client"))
            .collect();

        assert!(!latencies.is_empty(), "the healthy tenant sent nothing");
        latencies.sort();
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        let max = *latencies.last().expect("checked above");
        let (r50, r99) = match baseline {
            None => {
                baseline = Some((p50, p99));
                (1.0, 1.0)
            }
            Some((b50, b99)) => (
                p50.as_secs_f64() / b50.as_secs_f64(),
                p99.as_secs_f64() / b99.as_secs_f64(),
            ),
        };
        println!(
            "healthy, {:<30} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  (n={})  vs alone: p50 {r50:.2}×  p99 {r99:.2}×",
            scenario.name,
            ms(p50),
            ms(p99),
            ms(max),
            latencies.len(),
        );
        if !noisy.is_empty() {
            let sent: usize = noisy.iter().map(|n| n.sent).sum();
            let slowest = noisy.iter().map(|n| n.slowest).max().unwrap_or_default();
            let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
            for n in &noisy {
                for (outcome, count) in &n.outcomes {
                    *outcomes.entry(outcome.clone()).or_default() += count;
                }
            }
            println!(
                "        noisy tenant: {sent} requests or connections ({:.0}/s), slowest answer {:.1} ms, outcomes {outcomes:?}",
                sent as f64 / (seconds as f64 + 0.5),
                ms(slowest),
            );
        }
        if let Some(before) = classifier_before {
            let after = operator.active("noisy", "classify").2;
            println!(
                "        noisy tenant's classifier: version {before} before, {after} after ({})",
                if before == after {
                    "still active"
                } else {
                    "REPLACED"
                }
            );
        }
        drop(server);
    }
}

/// Store `BENCH_MINING_MESSAGES` messages the classifier does not
/// understand for the mining tenant, `clients` at a time.
fn seed_messages(base: &str, key: &str, clients: usize) {
    let messages: usize = env_or("BENCH_MINING_MESSAGES", 5_000);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients.max(1))
        .map(|client| {
            let (base, key) = (base.to_string(), key.to_string());
            std::thread::spawn(move || {
                let agent = agent();
                for n in (client..messages).step_by(clients.max(1)) {
                    send(
                        &agent,
                        &base,
                        &key,
                        &format!("seed-{n}"),
                        &unknown_message(n),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a seeding client");
    }
    println!(
        "        (mining tenant: {messages} messages stored in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
}
