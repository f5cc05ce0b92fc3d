//! The `switchyard` command line: `serve`, `replay`, the `plugin` commands
//! (in `plugin.rs`) that drive a running server's operator API, `kb` (a
//! tenant's knowledge base on a running server), and the offline `intents`,
//! `eval` and `pack` commands.

mod forecast;
mod intents;
mod kb;
mod languages;
mod pack;
mod plugin;
mod report;
mod tenant;

/// For benchmarks that measure on the same data `eval` reads.
pub use intents::{TrainingArgs, inject_typos, load_examples, parse_csv};
pub use pack::{BankingBuild, banking_pack_data, playbook_languages};

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::api::{self, AppState, OperatorKey};
use crate::app::{MIN_KEY_CHARS, NewMessage, Switchyard, new_key, write_key_file};
use crate::demo;
use crate::model::Entry;
use crate::model::{Customer, MessageRecord};
use crate::runtime::{Limits, Runtime};
use crate::storage::Storage;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Customer-service routing and assist engine with WebAssembly plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines on stderr as text (colour only at a terminal) or as one
    /// JSON object a line, for a log collector.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API, with the demo tenant seeded on first start.
    Serve(ServeArgs),
    /// Run a JSONL conversation file through a tenant's plugins and print the decisions.
    /// Nothing is written to the data directory.
    Replay(ReplayArgs),
    /// Manage plugins and their rollout on a running server.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Create and list tenants on a running server.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Intent models for the classifier plugin.
    #[command(subcommand)]
    Intents(IntentsCommand),
    /// Train an intent model and measure it on a test set through the real
    /// classifier plugin: accuracy, macro-F1, out-of-scope recall at the
    /// threshold chosen on validation data, latency, and accuracy with typos.
    Eval(intents::EvalArgs),
    /// Knowledge packs: build a pack's data from its sources, write its component.
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// A tenant's knowledge base on a running server: mine blind spots into
    /// drafts, review, edit, publish, search.
    #[command(subcommand)]
    Kb(kb::KbCommand),
    /// Hourly contact volume ahead with the agents it needs (Erlang C), or
    /// `--backtest`: the method against two baselines on a CSV's last four weeks.
    Forecast(forecast::ForecastArgs),
    /// A tenant's numbers from a running server: KPIs beside the targets
    /// (table, CSV or JSON), canary by outcome, weak spots, coaching.
    #[command(subcommand)]
    Report(report::ReportCommand),
}

