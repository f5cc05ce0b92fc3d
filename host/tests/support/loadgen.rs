//! A load generator for the real `switchyard serve` over real sockets, shared
//! by the stress test (`tests/stress.rs`) and the load and soak benchmarks
//! (`benches/load.rs`). Each connection is one kept-alive HTTP/1.1 client
//! that sends the next request as soon as the last was answered, with a mix
//! a shop's traffic has: Chinese and English messages into thousands of
//! conversations (routine questions the bot answers, refunds with order
//! numbers that open tickets, complaints, requests for a person, VIP
//! customers), a few conversation, ticket and knowledge-base reads.
//! Traffic goes to 127.0.0.1 only, for a fixed time.

#![allow(dead_code)] // each test or bench binary uses part of it

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// What customers write. `{order}` becomes a fresh order number.
const TEXTS: &[&str] = &[
    "where is my package?",
    "我的快递到哪了",
    "能开发票吗",
    "can I exchange this jacket for a bigger size",
    "我要退款，订单号 {order}",
    "I want a refund for order {order}, the item arrived broken",
    "我要去12315投诉你们",
    "I want to talk to a real person",
    "转人工",
    "how long does delivery take to Shanghai?",
    "这个商品有货吗？",
    "订单 {order} 怎么还没发货，太慢了！",
    "my order {order} has not arrived yet, this is the third time I ask",
    "how do I change my delivery address",
    "怎么修改收货地址",
    "what is your return policy",
    "退货运费谁出",
    "do you have this in blue",
    "你们的客服太差了，我要投诉",
    "can I pay with a credit card",
];

const SEARCHES: &[&str] = &["退款", "delivery time", "发票", "return policy", "改地址"];

/// One run's settings.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub key: String,
    pub connections: usize,
    pub duration: Duration,
    /// Conversations the messages are spread over (two per customer).
    pub conversations: usize,
    /// Conversation ids start with it, so runs against one server never mix.
    pub run: String,
    /// A request not answered within this counts as a stall.
    pub stall_after: Duration,
    pub seed: u64,
}

/// What one run measured.
#[derive(Default, Debug)]
pub struct LoadReport {
    pub elapsed: Duration,
    /// Messages acknowledged (201).
    pub messages: usize,
    /// Other requests answered 2xx.
    pub reads: usize,
    /// Answers other than 2xx, by status; `io` for a broken connection.
    pub errors: BTreeMap<String, usize>,
    /// Requests not answered within `stall_after`.
    pub stalls: usize,
    /// Latency of every acknowledged message, in microseconds.
    pub message_latency_us: Vec<u32>,
    /// (conversation, message id) of every acknowledged message.
    pub acknowledged: Vec<(String, String)>,
    /// Examples of the errors (status and body), at most a few.
    pub error_examples: Vec<String>,
}

impl LoadReport {
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    pub fn per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency quantile of acknowledged messages, in milliseconds.
    /// The q-quantile of message latency in milliseconds (NaN with no messages).
    /// Selects on a copy so that a report can be printed while it is borrowed.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.message_latency_us.is_empty() {
            return f64::NAN;
        }
        let mut latencies = self.message_latency_us.clone();
        let i = ((latencies.len() as f64 * q) as usize).min(latencies.len() - 1);
        let (_, nth, _) = latencies.select_nth_unstable(i);
        f64::from(*nth) / 1e3
    }

    fn merge(&mut self, other: LoadReport) {
        self.messages += other.messages;
        self.reads += other.reads;
        self.stalls += other.stalls;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.message_latency_us.extend(other.message_latency_us);
        self.acknowledged.extend(other.acknowledged);
        for e in other.error_examples {
            if self.error_examples.len() < 5 {
                self.error_examples.push(e);
            }
        }
    }
}

/// xorshift: a seeded stream per connection, so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The customer of a conversation: two conversations each, so some are
/// repeat contacts; one in twenty is VIP, one in ten premium.
fn customer(conversation: usize) -> Value {
    let id = conversation / 2;
    let tier = match id % 20 {
        0 => "vip",
        1 | 2 => "premium",
        _ => "standard",
    };
    json!({"id": format!("u{id}"), "tier": tier})
}

