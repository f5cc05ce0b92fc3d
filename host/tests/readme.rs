//! The README, run as written so it cannot drift (issue 15, item 11): every
//! command line names real subcommands and flags, every `serve` flag is
//! listed, the conversation walkthrough runs through the real binary over a
//! real socket and answers what the README shows, the `replay` samples are
//! what replay prints, and the plugin example builds outside the workspace
//! and is pushed as the README says.
//!
//! Needs `bash`, `curl` and `jq`, as the README's commands do (`.ci/run`
//! installs them).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const README: &str = include_str!("../../README.md");
const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fenced block: its language, its lines, the section it is in.
struct Block {
    lang: String,
    body: String,
    section: String,
}

fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut open: Option<(String, String)> = None;
    for line in README.lines() {
        match &mut open {
            Some((lang, body)) => {
                if line.trim_start().starts_with("```") {
                    out.push(Block {
                        lang: std::mem::take(lang),
                        body: std::mem::take(body),
                        section: section.clone(),
                    });
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            None => {
                if let Some(lang) = line.trim_start().strip_prefix("```") {
                    open = Some((lang.trim().to_string(), String::new()));
                } else if line.starts_with("## ") {
                    section = line.trim_start_matches('#').trim().to_string();
                }
            }
        }
    }
    assert!(open.is_none(), "an unclosed code block in README.md");
    out
}

/// The block's lines with `\` continuations joined and `# comments` dropped.
fn command_lines(body: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in body.lines() {
        let line = match line.find(" #") {
            Some(at) if !line[..at].contains('\'') => &line[..at],
            _ => line,
        };
        if line.trim_start().starts_with('#') {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                if !current.trim().is_empty() {
                    lines.push(current.trim().to_string());
                }
                current.clear();
            }
        }
    }
    lines
}

