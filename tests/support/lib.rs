//! Test environment for end-to-end tests and benchmarks: a real sled database
//! in a temporary directory, the real wasmtime runtime with the real compiled
//! plugins, and the HTTP app driven without a socket.
//!
//! ```ignore
//! let env = TestEnv::demo();
//! let (status, body) = env.send("c-1", "转人工", "u-1", "standard");
//! ```

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use switchyard::api::throttle::{RatePolicy, Throttle};
use switchyard::api::{self, AppState, OperatorKey};
use switchyard::app::Switchyard;
use switchyard::runtime::{Limits, Runtime};
use switchyard::storage::Storage;
use tower::ServiceExt;

pub const OPERATOR_KEY: &str = "operator-test-key";
pub const DEMO_KEY: &str = "demo-test-key";

/// One runtime per test process: components compile once and every
/// environment shares them.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Runtime::new().expect("wasmtime runtime"))
        .clone()
}

pub struct TestEnv {
    pub app: Arc<Switchyard>,
    pub router: axum::Router,
    /// Keeps the database directory alive as long as the environment.
    pub dir: Arc<tempfile::TempDir>,
    runtime: tokio::runtime::Runtime,
}

/// The HTTP API of `app` with the operator key of the tests.
fn router(app: &Arc<Switchyard>, throttle: Throttle) -> axum::Router {
    api::app(AppState {
        throttle: Arc::new(throttle),
        ..AppState::new(app.clone(), OperatorKey::new(OPERATOR_KEY)).expect("session secret")
    })
}

impl TestEnv {
    /// A fresh database with the demo tenant seeded, default limits.
    pub fn demo() -> TestEnv {
        TestEnv::demo_with(Limits::default())
    }

    pub fn demo_with(limits: Limits) -> TestEnv {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let env = TestEnv::open(dir, limits);
        switchyard::demo::seed(&env.app, DEMO_KEY).expect("seeding the demo tenant");
        env
    }

    /// A server with these per-tenant quotas and no tenant yet (the demo
    /// tenant's seeded articles would not fit small ones).
    pub fn empty_with_quotas(quotas: switchyard::quotas::Quotas) -> TestEnv {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        TestEnv::open_with(dir, Limits::default(), quotas)
    }

    /// Open (or reopen) the database in `dir`, as a restarted server would.
    pub fn open(dir: Arc<tempfile::TempDir>, limits: Limits) -> TestEnv {
        TestEnv::open_with(dir, limits, Default::default())
    }

    pub fn open_with(
        dir: Arc<tempfile::TempDir>,
        limits: Limits,
        quotas: switchyard::quotas::Quotas,
    ) -> TestEnv {
        let storage = Storage::open(dir.path()).expect("opening sled");
        let mut app = Switchyard::new(storage, runtime(), limits);
        app.quotas = quotas;
        let app = Arc::new(app);
        // Tests and benchmarks send faster than any key's default rate; the
        // rate limit has its own tests with a policy of their own.
        let unlimited = Throttle::new(
            RatePolicy {
                per_second: 1e9,
                burst: 1e9,
            },
            8,
        );
        let router = router(&app, unlimited);
        TestEnv {
            app,
            router,
            dir,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    /// Serve the API with this throttle instead of the tests' unlimited one.
    pub fn with_throttle(mut self, throttle: Throttle) -> TestEnv {
        self.router = router(&self.app, throttle);
        self
    }

    /// Shut this instance down (as a restart would) and give back its directory.
    pub fn shutdown(self) -> Arc<tempfile::TempDir> {
        let dir = self.dir.clone();
        drop(self);
        dir
    }

    /// Send a raw request; returns the status and the body parsed as JSON
    /// (or as a JSON string when it is not JSON).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Body>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header("Authorization", format!("Bearer {key}"));
        }
        if body.is_some() {
            builder = builder.header("Content-Type", content_type);
        }
        self.request_built(builder.body(body.unwrap_or_else(Body::empty)).unwrap())
    }