struct Client {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    async fn sender(&mut self) -> std::io::Result<&mut SendRequest<Full<Bytes>>> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(connection);
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("set above"))
    }

    /// One request; the status and body, or an error for a broken connection.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Bytes)> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .expect("a valid request");
        let sender = self.sender().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(std::io::Error::other)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok((status, body))
    }
}

/// Drive the server with `config.connections` connections for
/// `config.duration`; every connection sends its next request when the
/// last is answered.
pub async fn run(config: &LoadConfig) -> LoadReport {
    let started = Instant::now();
    let end = started + config.duration;
    let tasks: Vec<_> = (0..config.connections)
        .map(|c| {
            let config = config.clone();
            tokio::spawn(async move { connection(&config, c, end).await })
        })
        .collect();
    let mut report = LoadReport::default();
    for task in tasks {
        report.merge(task.await.expect("a load connection"));
    }
    report.elapsed = started.elapsed();
    report
}

async fn connection(config: &LoadConfig, index: usize, end: Instant) -> LoadReport {
    let mut rng = Rng(config.seed ^ ((index as u64 + 1) * 0x9e37_79b9_7f4a_7c15));
    let mut client = Client {
        addr: config.addr,
        sender: None,
    };
    let mut report = LoadReport::default();
    // Conversations this connection wrote to: reads go there, never to one
    // that may not exist yet (a 404 would be the load's fault, not the server's).
    let mut written: Vec<usize> = Vec::new();
    while Instant::now() < end {
        let mut conversation = rng.below(config.conversations);
        let roll = rng.below(100);
        if (90..95).contains(&roll) {
            match written.len() {
                0 => {}
                n => conversation = written[rng.below(n)],
            }
        }
        let conversation_id = format!("{}-{conversation}", config.run);
        let (method, path, body, is_message) = if roll < 90 || written.is_empty() {
            let text = TEXTS[rng.below(TEXTS.len())]
                .replace("{order}", &format!("2024{:09}", rng.below(1_000_000_000)));
            (
                "POST",
                format!("/v1/conversations/{conversation_id}/messages"),
                Some(json!({"text": text, "channel": "web", "customer": customer(conversation)})),
                true,
            )
        } else if roll < 95 {
            (
                "GET",
                format!("/v1/conversations/{conversation_id}"),
                None,
                false,
            )
        } else if roll < 98 {
            let q = SEARCHES[rng.below(SEARCHES.len())];
            (
                "GET",
                format!("/v1/knowledge/search?q={}&limit=3", encode(q)),
                None,
                false,
            )
        } else {
            let id = customer(conversation)["id"].as_str().unwrap().to_string();
            ("GET", format!("/v1/tickets?customer={id}"), None, false)
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(
            config.stall_after,
            client.send(method, &path, &config.key, body.as_ref()),
        )
        .await;
        let latency = sent.elapsed();
        match answer {
            Err(_) => {
                report.stalls += 1;
                client.sender = None; // the request is abandoned with its connection
            }
            Ok(Err(e)) => {
                *report.errors.entry("io".into()).or_default() += 1;
                if report.error_examples.len() < 5 {
                    report.error_examples.push(format!("{method} {path}: {e}"));
                }
                client.sender = None;
            }
            Ok(Ok((status, bytes))) => {
                let ok = if is_message {
                    status == 201
                } else {
                    status == 200
                };
                if !ok {
                    *report.errors.entry(status.to_string()).or_default() += 1;
                    if report.error_examples.len() < 5 {
                        report.error_examples.push(format!(
                            "{method} {path}: {status} {}",
                            String::from_utf8_lossy(&bytes)
                        ));
                    }
                    // A conversation whose id was taken at a 404 (it
                    // had no message yet) is not an error of the server.
                } else if is_message {
                    // Only the id: building the whole answer as a Value cost
                    // the load generator CPU the server then lacked.
                    #[derive(serde::Deserialize)]
                    struct Ack {
                        message_id: String,
                    }
                    let id = serde_json::from_slice::<Ack>(&bytes)
                        .map(|a| a.message_id)
                        .unwrap_or_default();
                    report.messages += 1;
                    report
                        .message_latency_us
                        .push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
                    report.acknowledged.push((conversation_id, id));
                    if written.len() < 10_000 {
                        written.push(conversation);
                    }
                } else {
                    report.reads += 1;
                }
            }
        }
    }
    report
}

/// Percent-encode a query value (UTF-8 bytes outside the unreserved set).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Read back every conversation that acknowledged messages and return the
/// acknowledged messages that are not there.
pub async fn missing(
    addr: SocketAddr,
    key: &str,
    acknowledged: &[(String, String)],
) -> Vec<(String, String)> {
    let mut by_conversation: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (conversation, message) in acknowledged {
        by_conversation
            .entry(conversation)
            .or_default()
            .push(message);
    }
    let mut client = Client { addr, sender: None };
    let mut lost = Vec::new();
    for (conversation, messages) in by_conversation {
        // Every page of the conversation (messages come 500 at most a page).
        let mut stored: Vec<String> = Vec::new();
        let mut path = format!("/v1/conversations/{conversation}?limit=500");
        loop {
            let Ok((200, bytes)) = client.send("GET", &path, key, None).await else {
                break;
            };
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            stored.extend(
                body["messages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["id"].as_str().map(str::to_string)),
            );
            match body["next"].as_str() {
                Some(next) => {
                    path = format!("/v1/conversations/{conversation}?limit=500&after={next}")
                }
                None => break,
            }
        }
        for m in messages {
            if !stored.iter().any(|s| s == m) {
                lost.push((conversation.to_string(), m.to_string()));
            }
        }
    }
    lost
}

/// The operator key every [`Server`] is started with.
pub const OPERATOR_KEY: &str = "operator-key-for-load-runs";

/// Per-stage time of message handling as `/metrics` reports it so far:
/// stage name to (seconds, count); plugin calls as `slot:<slot>` (summed
/// over the slot's plugins).
pub async fn stage_seconds(addr: SocketAddr) -> BTreeMap<String, (f64, u64)> {
    let mut client = Client { addr, sender: None };
    let Ok((200, bytes)) = client.send("GET", "/metrics", OPERATOR_KEY, None).await else {
        return BTreeMap::new();
    };
    let mut stages: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&bytes).lines() {
        // Stages of a message, and plugin calls by slot ("slot:classify").
        let (rest, label) =
            if let Some(rest) = line.strip_prefix("switchyard_message_stage_seconds_") {
                (rest, "{stage=\"")
            } else if let Some(rest) = line.strip_prefix("switchyard_plugin_call_seconds_") {
                (rest, "{slot=\"")
            } else {
                continue;
            };
        let Some((series, value)) = rest.split_once(' ') else {
            continue;
        };
        let Some(name) = series
            .split_once(label)
            .and_then(|(_, s)| s.split_once('"'))
            .map(|(name, _)| name)
        else {
            continue;
        };
        let stage = if label.contains("slot") {
            format!("slot:{name}")
        } else {
            name.to_string()
        };
        let entry = stages.entry(stage).or_default();
        if series.starts_with("sum") {
            entry.0 += value.parse().unwrap_or(f64::NAN);
        } else if series.starts_with("count") {
            entry.1 += value.parse().unwrap_or(0);
        }
    }
    stages
}

/// A `switchyard serve` child process on a free loopback port.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: std::path::PathBuf,
}

impl Server {
    /// Start the binary on `data` with `extra` arguments and wait until it listens.
    pub fn start(bin: &str, data: &std::path::Path, demo_key: &str, extra: &[&str]) -> Server {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(bin)
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(extra)
            .env("SWITCHYARD_DEMO_KEY", demo_key)
            .env("SWITCHYARD_OPERATOR_KEY", OPERATOR_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting switchyard serve");
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server exited before listening")
                .expect("reading its output");
            if let Some(url) = line.strip_prefix("switchyard listening on http://") {
                break url.trim().parse().expect("an address");
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            data: data.to_path_buf(),
        }
    }

    /// Resident memory of the server process, in MiB (Linux).
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }

    /// CPU time the server process used so far, in seconds (Linux).
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name: utime and stime are the 12th and 13th.
        let after = stat.rsplit(')').next().unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
            f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
        });
        ticks / 100.0
    }

    /// Bytes on disk under the data directory.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &std::path::Path) -> u64 {
            std::fs::read_dir(p).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        walk(&self.data)
    }

    /// Stop with SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().expect("waiting for the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