#[derive(Subcommand)]
enum IntentsCommand {
    /// Train a model from labelled examples; writes the classifier's config.
    Train(intents::TrainArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHYARD_ADDR", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Data directory (sled database, keys).
    #[arg(long, env = "SWITCHYARD_DATA", default_value = "./switchyard-data")]
    data: PathBuf,
    /// API key of the demo tenant when `serve` creates it; generated and kept
    /// in DATA/demo.key when not given. Once the tenant exists its key is
    /// the stored one (rotate it with POST /v1/key).
    #[arg(long, env = "SWITCHYARD_DEMO_KEY", hide_env_values = true)]
    demo_key: Option<String>,
    /// Operator key; generated and kept in DATA/operator.key when not given.
    /// A flag shows in `ps`: prefer the environment or --operator-key-file.
    #[arg(long, env = "SWITCHYARD_OPERATOR_KEY", hide_env_values = true)]
    operator_key: Option<String>,
    /// A file holding the operator key (one line).
    #[arg(long, conflicts_with = "operator_key")]
    operator_key_file: Option<PathBuf>,
    /// Per-call plugin deadline in milliseconds.
    #[arg(long, default_value_t = 50)]
    plugin_deadline_ms: u64,
    /// Circuit breaker: failed calls (trap, timeout, out of memory, invalid
    /// output) of one version within the window that take it out of service.
    #[arg(long, default_value_t = 5)]
    breaker_failures: u32,
    /// Circuit breaker window in seconds.
    #[arg(long, default_value_t = 60)]
    breaker_window_secs: u64,
    /// Circuit breaker: the share of a version's calls (counted from its
    /// first recent failure) that must have failed, with at least
    /// --breaker-failures of them, before it is taken out (0 to 1).
    #[arg(long, default_value_t = crate::lifecycle::BreakerPolicy::default().rate)]
    breaker_rate: f64,
    /// Plugin fuel (instruction budget) per call; tenants and versions may override.
    #[arg(long, default_value_t = Limits::default().fuel)]
    plugin_fuel: u64,
    /// Plugin memory cap per instance, in MiB; tenants and versions may override.
    #[arg(long, default_value_t = (Limits::default().memory_bytes >> 20) as u64)]
    plugin_memory_mib: u64,
    /// Requests per second each API key may make on average.
    #[arg(long, default_value_t = crate::api::throttle::RatePolicy::default().per_second)]
    rate_per_sec: f64,
    /// Requests each API key may make at once before the average applies.
    #[arg(long, default_value_t = crate::api::throttle::RatePolicy::default().burst)]
    rate_burst: f64,
    /// Messages of one tenant running through plugins at once (default: twice the number of cores).
    #[arg(long)]
    tenant_concurrency: Option<usize>,
    /// Connections open at once (bounded by the open-file limit); past it a
    /// new connection gets 503 and is closed.
    #[arg(long, default_value_t = crate::server::ConnectionPolicy::default().max_connections)]
    max_connections: usize,
    /// Seconds a client has to send a request's headers; also how long a
    /// kept-alive connection may stay idle.
    #[arg(long, default_value_t = crate::server::ConnectionPolicy::default().header_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = crate::server::ConnectionPolicy::default().body_timeout.as_secs())]
    body_timeout_secs: u64,
    /// Seconds a write of an answer may wait for a client that reads
    /// nothing; then the connection is closed.
    #[arg(long, default_value_t = crate::server::ConnectionPolicy::default().write_timeout.as_secs())]
    write_timeout_secs: u64,
    /// `group-commit` (default): a write is acknowledged once a flush that
    /// began after it finished. `off`: acknowledged before it is on disk;
    /// only to measure the ceiling a durable server is compared with.
    #[arg(long, default_value = "group-commit", value_parser = ["group-commit", "off"])]
    durability: String,
    /// The store's page cache in MiB: most of the server's memory under load.
    #[arg(long, default_value_t = crate::storage::DEFAULT_CACHE_BYTES >> 20)]
    cache_mib: u64,
    /// Microseconds a flush may wait for messages still being decided, so
    /// that they share it (0: flush at once). A message waits at most this
    /// much longer; with one message at a time it never waits.
    #[arg(long, default_value_t = crate::durability::DEFAULT_COMMIT_DELAY.as_micros() as u64)]
    commit_delay_us: u64,
    /// Deliver channel webhooks to loopback and private addresses (a
    /// channel adapter on this host or network). Off: a tenant cannot make
    /// the server call into its own network.
    #[arg(long)]
    allow_private_webhooks: bool,
}

#[derive(Args)]
struct ReplayArgs {
    /// JSONL file: one {"conversation", "text", "channel", "customer": {"id", "tier"}} per line.
    #[arg(required_unless_present = "conversation")]
    file: Option<PathBuf>,
    /// Tenant whose plugins decide.
    #[arg(long, default_value = demo::DEMO_TENANT)]
    tenant: String,
    /// Take the tenant from this data directory (the server must not be running on it);
    /// without it, the embedded demo tenant is used.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Re-run this stored conversation (needs --data) and show where each
    /// decision would differ from the one stored.
    #[arg(long, requires = "data", conflicts_with = "file")]
    conversation: Option<String>,
    /// Decide with this stored version on a slot: SLOT=VERSION_ID (repeatable).
    #[arg(long = "with", value_name = "SLOT=VERSION_ID")]
    with: Vec<String>,
    /// Print every decision as one JSON line instead of a summary.
    #[arg(long)]
    json: bool,
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,cranelift=warn,wasmtime=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        // Colour codes only for a person at a terminal, not in files and journals.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Replay(args) => replay(args),
        Command::Plugin(cmd) => plugin::run(cmd),
        Command::Tenant(cmd) => tenant::run(cmd),
        Command::Intents(IntentsCommand::Train(args)) => intents::train_command(args),
        Command::Eval(args) => intents::eval_command(args),
        Command::Pack(command) => pack::run(command),
        Command::Kb(command) => kb::run(command),
        Command::Forecast(args) => forecast::run(args),
        Command::Report(command) => report::run(command),
    }
}

