//! A small W3C WebDriver client for the browser tests: Debian's
//! `chromedriver` driving headless `chromium`, over HTTP with ureq. Just the
//! commands the tests use: navigate, find, click, type, run script, read
//! cookies, take screenshots.
//!
//! Without a browser on the machine the tests say so and pass, so the
//! README's test command works on a fresh machine with only Rust; CI sets
//! `SWITCHYARD_REQUIRE_BROWSER=1` (and installs the browser), and then a
//! missing browser fails the run.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The browser and its driver, if this machine has them.
pub fn find_browser() -> Option<(PathBuf, PathBuf)> {
    let pick = |env: &str, candidates: &[&str]| -> Option<PathBuf> {
        std::env::var_os(env)
            .map(PathBuf::from)
            .into_iter()
            .chain(candidates.iter().map(PathBuf::from))
            .find(|p| p.exists())
    };
    let browser = pick(
        "SWITCHYARD_CHROMIUM",
        &[
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ],
    )?;
    let driver = pick(
        "SWITCHYARD_CHROMEDRIVER",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    )?;
    Some((browser, driver))
}

/// Whether the browser tests must run (CI), not skip.
pub fn browser_required() -> bool {
    std::env::var("SWITCHYARD_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// A running chromedriver.
pub struct Driver {
    child: Child,
    pub base: String,
    browser: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Driver {
    /// Start chromedriver on a free port; `None` when the machine has no
    /// browser and the tests may skip (panics when CI requires one).
    pub fn start() -> Option<Driver> {
        let Some((browser, driver)) = find_browser() else {
            assert!(
                !browser_required(),
                "SWITCHYARD_REQUIRE_BROWSER=1 but no chromium/chromedriver: install Debian's chromium and chromium-driver"
            );
            eprintln!(
                "SKIPPED: no chromium + chromedriver here (install Debian's chromium and chromium-driver to run the browser tests)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(mut r) = agent().get(format!("{base}/status")).call()
                && r.body_mut()
                    .read_json::<Value>()
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Driver {
            child,
            base,
            browser,
        })
    }

    /// A new headless browser window, its language `lang` (`en-US`, `zh-CN`).
    pub fn session(&self, lang: &str) -> Session {
        let profile = tempfile::tempdir().expect("a profile directory");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1440,900".into(),
            format!("--lang={lang}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.browser,
                "args": args,
                "prefs": {"intl.accept_languages": lang},
            },
        }}});
        let mut response = agent()
            .post(format!("{}/session", self.base))
            .send_json(&capabilities)
            .expect("chromedriver answers");
        let value: Value = response.body_mut().read_json().expect("session JSON");
        let id = value["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {value}"))
            .to_string();
        let session = Session {
            base: format!("{}/session/{id}", self.base),
            _profile: profile,
        };
        session.command("POST", "/timeouts", json!({"script": 30_000}));
        session
    }
}

/// One browser window.
pub struct Session {
    base: String,
    _profile: tempfile::TempDir,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = agent().delete(&self.base).call();
    }
}

/// An element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let mut response = match method {
            "GET" => agent().get(&url).call(),
            "DELETE" => agent().delete(&url).call(),
            _ => agent().post(&url).send_json(&body),
        }
        .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = response.status().as_u16();
        let value: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        assert!(
            status < 300,
            "webdriver {method} {path} answered {status}: {}",
            value["value"]
        );
        value["value"].clone()
    }

    fn try_command(&self, path: &str, body: Value) -> Result<Value, Value> {
        let mut response = agent()
            .post(format!("{}{path}", self.base))
            .send_json(&body)
            .expect("chromedriver answers");
        let status = response.status().as_u16();
        let value: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if status < 300 {
            Ok(value["value"].clone())
        } else {
            Err(value["value"].clone())
        }
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url}));
    }

    pub fn url(&self) -> String {
        self.command("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Run `script` (a function body; `arguments` are `args`) in the page.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
    }

    /// Run a script that calls `arguments[arguments.length - 1](result)`.
    pub fn run_async(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/async",
            json!({"script": script, "args": args}),
        )
    }

    pub fn find(&self, css: &str) -> Element {
        self.wait_for(css, Duration::from_secs(10))
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        let found = self.try_command("/element", json!({"using": "css selector", "value": css}));
        if let Err(e) = &found
            && e["error"] != "no such element"
        {
            eprintln!("webdriver find {css:?}: {e}");
        }
        found
            .ok()
            .and_then(|v| v[ELEMENT].as_str().map(|id| Element(id.to_string())))
    }

    pub fn find_all(&self, css: &str) -> Vec<Element> {
        self.command(
            "POST",
            "/elements",
            json!({"using": "css selector", "value": css}),
        )
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v[ELEMENT].as_str().map(|id| Element(id.to_string())))
        .collect()
    }

    /// The element once it exists.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        let started = Instant::now();
        loop {
            if let Some(found) = self.try_find(css) {
                return found;
            }
            assert!(
                started.elapsed() < timeout,
                "no {css:?} after {timeout:?} on {}; the page says: {}",
                self.url(),
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Wait until `script` (an expression) is truthy in the page; its value.
    pub fn wait_until(&self, what: &str, expression: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let value = self.run(&format!("return ({expression});"), json!([]));
            if !(value.is_null() || value == false || value == "" || value == 0) {
                return value;
            }
            assert!(
                started.elapsed() < timeout,
                "waited {timeout:?} for {what} on {}; the page says: {}",
                self.url(),
                self.body_text()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn click(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), json!({}));
    }

    /// Click what `css` finds; a live page may redraw it between the find
    /// and the click (a stale element), so it is found again then.
    pub fn click_css(&self, css: &str) {
        let started = Instant::now();
        loop {
            let element = self.find(css);
            match self.try_command(&format!("/element/{}/click", element.0), json!({})) {
                Ok(_) => return,
                Err(e)
                    if e["error"] == "stale element reference"
                        && started.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => panic!("clicking {css:?}: {e}"),
            }
        }
    }

    /// Type into an element (WebDriver key codes work: `\u{E00A}` is Alt).
    pub fn type_into(&self, element: &Element, text: &str) {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            json!({"text": text}),
        );
    }

    pub fn clear(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/clear", element.0), json!({}));
    }

    pub fn text(&self, element: &Element) -> String {
        self.command("GET", &format!("/element/{}/text", element.0), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn value(&self, css: &str) -> String {
        self.run(
            "return document.querySelector(arguments[0])?.value ?? null;",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    pub fn body_text(&self) -> String {
        self.try_command(
            "/execute/sync",
            json!({"script": "return document.body ? document.body.innerText.slice(0, 2000) : '';", "args": []}),
        )
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
    }

    pub fn cookies(&self) -> Vec<Value> {
        self.command("GET", "/cookie", Value::Null)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let encoded = self.command("GET", "/screenshot", Value::Null);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot")
    }

    /// Press keys anywhere in the page (a chord: `["\u{E00A}", "1"]` is Alt+1).
    pub fn press(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for key in keys {
            actions.push(json!({"type": "keyDown", "value": key}));
        }
        for key in keys.iter().rev() {
            actions.push(json!({"type": "keyUp", "value": key}));
        }
        self.command(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
        self.command("DELETE", "/actions", Value::Null);
    }
}
