//! `switchyard plugin …`: upload, stage, shadow, canary, activate, roll back
//! and inspect plugin versions on a running server, through its operator API.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Args, Clone)]
pub struct ServerArgs {
    /// Base URL of the running server.
    #[arg(
        long,
        env = "SWITCHYARD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// Operator key; defaults to the one in DATA/operator.key.
    #[arg(long, env = "SWITCHYARD_OPERATOR_KEY", hide_env_values = true)]
    operator_key: Option<String>,
    /// Data directory of the server, to find operator.key.
    #[arg(long, env = "SWITCHYARD_DATA", default_value = "./switchyard-data")]
    data: PathBuf,
}

#[derive(Args, Clone)]
pub struct SlotArgs {
    #[arg(long)]
    tenant: String,
    /// inspect, classify, escalate, route, assist or ticket.
    #[arg(long)]
    slot: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args, Clone)]
pub struct VersionArgs {
    /// Version id, as `plugin list --tenant T` shows it.
    id: u64,
    #[command(flatten)]
    slot: SlotArgs,
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// List stored plugins; with --tenant, every slot's versions and their states.
    List {
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Upload a component; with --tenant and --slot, stage it there (validated:
    /// the world, `init` with the config, a smoke run), ready to shadow, canary or activate.
    /// With --sha256 instead of a file, stage a component the server already
    /// has (a first-party plugin, or one uploaded before) with a new config.
    Push {
        /// The component (.wasm built for wasm32-wasip2).
        #[arg(required_unless_present = "sha256", conflicts_with = "sha256")]
        file: Option<PathBuf>,
        /// A stored component's sha256 (`plugin list` shows them;
        /// `plugin export` prints a first-party one's).
        #[arg(long, requires = "tenant")]
        sha256: Option<String>,
        /// Plugin name; the file name by default.
        #[arg(long)]
        name: Option<String>,
        /// Version label; the start of the component's sha256 by default.
        #[arg(long)]
        version: Option<String>,
        #[arg(long, requires = "slot")]
        tenant: Option<String>,
        #[arg(long, requires = "tenant")]
        slot: Option<String>,
        /// The place in the slot it competes for; the plugin name by default.
        #[arg(long)]
        lane: Option<String>,
        /// File with the plugin's configuration for that tenant.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write a first-party plugin or pack this binary carries to a file
    /// (to read, to push to another server, or to push with your config),
    /// and print its sha256.
    Export {
        /// inspector, classifier, escalator, router, assistant, ticketer,
        /// pharmacy or banking.
        name: String,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a version on every message beside the active one; recorded, never acted on.
    Shadow(VersionArgs),
    /// Let a version decide for PERCENT of conversations (sticky per conversation).
    Canary {
        #[command(flatten)]
        version: VersionArgs,
        /// 1 to 99.
        #[arg(long)]
        percent: u8,
    },
    /// Make a version decide for everyone.
    Activate(VersionArgs),
    /// Stop shadowing or canarying a version.
    Stage(VersionArgs),
    /// Take a version out of service.
    Retire(VersionArgs),
    /// Restore the slot's previous active versions in one step.
    Rollback(SlotArgs),
    /// A slot's lanes in call order; with --order, put them in that order.
    Lanes {
        #[command(flatten)]
        slot: SlotArgs,
        /// Every lane of the slot once, comma-separated, first to run first.
        #[arg(long, value_delimiter = ',')]
        order: Option<Vec<String>>,
    },
    /// How a shadow version's decisions differed from what decided.
    Diff(VersionArgs),
    /// Every lifecycle change of a tenant: who, when, from which versions to which, why.
    History {
        #[arg(long)]
        tenant: String,
        /// The newest this many changes (1 to 5,000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// A JSON client of a running server, with one bearer key.
pub(super) struct Client {
    agent: ureq::Agent,
    base: String,
    key: String,
}

impl Client {
    /// With the operator key.
    pub(super) fn new(args: &ServerArgs) -> anyhow::Result<Client> {
        let key = match &args.operator_key {
            Some(k) => k.clone(),
            None => {
                let file = args.data.join("operator.key");
                std::fs::read_to_string(&file)
                    .with_context(|| {
                        format!(
                            "no --operator-key given and {} is not readable",
                            file.display()
                        )
                    })?
                    .trim()
                    .to_string()
            }
        };
        Ok(Client::with_key(&args.server, key))
    }

    pub(super) fn with_key(server: &str, key: String) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Client {
            agent,
            base: server.trim_end_matches('/').to_string(),
            key,
        }
    }

    pub(super) fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .agent
            .put(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.key))
            .send_json(body)?;
        read_json(response)
    }

    pub(super) fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .agent
            .delete(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.key))
            .call()?;
        read_json(response)
    }

    pub(super) fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.key))
            .call()?;
        read_json(response)
    }

    /// A GET whose answer is text (a CSV), or the server's error message.
    pub(super) fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let mut response = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.key))
            .call()?;
        if !response.status().is_success() {
            return read_json(response).map(|v| v.to_string());
        }
        Ok(response.body_mut().read_to_string()?)
    }

    pub(super) fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.key))
            .send_json(body)?;
        read_json(response)
    }
}