/// A key at start: the one given (flag or environment), else the one kept
/// in `file`, else a new one written there (mode 0600). Also whether it was
/// made now (the only time `serve` prints it). A key shorter than
/// [`MIN_KEY_CHARS`] is refused.
fn key_from(given: Option<String>, file: &Path, prefix: &str) -> anyhow::Result<(String, bool)> {
    let check = |key: String, from: &str| -> anyhow::Result<String> {
        if key.chars().count() < MIN_KEY_CHARS {
            bail!(
                "the {} key from {from} has fewer than {MIN_KEY_CHARS} characters: a short key is guessable",
                file.file_stem()
                    .map_or(prefix.into(), |s| s.to_string_lossy())
            );
        }
        Ok(key)
    };
    if let Some(key) = given {
        return Ok((
            check(key.trim().to_string(), "the command line or environment")?,
            false,
        ));
    }
    if let Ok(key) = std::fs::read_to_string(file) {
        let key = key.trim().to_string();
        if !key.is_empty() {
            return Ok((check(key, &file.display().to_string())?, false));
        }
    }
    let key = new_key(prefix);
    write_key_file(file, &key).with_context(|| format!("writing {}", file.display()))?;
    Ok((key, true))
}

/// The data directory, created readable by its owner only (it holds every
/// customer's messages); an existing one open to others is reported.
fn data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                "the data directory {} is open to other users (mode {:o}); it holds every customer's messages: chmod 700 it",
                dir.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// A key as `serve` settled it at start, and where it is kept.
struct StartKey {
    /// Empty for an example tenant that already exists: its stored key stands.
    key: String,
    made_now: bool,
    file: PathBuf,
}

