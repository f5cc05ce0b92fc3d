//! Compiles the first-party plugins and the test fixtures to WebAssembly
//! components (wasm32-wasip2) so the binary can embed the demo tenant's
//! plugins and tests can load the fixtures. Uses its own target directory, so
//! the nested cargo never waits on the outer one's lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, file stem): everything built for wasm32-wasip2.
const COMPONENTS: [(&str, &str); 12] = [
    ("switchyard-plugin-inspector", "switchyard_plugin_inspector"),
    (
        "switchyard-plugin-classifier",
        "switchyard_plugin_classifier",
    ),
    ("switchyard-plugin-escalator", "switchyard_plugin_escalator"),
    ("switchyard-plugin-router", "switchyard_plugin_router"),
    ("switchyard-plugin-assistant", "switchyard_plugin_assistant"),
    ("switchyard-plugin-ticketer", "switchyard_plugin_ticketer"),
    ("switchyard-pack-pharmacy", "switchyard_pack_pharmacy"),
    ("switchyard-pack-banking", "switchyard_pack_banking"),
    (
        "switchyard-fixture-misbehaving",
        "switchyard_fixture_misbehaving",
    ),
    (
        "switchyard-fixture-wrong-world",
        "switchyard_fixture_wrong_world",
    ),
    (
        "switchyard-fixture-trapping-pack",
        "switchyard_fixture_trapping_pack",
    ),
    (
        "switchyard-fixture-contract-0-1-0",
        "switchyard_fixture_contract_0_1_0",
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap();
    for dir in ["plugins", "sdk", "wit", "tests/fixtures"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );

    let target_dir = root.join("target").join("plugin-build");
    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (package, _) in COMPONENTS {
        command.args(["-p", package]);
    }
    // The outer build's flags and wrappers (clippy, coverage) are for the host,
    // not for the components; debug info would only bloat them.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    // 128-bit SIMD: wasmtime runs it natively, and the intent model's dense
    // loops vectorise.
    command
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+simd128")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false");
    let status = command
        .status()
        .expect("running cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the plugins for wasm32-wasip2 failed (see above). \
             Is the target installed? `rustup target add wasm32-wasip2`"
        );
    }

    let built = target_dir.join("wasm32-wasip2").join("release");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for (_, stem) in COMPONENTS {
        let from = built.join(format!("{stem}.wasm"));
        copy(&from, &out_dir.join(format!("{stem}.wasm")));
    }
    println!(
        "cargo:rustc-env=SWITCHYARD_COMPONENT_DIR={}",
        out_dir.display()
    );
}

/// A fresh machine has no wasm32-wasip2 standard library: add it with rustup
/// (only when missing, so a normal build never touches the network).
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if libdir.as_deref().is_some_and(Path::is_dir) {
        return;
    }
    println!(
        "cargo:warning=installing the wasm32-wasip2 target with rustup (needed to build the plugins)"
    );
    let status = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        panic!(
            "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` failed; install it and build again"
        );
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}