/// The body of a response, or an error carrying the server's message.
fn read_json(mut response: ureq::http::Response<ureq::Body>) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        bail!("server answered {status}: {message}");
    }
    Ok(body)
}

fn print_staged(staged: &Value, tenant: &str, slot: &str) {
    for warning in staged["warnings"].as_array().into_iter().flatten() {
        println!("warning: {}", warning.as_str().unwrap_or_default());
    }
    println!(
        "staged {}@{} as version {} on {tenant}/{slot} (lane {}), sha256 {}",
        str_of(staged, "name"),
        str_of(staged, "version"),
        staged["id"],
        str_of(staged, "lane"),
        str_of(staged, "sha256")
    );
    println!(
        "next: switchyard plugin shadow {id} --tenant {tenant} --slot {slot}   (or canary / activate)",
        id = staged["id"]
    );
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn print_versions(slot: &str, rollout: &Value) {
    let versions = rollout["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        return;
    }
    println!("{slot}");
    for v in versions {
        let state = match str_of(&v, "state") {
            "canary" => format!("canary {}%", v["percent"]),
            other => other.to_string(),
        };
        println!(
            "  {:>6}  {:<12} {:<12} {:<18} {:<10} sha256 {}  config {}",
            v["id"],
            state,
            str_of(&v, "lane"),
            str_of(&v, "name"),
            str_of(&v, "version"),
            &str_of(&v, "sha256")[..12.min(str_of(&v, "sha256").len())],
            &str_of(&v, "config_sha256")[..12.min(str_of(&v, "config_sha256").len())],
        );
    }
}

fn slot_path(args: &SlotArgs) -> String {
    format!("/v1/tenants/{}/slots/{}", args.tenant, args.slot)
}

fn transition(args: &VersionArgs, command: &str, body: Value) -> anyhow::Result<()> {
    let client = Client::new(&args.slot.server)?;
    let rollout = client.post(
        &format!("{}/versions/{}/{command}", slot_path(&args.slot), args.id),
        &body,
    )?;
    print_versions(&args.slot.slot, &rollout);
    Ok(())
}

pub fn run(cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::List {
            tenant: None,
            server,
        } => {
            let client = Client::new(&server)?;
            let mut plugins = Vec::new();
            let mut path = "/v1/plugins?limit=500".to_string();
            loop {
                let page = client.get(&path)?;
                plugins.extend(page["plugins"].as_array().into_iter().flatten().cloned());
                match page["next"].as_str() {
                    Some(next) => path = format!("/v1/plugins?limit=500&after={next}"),
                    None => break,
                }
            }
            println!(
                "{:<12} {:<18} {:<12} {:<9} sha256",
                "slot", "name", "version", "size"
            );
            for p in &plugins {
                println!(
                    "{:<12} {:<18} {:<12} {:<9} {}",
                    str_of(p, "slot"),
                    str_of(p, "name"),
                    str_of(p, "version"),
                    p["size"].as_u64().unwrap_or(0),
                    str_of(p, "sha256")
                );
            }
            Ok(())
        }
        PluginCommand::List {
            tenant: Some(tenant),
            server,
        } => {
            let rollouts = Client::new(&server)?.get(&format!("/v1/tenants/{tenant}/bindings"))?;
            println!(
                "  {:>6}  {:<12} {:<12} {:<18} {:<10}",
                "id", "state", "lane", "name", "version"
            );
            for (slot, rollout) in rollouts["slots"].as_object().into_iter().flatten() {
                print_versions(slot, rollout);
            }
            Ok(())
        }
        PluginCommand::Push {
            file: None,
            sha256: Some(sha256),
            name,
            version,
            tenant: Some(tenant),
            slot: Some(slot),
            lane,
            config,
            server,
        } => {
            if name.is_some() || version.is_some() {
                bail!("--name and --version label an upload; a stored component keeps its own");
            }
            let client = Client::new(&server)?;
            let config = match config {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => String::new(),
            };
            let staged = client.post(
                &format!("/v1/tenants/{tenant}/slots/{slot}/versions"),
                &json!({"sha256": sha256, "lane": lane, "config": config}),
            )?;
            print_staged(&staged, &tenant, &slot);
            Ok(())
        }
        PluginCommand::Push { file: None, .. } => {
            bail!("name a component file, or a stored one with --sha256 and --tenant and --slot")
        }
        PluginCommand::Push {
            file: Some(file),
            name,
            version,
            tenant,
            slot,
            lane,
            config,
            server,
            ..
        } => {
            use base64::Engine;
            let client = Client::new(&server)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let name = match name {
                Some(n) => n,
                None => file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .map(|s| s.replace('_', "-"))
                    .context("name the plugin with --name")?,
            };
            let version =
                version.unwrap_or_else(|| crate::runtime::sha256_hex(&bytes)[..12].to_string());
            match (tenant, slot) {
                (Some(tenant), Some(slot)) => {
                    let config = match config {
                        Some(path) => std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?,
                        None => String::new(),
                    };
                    let body = json!({
                        "name": name, "version": version, "lane": lane, "config": config,
                        "component": base64::engine::general_purpose::STANDARD.encode(&bytes),
                    });
                    let staged = client.post(
                        &format!("/v1/tenants/{tenant}/slots/{slot}/versions"),
                        &body,
                    )?;
                    print_staged(&staged, &tenant, &slot);
                }
                _ => {
                    let response = client
                        .agent
                        .post(format!("{}/v1/plugins", client.base))
                        .query("name", &name)
                        .query("version", &version)
                        .header("Authorization", format!("Bearer {}", client.key))
                        .content_type("application/wasm")
                        .send(&bytes[..])?;
                    let meta = read_json(response)?;
                    println!(
                        "stored {name}@{version} for the {} slot, sha256 {}",
                        str_of(&meta, "slot"),
                        str_of(&meta, "sha256")
                    );
                }
            }
            Ok(())
        }
        PluginCommand::Export { name, output } => {
            let component = embedded(&name)?;
            std::fs::write(&output, component)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "wrote {name} to {} ({} bytes), sha256 {}",
                output.display(),
                component.len(),
                crate::runtime::sha256_hex(component)
            );
            Ok(())
        }
        PluginCommand::Shadow(args) => transition(&args, "shadow", json!({})),
        PluginCommand::Canary { version, percent } => {
            transition(&version, "canary", json!({"percent": percent}))
        }
        PluginCommand::Activate(args) => transition(&args, "activate", json!({})),
        PluginCommand::Stage(args) => transition(&args, "stage", json!({})),
        PluginCommand::Retire(args) => transition(&args, "retire", json!({})),
        PluginCommand::Rollback(args) => {
            let client = Client::new(&args.server)?;
            let rollout = client.post(&format!("{}/rollback", slot_path(&args)), &json!({}))?;
            print_versions(&args.slot, &rollout);
            Ok(())
        }
        PluginCommand::Lanes { slot, order } => {
            let client = Client::new(&slot.server)?;
            let rollout = match order {
                Some(lanes) => client.put(
                    &format!("{}/lanes", slot_path(&slot)),
                    &json!({"lanes": lanes}),
                )?,
                None => client.get(&slot_path(&slot))?,
            };
            let lanes: Vec<&str> = super::json_strings(&rollout["lanes"]);
            println!(
                "{}/{} lanes, in call order: {}",
                slot.tenant,
                slot.slot,
                if lanes.is_empty() {
                    "none".to_string()
                } else {
                    lanes.join(", ")
                }
            );
            Ok(())
        }
        PluginCommand::Diff(args) => {
            let client = Client::new(&args.slot.server)?;
            let diff = client.get(&format!(
                "{}/versions/{}/diff",
                slot_path(&args.slot),
                args.id
            ))?;
            let n = diff["messages"].as_u64().unwrap_or(0);
            let pct = |k: &str| {
                let d = diff[k].as_u64().unwrap_or(0);
                if n == 0 {
                    format!("{d}")
                } else {
                    format!("{d} ({:.0}%)", 100.0 * d as f64 / n as f64)
                }
            };
            if n == 0 {
                // "0 messages, 0 differed" read as a clean comparison.
                println!(
                    "version {} never ran in shadow: no message has reached it yet",
                    args.id
                );
                return Ok(());
            }
            let plural = if n == 1 { "" } else { "s" };
            println!("version {} in shadow on {n} message{plural}", args.id);
            println!("  intent differed:     {}", pct("intent_differs"));
            println!("  escalation differed: {}", pct("escalation_differs"));
            println!("  route differed:      {}", pct("route_differs"));
            println!("  shadow failures:     {}", pct("failures"));
            for e in diff["examples"].as_array().into_iter().flatten() {
                println!(
                    "  [{}] {}\n      active: {} / escalate {} / {}\n      shadow: {} / escalate {} / {}",
                    str_of(e, "conversation_id"),
                    str_of(e, "text"),
                    str_of(&e["active"], "intent"),
                    e["active"]["escalate"],
                    str_of(&e["active"], "route"),
                    str_of(&e["shadow"], "intent"),
                    e["shadow"]["escalate"],
                    str_of(&e["shadow"], "route"),
                );
            }
            Ok(())
        }
        PluginCommand::History {
            tenant,
            limit,
            server,
        } => {
            let log = Client::new(&server)?.get(&format!(
                "/v1/tenants/{tenant}/audit?limit={}",
                limit.clamp(1, 5_000)
            ))?;
            let refs = |v: &Value| -> String {
                let list: Vec<String> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| format!("{}@{}#{}", str_of(r, "name"), str_of(r, "version"), r["id"]))
                    .collect();
                if list.is_empty() {
                    "-".into()
                } else {
                    list.join(",")
                }
            };
            for e in log.as_array().into_iter().flatten() {
                let who = match e["actor"]["key"].as_str() {
                    Some(key) => format!("{} (key {key})", str_of(&e["actor"], "kind")),
                    None => str_of(&e["actor"], "kind").to_string(),
                };
                println!(
                    "{} {:<8} {:<9} {} -> {}  by {who}: {}",
                    utc(e["at_ms"].as_u64().unwrap_or(0)),
                    str_of(e, "slot"),
                    str_of(e, "action"),
                    refs(&e["from"]),
                    refs(&e["to"]),
                    str_of(e, "reason"),
                );
            }
            Ok(())
        }
    }
}

/// Milliseconds since the epoch as `2026-12-02 17:53:51Z` (UTC): the history
/// printed raw milliseconds.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
    // Algorithms"): eras of 400 years from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A first-party component this binary carries, by name.
pub fn embedded(name: &str) -> anyhow::Result<&'static [u8]> {
    if let Some(plugin) = crate::demo::FIRST_PARTY.iter().find(|p| p.name == name) {
        return Ok(plugin.component);
    }
    match name {
        "pharmacy" => Ok(crate::demo::PHARMACY_PACK),
        "banking" => Ok(crate::demo::BANKING_PACK),
        _ => {
            let known: Vec<&str> = crate::demo::FIRST_PARTY
                .iter()
                .map(|p| p.name)
                .chain(["pharmacy", "banking"])
                .collect();
            bail!(
                "no plugin {name:?} in this binary; it carries: {}",
                known.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        // 2024-02-29 (a leap day) 23:59:59.999.
        assert_eq!(utc(1_709_251_199_999), "2024-02-29 23:59:59Z");
        assert_eq!(utc(1_709_251_200_000), "2024-03-01 00:00:00Z");
        assert_eq!(utc(1_796_232_831_000), "2026-12-02 17:33:51Z");
    }
}