/// The arguments of a `switchyard …` or `cargo run --release -- …` line.
fn switchyard_args(line: &str) -> Option<Vec<String>> {
    let rest = line
        .strip_prefix("switchyard ")
        .or_else(|| line.strip_prefix("cargo run --release -- "))?;
    let rest = rest
        .split("&&")
        .next()
        .unwrap()
        .split(" > ")
        .next()
        .unwrap();
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// `switchyard PATH --help`, cached.
struct Help(HashMap<Vec<String>, String>);

impl Help {
    fn of(&mut self, path: &[String]) -> &str {
        self.0.entry(path.to_vec()).or_insert_with(|| {
            let output = Command::new(BIN).args(path).arg("--help").output().unwrap();
            assert!(
                output.status.success(),
                "switchyard {} --help: {}",
                path.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
    }

    fn subcommands(&mut self, path: &[String]) -> Vec<String> {
        let help = self.of(path);
        let Some(list) = help.split("Commands:\n").nth(1) else {
            return vec![];
        };
        list.lines()
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    }

    /// Check `args`: the subcommands exist and every flag is one of the
    /// command's. Returns the subcommand paths checked.
    fn check(&mut self, line: &str, args: &[String]) -> usize {
        let mut paths: Vec<Vec<String>> = vec![vec![]];
        let mut at = 0;
        while at < args.len() {
            let word = args[at].trim_matches(|c| c == '[' || c == ']');
            let known = self.subcommands(&paths[0]);
            let alternatives: Vec<&str> = word.split('|').collect();
            if alternatives.iter().all(|a| known.iter().any(|k| k == a)) && !word.is_empty() {
                let base = paths[0].clone();
                paths = alternatives
                    .iter()
                    .map(|a| {
                        let mut p = base.clone();
                        p.push(a.to_string());
                        p
                    })
                    .collect();
                at += 1;
            } else {
                break;
            }
        }
        assert!(
            !paths[0].is_empty(),
            "README: {line:?} names no switchyard subcommand"
        );
        for word in &args[at..] {
            for token in word.split('|') {
                let flag = token
                    .trim_matches(|c| c == '[' || c == ']' || c == '.')
                    .split('=')
                    .next()
                    .unwrap();
                let is_flag = flag.starts_with("--") && flag.len() > 2
                    || flag.len() == 2 && flag.starts_with('-');
                if !is_flag {
                    continue;
                }
                for path in &paths {
                    let help = self.of(path);
                    assert!(
                        help.contains(&format!("{flag} "))
                            || help.contains(&format!("{flag},"))
                            || help.contains(&format!("{flag}\n"))
                            || help.contains(&format!("{flag} <")),
                        "README: {line:?}: `switchyard {}` has no flag {flag}",
                        path.join(" ")
                    );
                }
            }
        }
        paths.len()
    }
}

#[test]
fn every_command_in_the_readme_is_a_real_subcommand_with_real_flags() {
    let mut help = Help(HashMap::new());
    let mut checked = 0;
    for block in blocks() {
        if !matches!(block.lang.as_str(), "sh" | "") {
            continue;
        }
        for line in command_lines(&block.body) {
            if let Some(args) = switchyard_args(&line) {
                checked += help.check(&line, &args);
            }
        }
    }
    // The command-line reference alone has more than thirty.
    assert!(checked > 40, "only {checked} commands found in README.md");
}

#[test]
fn every_flag_of_serve_is_in_the_readme() {
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let flags: Vec<&str> = help
        .split_whitespace()
        .map(|w| w.trim_end_matches(','))
        .filter(|w| w.starts_with("--") && w.len() > 2 && *w != "--help")
        .collect();
    assert!(flags.len() > 15, "{help}");
    let reference = blocks()
        .into_iter()
        .find(|b| b.section == "Command line")
        .expect("a command-line reference");
    for flag in flags {
        assert!(
            reference.body.contains(flag) || README.contains(&format!("`{flag}")),
            "`switchyard serve {flag}` is not in the README"
        );
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `switchyard serve` as the README starts it, on a free port, its data in
/// `dir/switchyard-data`, keys generated.
fn serve(dir: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("SWITCHYARD_DEMO_KEY")
        .env_remove("SWITCHYARD_OPERATOR_KEY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(url) = line.strip_prefix("switchyard listening on ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

/// Run `script` with bash in `dir`; its standard output, once it succeeded.
fn bash(dir: &Path, script: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new("bash")
        .args(["-c", &format!("set -eo pipefail\n{script}")])
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("bash (and curl and jq) to run the README's commands");
    assert!(
        output.status.success(),
        "{script}\nfailed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `actual` has everything `shown` shows: the same strings, booleans and
/// integers, numbers to the digits shown, array elements in order. A
/// README sample leaves things out (`[...]`), never says anything false.
fn shows(shown: &Value, actual: &Value, at: &str) {
    match (shown, actual) {
        (Value::Object(s), Value::Object(a)) => {
            for (k, v) in s {
                let got = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} is shown but not answered: {actual}"));
                shows(v, got, &format!("{at}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(a)) => {
            assert!(s.len() <= a.len(), "{at}: shown {shown}, answered {actual}");
            for (i, (sv, av)) in s.iter().zip(a).enumerate() {
                shows(sv, av, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(s), Value::Number(a)) => {
            let text = s.to_string();
            let digits = text.split('.').nth(1).map_or(0, str::len);
            let scale = 10f64.powi(digits as i32);
            let (s, a) = (s.as_f64().unwrap(), a.as_f64().unwrap());
            assert!(
                ((s * scale).round() - (a * scale).round()).abs() < 1.0,
                "{at}: shown {s}, answered {a}"
            );
        }
        _ => assert_eq!(shown, actual, "{at}"),
    }
}

/// Every JSON value of a `jq` output (it may print several).
fn json_values(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| v.unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
        .collect()
}

#[test]
fn the_conversation_walkthrough_runs_as_written_and_answers_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let address = server.base.trim_start_matches("http://").to_string();
    let all = blocks();
    let section = "A conversation, step by step";
    let prelude = all
        .iter()
        .find(|b| b.section == section && b.body.contains("say() {"))
        .expect("the say helper")
        .body
        .replace("localhost:8080", &address);
    let (mut commands, mut compared) = (0, 0);
    // A JSON sample shows what the first command of the block before it answers.
    let mut previous_first: Option<String> = None;
    for block in all.iter().filter(|b| b.section == section) {
        match block.lang.as_str() {
            "sh" if !block.body.contains("say() {") => {
                let mut first = None;
                // `replay` and the other commands are checked by their own tests.
                for line in command_lines(&block.body)
                    .into_iter()
                    .filter(|l| l.starts_with("say ") || l.starts_with("curl "))
                {
                    let line = line.replace("localhost:8080", &address);
                    let out = bash(dir.path(), &format!("{prelude}\n{line}"), &[]);
                    let values = json_values(&out);
                    assert!(!values.is_empty(), "{line}: no output");
                    for v in &values {
                        assert!(v.get("error").is_none(), "{line}: {v}");
                    }
                    first.get_or_insert(out);
                    commands += 1;
                }
                previous_first = first;
            }
            "json" => {
                let shown: Value = serde_json::from_str(&block.body.replace("[...]", "[]"))
                    .unwrap_or_else(|e| panic!("README sample is not JSON ({e}): {}", block.body));
                let out = previous_first.take().expect("a sample follows a command");
                shows(&shown, &json_values(&out)[0], "");
                compared += 1;
            }
            _ => previous_first = None,
        }
    }
    assert!(
        commands >= 6 && compared >= 1,
        "{commands} commands, {compared} samples"
    );
    // A quote in the text is safe with the README's helper.
    let out = bash(
        dir.path(),
        &format!("{prelude}\nsay q-1 o-brien standard 'it'\"'\"'s \"broken\"' | jq -r .message_id"),
        &[],
    );
    assert!(out.trim().starts_with("m-"), "{out}");
}

/// Issue 17: the agent's walkthrough runs as written, its blocks one after
/// the other in one shell (they share variables), each JSON sample shown
/// by the first output of the block before it.
#[test]
fn the_agent_walkthrough_runs_as_written_and_answers_as_shown() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let address = server.base.trim_start_matches("http://").to_string();
    let section = "The agent's side, step by step";
    let all: Vec<Block> = blocks()
        .into_iter()
        .filter(|b| b.section == section)
        .collect();
    let mut script = String::new();
    let mut shell_blocks = 0;
    for block in all.iter().filter(|b| b.lang == "sh") {
        script += &format!(
            "echo '@@block {shell_blocks}@@'\n{}\n",
            block.body.replace("localhost:8080", &address)
        );
        shell_blocks += 1;
    }
    let out = bash(dir.path(), &script, &[]);
    let outputs: Vec<&str> = out
        .split("@@block ")
        .skip(1)
        .map(|o| o.split_once("@@").unwrap().1)
        .collect();
    assert_eq!(outputs.len(), shell_blocks);
    let (mut n, mut compared) = (0usize, 0);
    let mut previous: Option<&str> = None;
    for block in &all {
        match block.lang.as_str() {
            "sh" => {
                previous = Some(outputs[n]);
                n += 1;
            }
            "json" => {
                let shown: Value = serde_json::from_str(&block.body)
                    .unwrap_or_else(|e| panic!("README sample is not JSON ({e}): {}", block.body));
                let out = previous.take().expect("a sample follows a command");
                shows(&shown, &json_values(out)[0], "");
                compared += 1;
            }
            _ => previous = None,
        }
    }
    assert!(
        shell_blocks >= 6 && compared >= 6,
        "{shell_blocks} blocks, {compared} samples"
    );
    // What the text says the last command shows.
    let last = json_values(outputs[shell_blocks - 1]);
    assert_eq!(
        last.last().unwrap(),
        &serde_json::json!({"score": 2, "follow_up": true}),
        "{out}"
    );
    // And each command's output is no error.
    for value in json_values(&outputs.join("")) {
        assert!(value.get("error").is_none(), "{value}");
    }
}

#[test]
fn the_replay_samples_are_what_replay_prints() {
    let data = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for block in blocks().iter().filter(|b| b.lang == "sh") {
        let lines: Vec<&str> = block.body.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(args) = switchyard_args(line.trim()) else {
                continue;
            };
            if args.first().map(String::as_str) != Some("replay") {
                continue;
            }
            let shown: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.starts_with('#'))
                .map(|l| l.trim_start_matches('#').trim())
                .filter(|l| !l.is_empty())
                .collect();
            if shown.is_empty() {
                continue;
            }
            let output = Command::new(BIN)
                .args(&args)
                .current_dir(repo())
                .env("SWITCHYARD_DATA", data.path().join("replay"))
                .env("RUST_LOG", "warn")
                .output()
                .unwrap();
            assert!(output.status.success(), "{line}: {output:?}");
            let printed = String::from_utf8_lossy(&output.stdout);
            let printed: Vec<&str> = printed.lines().map(str::trim).collect();
            // The sample's lines, in order, each a whole line of the output
            // (or its start, where the sample ends in "...").
            let mut from = 0;
            for want in &shown {
                let prefix = want
                    .trim_end_matches("...")
                    .trim_end_matches('…')
                    .trim_end();
                let partial = prefix.len() != want.len();
                let found = printed[from..].iter().position(|got| {
                    if partial {
                        got.starts_with(prefix)
                    } else {
                        *got == *want
                    }
                });
                match found {
                    Some(at) => from += at + 1,
                    None => panic!(
                        "README shows {want:?} after `{line}`, replay printed:\n{}",
                        printed.join("\n")
                    ),
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "replay samples checked: {checked}");
}

#[test]
fn the_plugin_example_builds_outside_the_workspace_and_is_pushed_as_written() {
    let all = blocks();
    let section = "Writing a plugin";
    let manifest = &all
        .iter()
        .find(|b| b.section == section && b.lang == "toml")
        .expect("the plugin's Cargo.toml")
        .body;
    let code = &all
        .iter()
        .find(|b| b.section == section && b.lang == "rust")
        .expect("the plugin's code")
        .body;
    let commands = &all
        .iter()
        .find(|b| b.section == section && b.lang == "sh")
        .expect("the build and push commands")
        .body;
    // Beside a checkout, as the README puts it; kept under target/ so a
    // second run reuses the build.
    let beside = repo().join("target/readme-plugin");
    let crate_dir = beside.join("my-router");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    let sdk = repo().join("sdk");
    assert!(manifest.contains("\"../switchyard/sdk\""), "{manifest}");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        manifest.replace("../switchyard/sdk", sdk.to_str().unwrap()),
    )
    .unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), code).unwrap();

    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path());
    let data_dir = data.path().join("switchyard-data");
    let env = [
        ("SWITCHYARD_SERVER", server.base.as_str()),
        ("SWITCHYARD_DATA", data_dir.to_str().unwrap()),
    ];
    let bin_dir = Path::new(BIN)
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let mut version = String::new();
    let mut ran = 0;
    for line in command_lines(commands) {
        let line = line.replace("VERSION", &version);
        let mut env = env.to_vec();
        env.push(("PATH", path.as_str()));
        // Cargo must not take the test's own target directory.
        env.push(("CARGO_TARGET_DIR", ""));
        let out = bash(&crate_dir, &format!("unset CARGO_TARGET_DIR\n{line}"), &env);
        if let Some(id) = out
            .split("as version ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            assert!(
                out.contains("warning: the route slot"),
                "the README says the push warns: {out}"
            );
            version = id.to_string();
        }
        ran += 1;
    }
    assert_eq!(ran, 4, "{commands}");
    assert!(!version.is_empty());
    // A VIP customer now reaches the plugin's route.
    let key = std::fs::read_to_string(data.path().join("switchyard-data/demo.key")).unwrap();
    let out = bash(
        data.path(),
        &format!(
            "curl -s -X POST {}/v1/conversations/v-1/messages -H 'Authorization: Bearer {}' \
             -H 'Content-Type: application/json' \
             -d '{{\"text\": \"hello\", \"customer\": {{\"id\": \"v\", \"tier\": \"vip\"}}}}'",
            server.base,
            key.trim()
        ),
        &[],
    );
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["route"]["reason"], "vip desk", "{r}");
}