impl StartKey {
    /// What `serve` prints of it: the key itself only when it was made now
    /// (a log or journal keeps whatever is printed), else where it is.
    fn shown(&self) -> String {
        if self.made_now {
            format!("{}   (new; also in {})", self.key, self.file.display())
        } else if self.file.exists() {
            format!("in {}", self.file.display())
        } else {
            "as given".into()
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    data_dir(&args.data)?;
    let durability = match args.durability.as_str() {
        "off" => {
            tracing::warn!(
                "--durability off: writes are acknowledged before they are on disk; a crash loses them"
            );
            crate::durability::Durability::Off
        }
        _ => crate::durability::Durability::GroupCommit,
    };
    let storage = Storage::open_configured(
        &args.data,
        &crate::storage::StoreOptions {
            durability,
            cache_bytes: args.cache_mib.max(16) << 20,
            // More than 100 ms would trade seconds of latency for nothing.
            commit_delay: std::time::Duration::from_micros(args.commit_delay_us.min(100_000)),
        },
    )?;
    let operator_given = match &args.operator_key_file {
        Some(file) => Some(
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        ),
        None => args.operator_key.clone(),
    };
    let operator_file = args.data.join("operator.key");
    let (key, made_now) = key_from(operator_given, &operator_file, "op")?;
    let operator = StartKey {
        key,
        made_now,
        file: operator_file,
    };
    // An example tenant's key seeds it once: after that the stored key is
    // the truth, and a rotation rewrites the key file (`Switchyard::key_files`).
    // Re-imposing the file or flag at every start brought a rotated key back.
    let example_key = |tenant: &str, given: Option<String>, prefix: &str| {
        let file = args.data.join(format!("{tenant}.key"));
        match storage.tenant(tenant)? {
            Some(existing) => {
                if let Some(given) = &given
                    && crate::app::hash_key(given.trim()) != existing.key_hash
                {
                    tracing::warn!(
                        tenant,
                        "the tenant exists: the key given at start is not its key and is not used (rotate with POST /v1/key)"
                    );
                }
                anyhow::Ok(StartKey {
                    key: String::new(),
                    made_now: false,
                    file,
                })
            }
            None => {
                let (key, made_now) = key_from(given, &file, prefix)?;
                anyhow::Ok(StartKey {
                    key,
                    made_now,
                    file,
                })
            }
        }
    };
    let demo_key = example_key(demo::DEMO_TENANT, args.demo_key.clone(), "demo")?;
    let pharmacy_key = example_key("pharmacy", None, "pharmacy")?;
    let banking_key = example_key("banking", None, "banking")?;
    let limits = Limits {
        deadline: std::time::Duration::from_millis(args.plugin_deadline_ms.max(1)),
        fuel: args.plugin_fuel.max(1_000),
        memory_bytes: (args.plugin_memory_mib.clamp(1, 4096) as usize) << 20,
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let mut app = Switchyard::new(storage, Runtime::new()?, limits);
    app.key_files = Some(args.data.clone());
    let app = Arc::new(app);
    app.set_breaker_policy(crate::lifecycle::BreakerPolicy {
        failures: args.breaker_failures.max(1),
        window: std::time::Duration::from_secs(args.breaker_window_secs.max(1)),
        rate: if args.breaker_rate.is_finite() {
            args.breaker_rate.clamp(0.0, 1.0)
        } else {
            crate::lifecycle::BreakerPolicy::default().rate
        },
    });
    // An empty key: the tenant exists, and seeding leaves it as it is.
    if !demo_key.key.is_empty() && demo::seed(&app, &demo_key.key)? {
        tracing::info!("seeded the demo tenant");
    }
    if !pharmacy_key.key.is_empty() && demo::seed_pharmacy(&app, &pharmacy_key.key)? {
        tracing::info!("seeded the pharmacy demo tenant");
    }
    if !banking_key.key.is_empty() && demo::seed_banking(&app, &banking_key.key)? {
        tracing::info!("seeded the banking demo tenant");
    }
    // Compile (or load the cached artifacts of) every tenant's plugins now,
    // not on the first customer's message.
    for tenant in app.storage.tenants()? {
        app.pipeline(&tenant.id)?;
    }
    app.storage.flush_blocking()?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, "plugins ready");
    // Deliveries the last run left pending go out now; stopped (after the
    // ones under way) when `serve` returns.
    let _delivery = crate::conversations::outbox::start(
        app.clone(),
        crate::conversations::outbox::DeliveryPolicy {
            allow_private: args.allow_private_webhooks,
            ..Default::default()
        },
    );

    // Hourly traffic for the console's plots, counted from the event log.
    let _traffic = crate::traffic::start(app.clone());
    let state = AppState {
        throttle: Arc::new(crate::api::throttle::Throttle::new(
            crate::api::throttle::RatePolicy {
                per_second: args.rate_per_sec.max(0.001),
                burst: args.rate_burst.max(1.0),
            },
            args.tenant_concurrency
                .unwrap_or_else(crate::api::throttle::Throttle::default_tenant_concurrency),
        )),
        ..AppState::new(app.clone(), OperatorKey::new(&operator.key))?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.addr)
            .await
            .with_context(|| format!("listening on {}", args.addr))?;
        let addr = listener.local_addr()?;
        println!("switchyard listening on http://{addr}");
        for (label, key) in [
            ("demo tenant key:", &demo_key),
            ("pharmacy key:", &pharmacy_key),
            ("banking key:", &banking_key),
            ("operator key:", &operator),
        ] {
            println!("{label:<18}{}", key.shown());
        }
        println!("data directory:   {}", args.data.display());
        println!("web pages:        http://{addr}/ (sign in with a key above), customer chat at http://{addr}/chat/demo");
        let policy = crate::server::ConnectionPolicy {
            max_connections: crate::server::ConnectionPolicy::affordable_connections(
                args.max_connections.max(1),
            ),
            header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
            body_timeout: std::time::Duration::from_secs(args.body_timeout_secs.max(1)),
            write_timeout: std::time::Duration::from_secs(args.write_timeout_secs.max(1)),
        };
        crate::server::serve(
            listener,
            api::app(state),
            policy,
            shutdown_signal(),
            std::time::Duration::from_secs(30),
        )
        .await?;
        tracing::info!("stopped accepting; flushing");
        anyhow::Ok(())
    })
}