    /// Send a request built by the caller (any headers).
    pub fn request_built(&self, request: Request<Body>) -> (StatusCode, Value) {
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            (status, value)
        })
    }

    /// Send a request and keep the whole answer: status, headers, body text
    /// (for the web pages: cookies, redirects, HTML).
    pub fn request_raw(
        &self,
        request: Request<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let router = self.router.clone();
        self.runtime.block_on(async move {
            let response = router.oneshot(request).await.unwrap();
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            (
                parts.status,
                parts.headers,
                String::from_utf8_lossy(&bytes).into_owned(),
            )
        })
    }

    pub fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(key), None, "")
    }

    pub fn post(&self, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        self.request(
            Method::POST,
            path,
            Some(key),
            Some(Body::from(body.to_string())),
            "application/json",
        )
    }

    pub fn put(&self, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
        self.request(
            Method::PUT,
            path,
            Some(key),
            Some(Body::from(body.to_string())),
            "application/json",
        )
    }

    /// The Prometheus text of `/metrics`, read with the operator key.
    pub fn metrics(&self) -> String {
        let (status, body) = self.request(Method::GET, "/metrics", Some(OPERATOR_KEY), None, "");
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_str().unwrap_or_default().to_string()
    }

    /// A customer message to the demo tenant; panics unless it was accepted.
    pub fn send(&self, conversation: &str, text: &str, customer: &str, tier: &str) -> Value {
        self.send_as(DEMO_KEY, conversation, text, customer, tier)
    }

    pub fn send_as(
        &self,
        key: &str,
        conversation: &str,
        text: &str,
        customer: &str,
        tier: &str,
    ) -> Value {
        let (status, body) = self.post(
            &format!("/v1/conversations/{conversation}/messages"),
            key,
            &json!({"text": text, "channel": "web", "customer": {"id": customer, "tier": tier}}),
        );
        assert_eq!(status, StatusCode::CREATED, "{text}: {body}");
        body
    }

    /// Create a tenant through the operator API; returns its key.
    pub fn create_tenant(&self, id: &str) -> String {
        let (status, body) = self.post("/v1/tenants", OPERATOR_KEY, &json!({"id": id, "name": id}));
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["api_key"].as_str().unwrap().to_string()
    }

    /// Upload a component through the operator API; returns its sha256.
    pub fn upload(&self, name: &str, version: &str, component: &[u8]) -> (StatusCode, Value) {
        self.request(
            Method::POST,
            &format!("/v1/plugins?name={name}&version={version}"),
            Some(OPERATOR_KEY),
            Some(Body::from(component.to_vec())),
            "application/wasm",
        )
    }

    /// Serve the HTTP API on a real loopback socket; returns its base URL.
    pub fn serve(&self) -> String {
        let router = self.router.clone();
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("binding a loopback port");
        let addr = listener.local_addr().unwrap();
        // The server `serve` runs: connection cap and timeouts included.
        self.runtime.spawn(async move {
            switchyard::server::serve(
                listener,
                router,
                switchyard::server::ConnectionPolicy::default(),
                std::future::pending(),
                std::time::Duration::ZERO,
            )
            .await
            .unwrap();
        });
        format!("http://{addr}")
    }

    /// Upload a component and stage it on a tenant's slot with `config`, in
    /// the lane named like the plugin, through the operator API.
    pub fn push(
        &self,
        tenant: &str,
        slot: &str,
        name: &str,
        version: &str,
        component: &[u8],
        config: &str,
    ) -> (StatusCode, Value) {
        self.push_to_lane(tenant, slot, name, name, version, component, config)
    }

    /// Like [`TestEnv::push`], competing for `lane`.
    #[allow(clippy::too_many_arguments)]
    pub fn push_to_lane(
        &self,
        tenant: &str,
        slot: &str,
        lane: &str,
        name: &str,
        version: &str,
        component: &[u8],
        config: &str,
    ) -> (StatusCode, Value) {
        use base64::Engine;
        let body = json!({
            "lane": lane, "name": name, "version": version, "config": config,
            "component": base64::engine::general_purpose::STANDARD.encode(component),
        });
        self.post(
            &format!("/v1/tenants/{tenant}/slots/{slot}/versions"),
            OPERATOR_KEY,
            &body,
        )
    }

    /// A lifecycle command on one version: "shadow", "activate", "stage", "retire".
    pub fn lifecycle(&self, tenant: &str, slot: &str, id: u64, command: &str) -> Value {
        let (status, body) = self.post(
            &format!("/v1/tenants/{tenant}/slots/{slot}/versions/{id}/{command}"),
            OPERATOR_KEY,
            &json!({}),
        );
        assert_eq!(status, StatusCode::OK, "{command} {id}: {body}");
        body
    }

    /// Canary a version for `percent` of conversations; returns the API's answer.
    pub fn canary(&self, tenant: &str, slot: &str, id: u64, percent: u32) -> (StatusCode, Value) {
        self.post(
            &format!("/v1/tenants/{tenant}/slots/{slot}/versions/{id}/canary"),
            OPERATOR_KEY,
            &json!({"percent": percent}),
        )
    }

    /// Bind plugins (sha256, config) to a tenant's slot through the operator API.
    pub fn bind(&self, tenant: &str, slot: &str, plugins: &[(&str, &str)]) -> (StatusCode, Value) {
        let plugins: Vec<Value> = plugins
            .iter()
            .map(|(sha, config)| json!({"sha256": sha, "config": config}))
            .collect();
        self.put(
            &format!("/v1/tenants/{tenant}/bindings/{slot}"),
            OPERATOR_KEY,
            &json!({"plugins": plugins}),
        )
    }
}

