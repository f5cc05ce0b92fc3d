//! A channel's webhook receiver for tests: a real HTTP/1.1 server on a
//! loopback port (std only, keep-alive), that checks each delivery's
//! signature as an integrator would and acknowledges each idempotency key.
//! It can be "down" (answers 503) and slow; it records every attempt.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One delivery the receiver accepted.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub key: String,
    pub attempt: u32,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct State {
    down: bool,
    delay: Duration,
    /// Accepted deliveries, in arrival order (duplicates included).
    accepted: Vec<Delivered>,
    /// Times each key was acknowledged with a 2xx.
    acks: HashMap<String, u32>,
    /// Attempts refused while down, and with a wrong signature.
    refused: u32,
    bad_signatures: u32,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    secret: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    /// Listen on a free loopback port; deliveries must be signed with `secret`.
    pub fn start(secret: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/switchyard", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            secret: secret.to_string(),
            state: Default::default(),
        };
        let serving = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let serving = serving.clone();
                std::thread::spawn(move || serving.connection(stream));
            }
        });
        receiver
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    pub fn accepted(&self) -> Vec<Delivered> {
        self.state.lock().unwrap().accepted.clone()
    }

    pub fn acks(&self) -> HashMap<String, u32> {
        self.state.lock().unwrap().acks.clone()
    }

    pub fn refused(&self) -> u32 {
        self.state.lock().unwrap().refused
    }

    pub fn bad_signatures(&self) -> u32 {
        self.state.lock().unwrap().bad_signatures
    }

    /// Wait until `done` holds for what was accepted, at most `timeout`.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Delivered]) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if done(&self.accepted()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done(&self.accepted())
    }

    fn connection(&self, stream: TcpStream) {
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                }
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let status = self.handle(&headers, &body);
            let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            if writer.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn handle(&self, headers: &HashMap<String, String>, body: &[u8]) -> &'static str {
        let delay = self.state.lock().unwrap().delay;
        std::thread::sleep(delay);
        let mut state = self.state.lock().unwrap();
        if state.down {
            state.refused += 1;
            return "503 Service Unavailable";
        }
        let timestamp: u64 = headers
            .get("switchyard-timestamp")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let expected = switchyard::conversations::outbox::sign(&self.secret, timestamp, body);
        if headers.get("switchyard-signature") != Some(&expected) {
            state.bad_signatures += 1;
            return "401 Unauthorized";
        }
        let key = headers.get("idempotency-key").cloned().unwrap_or_default();
        let attempt = headers
            .get("switchyard-attempt")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        state.accepted.push(Delivered {
            key: key.clone(),
            attempt,
            body: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
        });
        *state.acks.entry(key).or_default() += 1;
        "200 OK"
    }
}