/// Ctrl-C or SIGTERM (what systemd and container runtimes send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayLine {
    #[serde(default = "default_conversation")]
    conversation: String,
    text: String,
    #[serde(default = "default_channel")]
    channel: String,
    customer: Customer,
}

fn default_conversation() -> String {
    "replay".into()
}
fn default_channel() -> String {
    "web".into()
}

/// A scratch copy of one tenant: its record, plugins, rollouts, agents with
/// their live load, articles and tickets, so a replay decides as the tenant
/// would (repeat contact and load-based routing included) and writes nothing.
/// Conversations start empty: the replayed file is their whole history.
fn scratch_copy(source: &Storage, tenant: &str, replayed: Option<&str>) -> anyhow::Result<Storage> {
    let scratch = Storage::temporary()?;
    let record = source
        .tenant(tenant)?
        .with_context(|| format!("no tenant {tenant:?} in the data directory"))?;
    scratch.put_tenant(&record)?;
    let bindings = source.bindings_with_configs(tenant)?;
    for version in bindings.slots.values().flat_map(|r| &r.versions) {
        let meta = source
            .plugin_meta(&version.sha256)?
            .context("bound plugin missing")?;
        let component = source
            .plugin_component(&version.sha256)?
            .context("bound plugin missing")?;
        scratch.put_plugin(&meta, &component)?;
    }
    scratch.put_bindings(tenant, &bindings)?;
    // The replayed conversation's own assignment is replayed too: its
    // agent's load does not count it before.
    let replayed_holder = match replayed {
        Some(id) => source
            .conversation(tenant, id)?
            .filter(|c| c.status.holds_agent())
            .and_then(|c| c.assigned_agent),
        None => None,
    };
    for agent in source.agents(tenant)? {
        scratch.put_agent(tenant, &agent.agent)?;
        let own = u32::from(replayed_holder.as_deref() == Some(agent.agent.id.as_str()));
        scratch.set_agent_load(tenant, &agent.agent.id, agent.load.saturating_sub(own))?;
    }
    // A replayed conversation's own tickets were opened by the very messages
    // being replayed: they must not be there before them.
    for ticket in source
        .tickets(tenant)?
        .into_iter()
        .filter(|t| Some(t.conversation_id.as_str()) != replayed)
    {
        scratch.put_ticket(tenant, &ticket)?;
    }
    for article in source.articles(tenant)? {
        scratch.put_article(tenant, &article)?;
    }
    Ok(scratch)
}

fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let (app, source) = match &args.data {
        Some(dir) => {
            if !dir.join("conf").exists() && !dir.join("db").exists() {
                bail!("{} holds no switchyard data", dir.display());
            }
            let source = Storage::open(dir)?;
            let scratch = scratch_copy(&source, &args.tenant, args.conversation.as_deref())?;
            let app = Switchyard::new(scratch, Runtime::new()?, Limits::default());
            (app, Some(source))
        }
        None => {
            let app = Switchyard::new(Storage::temporary()?, Runtime::new()?, Limits::default());
            let key = new_key("replay");
            match args.tenant.as_str() {
                demo::DEMO_TENANT => demo::seed(&app, &key)?,
                demo::PHARMACY_TENANT => demo::seed_pharmacy(&app, &key)?,
                demo::BANKING_TENANT => demo::seed_banking(&app, &key)?,
                _ => bail!(
                    "without --data only the demo tenants (demo, pharmacy, banking) can be replayed"
                ),
            };
            (app, None)
        }
    };
    // Swap in the requested versions on the scratch copy only.
    let replayer = crate::model::Actor {
        kind: "replay".into(),
        key: None,
    };
    for spec in &args.with {
        let (slot, id) = spec
            .split_once('=')
            .and_then(|(slot, id)| {
                Some((crate::model::Slot::parse(slot)?, id.parse::<u64>().ok()?))
            })
            .with_context(|| {
                format!("--with {spec}: expected SLOT=VERSION_ID, for example classify=42")
            })?;
        let rollout = app
            .transition(
                &args.tenant,
                slot,
                id,
                crate::lifecycle::Transition::Activate,
                &replayer,
            )
            .with_context(|| format!("--with {spec}"))?;
        // The named version decides every conversation: no canary shares its lane.
        let lane = rollout
            .version(id)
            .map(|v| v.lane.clone())
            .unwrap_or_default();
        for other in rollout
            .versions
            .iter()
            .filter(|v| v.lane == lane && v.state == crate::model::RolloutState::Canary)
        {
            app.transition(
                &args.tenant,
                slot,
                other.id,
                crate::lifecycle::Transition::Stage,
                &replayer,
            )?;
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    if let (Some(conversation), Some(source)) = (&args.conversation, &source) {
        // Customer messages are decided again; what people did (claims,
        // replies, notes, transfers, resolutions) is done again as it was,
        // so each message is decided with the conversation as it stood.
        let entries = source.entries(&args.tenant, conversation)?;
        let customer_messages = entries
            .iter()
            .filter(|e| matches!(e, Entry::Customer { .. }))
            .count();
        if customer_messages == 0 {
            bail!(
                "conversation {conversation:?} has no stored messages for tenant {:?}",
                args.tenant
            );
        }
        let mut differing = 0;
        for entry in &entries {
            let old = match entry {
                Entry::Customer { message, .. } => message,
                Entry::Post(post) => {
                    let line = app.replay_post(&args.tenant, post);
                    if post.author != crate::model::Author::Bot {
                        let by = post.agent_id.as_deref().unwrap_or("system");
                        match (&line, args.json) {
                            (Ok(done), false) => writeln!(out, "[{}] {by}: {done}", post.id)?,
                            (Err(why), false) => {
                                writeln!(out, "[{}] {by}: not replayed: {why}", post.id)?
                            }
                            (result, true) => writeln!(
                                out,
                                "{}",
                                serde_json::json!({"entry_id": post.id, "author": post.author, "agent_id": post.agent_id, "replayed": result.is_ok(), "detail": match result { Ok(d) | Err(d) => d }})
                            )?,
                        }
                    }
                    continue;
                }
            };
            let new = app.handle_message(
                &args.tenant,
                conversation,
                NewMessage {
                    text: old.text.clone(),
                    channel: old.channel.clone(),
                    customer: old.customer.clone(),
                },
            )?;
            let changes = differences(&old.decision, &new.decision);
            differing += usize::from(!changes.is_empty());
            if args.json {
                let line = serde_json::json!({"message_id": old.id, "text": old.text, "stored": old.decision, "replayed": new.decision, "differences": changes});
                writeln!(out, "{line}")?;
            } else if changes.is_empty() {
                writeln!(
                    out,
                    "[{}] {}
  same decision",
                    old.id, old.text
                )?;
            } else {
                writeln!(
                    out,
                    "[{}] {}
  {}",
                    old.id,
                    old.text,
                    changes.join("\n  ")
                )?;
            }
        }
        if !args.json {
            writeln!(
                out,
                "{differing} of {customer_messages} messages would be decided differently"
            )?;
        }
        return Ok(());
    }

    let file = args
        .file
        .as_ref()
        .context("give a conversation file or --conversation")?;
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    for (n, line) in std::io::BufReader::new(input).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let parsed: ReplayLine = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a replay line", file.display(), n + 1))?;
        let record = app
            .handle_message(
                &args.tenant,
                &parsed.conversation,
                NewMessage {
                    text: parsed.text,
                    channel: parsed.channel,
                    customer: parsed.customer,
                },
            )
            .with_context(|| format!("{}:{}", file.display(), n + 1))?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&record)?)?;
        } else {
            writeln!(out, "{}", summary(&record))?;
        }
    }
    Ok(())
}

