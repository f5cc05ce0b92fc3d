//! The real `switchyard serve` binary on a free port, for tests at the
//! process boundary (the CLI's, the browser's).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
pub const DEMO_KEY: &str = "demo-key-for-cli-tests";
pub const OPERATOR_KEY: &str = "operator-key-for-cli-tests";

pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `switchyard serve` on a free port and wait until it listens.
pub fn serve(data: &Path) -> Server {
    serve_with(data, &[])
}

pub fn serve_with(data: &Path, extra: &[&str]) -> Server {
    // Private, as `serve` wants a data directory holding customers' messages.
    if data.exists() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o700));
    }
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(extra)
        .env("SWITCHYARD_DEMO_KEY", DEMO_KEY)
        .env("SWITCHYARD_OPERATOR_KEY", OPERATOR_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting switchyard serve");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("switchyard listening on ") {
            break url.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}