/// Upload the misbehaving classifier fixture (its config picks how it
/// misbehaves); its sha256.
pub fn upload_misbehaving(env: &TestEnv) -> String {
    let (status, meta) = env.upload(
        "misbehaving",
        "1",
        &component("switchyard_fixture_misbehaving"),
    );
    assert!(status == 201 || status == 200, "{meta}");
    meta["sha256"].as_str().unwrap().to_string()
}

/// Create tenant `id` whose only classifier loops on messages about refunds
/// ("退款") until its deadline stops it: the fuel is raised as far as an
/// operator may, so the wall clock, not the instruction budget, ends each
/// call. `deadline_ms` overrides the tenant's deadline. Returns its key.
pub fn looping_tenant(env: &TestEnv, id: &str, deadline_ms: Option<u64>) -> String {
    let key = env.create_tenant(id);
    let sha = upload_misbehaving(env);
    let (status, body) = env.bind(id, "classify", &[(&sha, "only:退款:loop")]);
    assert_eq!(status, 200, "{body}");
    let mut limits = json!({"fuel": 100_000_000_000u64});
    if let Some(ms) = deadline_ms {
        limits["deadline_ms"] = json!(ms);
    }
    let (status, body) = env.put(&format!("/v1/tenants/{id}/limits"), OPERATOR_KEY, &limits);
    assert_eq!(status, 200, "{body}");
    key
}

/// The active version of a tenant's slot, as the operator API lists it,
/// with its `config` fetched by sha256 (rollouts name configs, not carry them).
pub fn active_version(env: &TestEnv, tenant: &str, slot: &str) -> Value {
    let (status, rollout) = env.get(&format!("/v1/tenants/{tenant}/slots/{slot}"), OPERATOR_KEY);
    assert_eq!(status, StatusCode::OK, "{rollout}");
    let mut version = rollout["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "active")
        .unwrap_or_else(|| panic!("no active version on {tenant}/{slot}: {rollout}"))
        .clone();
    assert!(version.get("config").is_none(), "inline config: {version}");
    let sha = version["config_sha256"].as_str().unwrap().to_string();
    let (status, config) = env.get(&format!("/v1/tenants/{tenant}/configs/{sha}"), OPERATOR_KEY);
    assert_eq!(status, StatusCode::OK, "{config}");
    assert_eq!(config["sha256"], sha.as_str());
    version["config"] = config["config"].clone();
    version
}

/// `folder` of the shared data (`SWITCHYARD_SHARED_DATA`, else
/// `../shared/data` beside the checkout) when it holds `file`; otherwise
/// `None`, after saying on stderr what was skipped and how to provide it.
pub fn shared_data(folder: &str, file: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("SWITCHYARD_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
        })
        .join(folder);
    if dir.join(file).is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: no {file} in {} (set SWITCHYARD_SHARED_DATA to the shared/data folder)",
            dir.display()
        );
        None
    }
}

/// A compiled test component by file stem (see host/build.rs).
pub fn component(stem: &str) -> Vec<u8> {
    let path = format!("{}/{stem}.wasm", switchyard::demo::COMPONENT_DIR);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The trace entries of one slot in a message response.
pub fn trace_of<'a>(response: &'a Value, slot: &str) -> Vec<&'a Value> {
    response["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["slot"] == slot)
        .collect()
}