/// Where a replayed decision differs from the stored one, and which versions decided each.
fn differences(old: &crate::model::Decision, new: &crate::model::Decision) -> Vec<String> {
    let mut out = Vec::new();
    if old.intent.name != new.intent.name {
        out.push(format!("intent {} -> {}", old.intent.name, new.intent.name));
    }
    if old.escalation.escalate != new.escalation.escalate {
        out.push(format!(
            "escalate {} -> {}",
            old.escalation.escalate, new.escalation.escalate
        ));
    }
    let route = |d: &crate::model::Decision| {
        let r = &d.route;
        [
            r.to.as_str(),
            r.queue.as_deref().unwrap_or(""),
            r.agent.as_deref().unwrap_or(""),
        ]
        .join(" ")
        .trim()
        .to_string()
    };
    if route(old) != route(new) {
        out.push(format!("route {} -> {}", route(old), route(new)));
    }
    let department = |d: &crate::model::Decision| d.ticket.as_ref().map(|t| t.department.clone());
    if department(old) != department(new) {
        out.push(format!(
            "ticket {:?} -> {:?}",
            department(old),
            department(new)
        ));
    }
    if !out.is_empty() {
        let deciders = |d: &crate::model::Decision| -> String {
            d.trace
                .iter()
                .filter(|t| t.role.as_deref().is_some_and(|r| r != "shadow"))
                .map(|t| format!("{}:{}#{}", t.slot, t.plugin, t.version_id.unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push(format!("stored by:   {}", deciders(old)));
        out.push(format!("replayed by: {}", deciders(new)));
    }
    out
}

/// One readable paragraph per decision.
fn summary(r: &MessageRecord) -> String {
    let d = &r.decision;
    let mut s = format!(
        "[{}] {}\n  intent {} ({:.2})",
        r.conversation_id, r.text, d.intent.name, d.intent.confidence
    );
    if !d.entities.is_empty() {
        let e: Vec<String> = d
            .entities
            .iter()
            .map(|e| format!("{}={}", e.kind, e.value))
            .collect();
        s += &format!("  entities {}", e.join(", "));
    }
    for f in d.findings.iter().filter(|f| f.kind != "pii") {
        s += &format!(
            "\n  finding {}/{} {}: {}",
            f.kind, f.code, f.severity, f.detail
        );
    }
    if d.escalation.escalate {
        let reasons: Vec<&str> = d
            .escalation
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect();
        s += &format!("\n  escalate: {}", reasons.join(", "));
    }
    s += &format!("\n  route {}", d.route.to);
    if let Some(q) = &d.route.queue {
        s += &format!(" queue={q}");
    }
    if let Some(a) = &d.route.agent {
        s += &format!(" agent={a}");
    }
    s += &format!(" priority={}", d.route.priority);
    if let Some(reply) = &d.reply {
        s += &format!("\n  reply: {reply}");
    }
    if let Some(t) = &d.ticket {
        s += &format!("\n  ticket {} {} -> {}", t.action, t.title, t.department);
    }
    let failures: Vec<String> = d
        .trace
        .iter()
        .filter(|t| t.outcome != "ok" && t.outcome != "default")
        .map(|t| format!("{}:{}={}", t.slot, t.plugin, t.outcome))
        .collect();
    // A pack's time is inside the time of the plugin that asked it.
    let total: u64 = d
        .trace
        .iter()
        .filter(|t| t.slot != crate::model::Slot::Pack)
        .map(|t| t.micros)
        .sum();
    s += &format!("\n  plugins {total} µs");
    if !failures.is_empty() {
        s += &format!(", failures: {}", failures.join(", "));
    }
    s
}

/// The strings of a JSON array (none when it is not one).
pub(crate) fn json_strings(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect()
}