/// Escalation reason codes of a message response.
pub fn reasons(response: &Value) -> Vec<String> {
    response["escalation"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

/// One Server-Sent Event as a subscriber reads it.
#[derive(Clone, Debug)]
pub struct SseMessage {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// A subscriber of `GET /v1/events` over a real socket; events arrive on a
/// reader thread, so a test waits for them with a timeout. Dropping it
/// closes the connection.
pub struct SseClient {
    pub status: u16,
    received: std::sync::mpsc::Receiver<SseMessage>,
    /// The error body when the server refused the stream.
    pub error: Value,
    shutdown: Option<std::net::TcpStream>,
}

impl SseClient {
    /// Subscribe at `base` (from [`TestEnv::serve`]) to `path_and_query`,
    /// resuming after `last_event_id` when given.
    pub fn connect(
        base: &str,
        path_and_query: &str,
        key: &str,
        last_event_id: Option<u64>,
    ) -> SseClient {
        let id = last_event_id.map(|id| id.to_string());
        let headers: Vec<(&str, &str)> = id
            .as_deref()
            .map(|id| ("Last-Event-ID", id))
            .into_iter()
            .collect();
        SseClient::connect_with(base, path_and_query, key, &headers)
    }

    /// [`SseClient::connect`] with any extra headers.
    pub fn connect_with(
        base: &str,
        path_and_query: &str,
        key: &str,
        headers: &[(&str, &str)],
    ) -> SseClient {
        use std::io::{BufRead, BufReader, Read, Write};
        let addr = base.trim_start_matches("http://").to_string();
        let mut stream = std::net::TcpStream::connect(&addr).expect("connecting");
        let mut request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nAccept: text/event-stream\r\n"
        );
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        stream.write_all(request.as_bytes()).unwrap();
        let shutdown = stream.try_clone().ok();
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut chunked = false;
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
        }
        let (tx, received) = std::sync::mpsc::channel();
        if status != 200 {
            let mut body = vec![0u8; length.unwrap_or(0)];
            reader.read_exact(&mut body).unwrap_or_default();
            return SseClient {
                status,
                received,
                error: serde_json::from_slice(&body).unwrap_or(Value::Null),
                shutdown,
            };
        }
        std::thread::spawn(move || {
            // De-chunk into lines, then lines into events.
            let mut text = String::new();
            let mut pending = SseMessage {
                id: None,
                event: String::new(),
                data: Value::Null,
            };
            let mut data = String::new();
            loop {
                let mut piece = Vec::new();
                if chunked {
                    let mut size_line = String::new();
                    if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
                        return;
                    };
                    if size == 0 {
                        return;
                    }
                    piece.resize(size + 2, 0);
                    if reader.read_exact(&mut piece).is_err() {
                        return;
                    }
                    piece.truncate(size);
                } else {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    piece = line.into_bytes();
                }
                text.push_str(&String::from_utf8_lossy(&piece));
                while let Some(end) = text.find('\n') {
                    let line: String = text.drain(..=end).collect();
                    let line = line.trim_end_matches(['\n', '\r']);
                    if line.is_empty() {
                        if !data.is_empty() {
                            pending.data = serde_json::from_str(&data).unwrap_or(Value::Null);
                            if tx.send(pending.clone()).is_err() {
                                return;
                            }
                        }
                        pending = SseMessage {
                            id: None,
                            event: String::new(),
                            data: Value::Null,
                        };
                        data.clear();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        pending.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        pending.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
            }
        });
        SseClient {
            status,
            received,
            error: Value::Null,
            shutdown,
        }
    }

    /// The next event, waiting at most `timeout`.
    pub fn next(&self, timeout: std::time::Duration) -> Option<SseMessage> {
        self.received.recv_timeout(timeout).ok()
    }

    /// Events until `count` arrived or `timeout` passed since the call.
    pub fn take(&self, count: usize, timeout: std::time::Duration) -> Vec<SseMessage> {
        let deadline = std::time::Instant::now() + timeout;
        let mut got = Vec::new();
        while got.len() < count {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.next(left) {
                Some(m) => got.push(m),
                None => break,
            }
        }
        got
    }
}

impl Drop for SseClient {
    fn drop(&mut self) {
        if let Some(stream) = &self.shutdown {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}
