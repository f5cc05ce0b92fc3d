//! The demo tenant: an e-commerce shop in Chinese and English with every
//! first-party plugin bound, its agents, queues and FAQ articles. Seeded on
//! first start; the plugins and data are embedded in the binary, so the demo
//! needs nothing on disk.

use serde::Deserialize;

use crate::app::{Error, Result, Switchyard};
use crate::model::{Actor, Agent, Article, Binding, Slot};

pub const DEMO_TENANT: &str = "demo";

/// Set once the demo tenant is completely seeded.
const SEEDED: &str = "demo-seeded";

macro_rules! component {
    ($stem:literal) => {
        include_bytes!(concat!(
            env!("SWITCHYARD_COMPONENT_DIR"),
            "/",
            $stem,
            ".wasm"
        ))
    };
}

macro_rules! demo_file {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/demo/",
            $name
        ))
    };
}

/// A first-party plugin embedded in the binary.
pub struct EmbeddedPlugin {
    pub name: &'static str,
    pub slot: Slot,
    pub component: &'static [u8],
    /// The demo tenant's configuration for it.
    pub demo_config: &'static str,
}

pub const FIRST_PARTY: [EmbeddedPlugin; 6] = [
    EmbeddedPlugin {
        name: "inspector",
        slot: Slot::Inspect,
        component: component!("switchyard_plugin_inspector"),
        demo_config: demo_file!("inspector.json"),
    },
    EmbeddedPlugin {
        name: "classifier",
        slot: Slot::Classify,
        component: component!("switchyard_plugin_classifier"),
        demo_config: demo_file!("intents.json"),
    },
    EmbeddedPlugin {
        name: "escalator",
        slot: Slot::Escalate,
        component: component!("switchyard_plugin_escalator"),
        demo_config: demo_file!("escalator.json"),
    },
    EmbeddedPlugin {
        name: "router",
        slot: Slot::Route,
        component: component!("switchyard_plugin_router"),
        demo_config: demo_file!("router.json"),
    },
    EmbeddedPlugin {
        name: "assistant",
        slot: Slot::Assist,
        component: component!("switchyard_plugin_assistant"),
        demo_config: demo_file!("assistant.json"),
    },
    EmbeddedPlugin {
        name: "ticketer",
        slot: Slot::Ticket,
        component: component!("switchyard_plugin_ticketer"),
        demo_config: demo_file!("ticketer.json"),
    },
];

/// Where the build put every component it compiled, test fixtures included
/// (tests load those from here; the binary embeds only the first-party ones).
pub const COMPONENT_DIR: &str = env!("SWITCHYARD_COMPONENT_DIR");

#[derive(Deserialize)]
struct AgentsFile {
    agents: Vec<Agent>,
}

#[derive(Deserialize)]
struct ArticlesFile {
    articles: Vec<Article>,
}

macro_rules! example_file {
    ($dir:literal, $name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/",
            $dir,
            "/",
            $name
        ))
    };
}

/// The pharmacy knowledge pack, embedded for the pharmacy demo tenant.
pub const PHARMACY_PACK: &[u8] = component!("switchyard_pack_pharmacy");

/// The pharmacy demo tenant's id.
pub const PHARMACY_TENANT: &str = "pharmacy";

/// Set once the pharmacy tenant is completely seeded.
const PHARMACY_SEEDED: &str = "pharmacy-seeded";

/// An example tenant the binary carries and seeds on first start.
struct ExampleTenant {
    id: &'static str,
    name: &'static str,
    /// Meta key set once seeding finished.
    seeded_flag: &'static str,
    agents: &'static str,
    articles: &'static str,
    router: &'static str,
    /// (plugin name, slot, component, configuration).
    plugins: Vec<(&'static str, Slot, &'static [u8], String)>,
}

fn shop() -> Result<ExampleTenant> {
    let mut plugins: Vec<_> = FIRST_PARTY
        .iter()
        .map(|p| (p.name, p.slot, p.component, p.demo_config.to_string()))
        .collect();
    for plugin in plugins.iter_mut().filter(|p| p.1 == Slot::Classify) {
        plugin.3 = demo_classifier_config()?;
    }
    Ok(ExampleTenant {
        id: DEMO_TENANT,
        name: "Switchyard Shop (demo)",
        seeded_flag: SEEDED,
        agents: demo_file!("agents.json"),
        articles: demo_file!("articles.json"),
        router: demo_file!("router.json"),
        plugins,
    })
}

/// The demo shop's classifier config: an intent model trained on
/// `examples/demo/training/` (two authors' messages, Chinese and English,
/// with an out-of-scope class), its temperature and threshold fitted on
/// `examples/demo/validation/` (a third author's), then trained on both, as
/// `switchyard intents train --also ... --validation ...` makes it; follow-ups
/// are read in context (`"follow_up"`, the classifier's defaults). Trained
/// once per process (a few seconds on 2 cores). The evaluation set in
/// `examples/demo/eval/` (a fourth author's) is never trained on.
pub fn demo_classifier_config() -> Result<String> {
    static TRAINED: std::sync::OnceLock<std::result::Result<String, String>> =
        std::sync::OnceLock::new();
    TRAINED
        .get_or_init(|| {
            let parse = |text: &str, name: &str| {
                crate::training::parse_csv(text.as_bytes(), name).map_err(|e| format!("{e:#}"))
            };
            let mut examples = parse(demo_file!("training/train.csv"), "training/train.csv")?;
            examples.extend(parse(
                demo_file!("training/train-more.csv"),
                "training/train-more.csv",
            )?);
            let validation = parse(
                demo_file!("validation/validation.csv"),
                "validation/validation.csv",
            )?;
            let trained = crate::training::train_calibrated_on(
                &examples,
                Some(validation),
                &Default::default(),
            )
            .map_err(|e| format!("{e:#}"))?;
            Ok(serde_json::json!({
                "model": trained.model.to_base64(),
                "follow_up": {},
                "out_of_scope_intent": "out_of_scope",
            })
            .to_string())
        })
        .clone()
        .map_err(|e| Error::Internal(format!("demo intent model: {e}")))
}

/// The pharmacy's interaction graph, built from the project's small demo
/// data (`examples/pharmacy/ddi-demo`) by the same builder as `switchyard
/// pack build pharmacy`.
pub fn pharmacy_demo_graph() -> Result<String> {
    let (graph, _report) = switchyard_pack_pharmacy::graph::build(
        example_file!("pharmacy", "ddi-demo/interactions.tsv"),
        example_file!("pharmacy", "ddi-demo/class_members.tsv"),
        None,
    )
    .map_err(|e| Error::Internal(format!("pharmacy demo graph: {e}")))?;
    serde_json::to_string(&graph).map_err(|e| Error::Internal(e.to_string()))
}

/// The first-party plugin of each slot, each with its config.
fn first_party_with(
    configs: [(Slot, &'static str); 6],
) -> Vec<(&'static str, Slot, &'static [u8], String)> {
    configs
        .into_iter()
        .map(|(slot, config)| {
            let plugin = FIRST_PARTY
                .iter()
                .find(|p| p.slot == slot)
                .expect("every slot has a first-party plugin");
            (plugin.name, slot, plugin.component, config.to_string())
        })
        .collect()
}

/// An example tenant from its folder: the first-party plugins configured
/// from `inspector.json`, `intents.json`, `escalator.json`, `router.json`,
/// `assistant.json` and `ticketer.json`, its agents and articles, and its
/// knowledge pack (named like the folder) with the pack's data.
macro_rules! example_tenant {
    ($dir:literal, $id:expr, $name:literal, $seeded_flag:expr, $pack:expr, $pack_data:expr) => {{
        let mut plugins = first_party_with([
            (Slot::Inspect, example_file!($dir, "inspector.json")),
            (Slot::Classify, example_file!($dir, "intents.json")),
            (Slot::Escalate, example_file!($dir, "escalator.json")),
            (Slot::Route, example_file!($dir, "router.json")),
            (Slot::Assist, example_file!($dir, "assistant.json")),
            (Slot::Ticket, example_file!($dir, "ticketer.json")),
        ]);
        plugins.push(($dir, Slot::Pack, $pack, $pack_data));
        ExampleTenant {
            id: $id,
            name: $name,
            seeded_flag: $seeded_flag,
            agents: example_file!($dir, "agents.json"),
            articles: example_file!($dir, "articles.json"),
            router: example_file!($dir, "router.json"),
            plugins,
        }
    }};
}

fn pharmacy() -> Result<ExampleTenant> {
    Ok(example_tenant!(
        "pharmacy",
        PHARMACY_TENANT,
        "Switchyard Pharmacy (demo)",
        PHARMACY_SEEDED,
        PHARMACY_PACK,
        pharmacy_demo_graph()?
    ))
}

/// The banking knowledge pack, embedded for the banking demo tenant.
pub const BANKING_PACK: &[u8] = component!("switchyard_pack_banking");

/// The banking demo tenant's id.
pub const BANKING_TENANT: &str = "banking";

/// Set once the banking tenant is completely seeded.
const BANKING_SEEDED: &str = "banking-seeded";

/// The banking pack's data for the demo tenant: the full playbook
/// (`examples/banking/playbook.json`, all 77 BANKING77 intents) with a model
/// trained on the project's own small example set (14 of those intents and
/// an out-of-scope class of greetings and small talk,
/// `examples/banking/demo-train.csv`), temperature fitted on
/// `demo-validation.csv`. `switchyard pack build banking` makes the real one
/// from BANKING77; the operator swaps it in like any plugin version.
pub fn banking_demo_pack() -> Result<String> {
    let internal = |e: String| Error::Internal(format!("banking demo pack: {e}"));
    let parse = |text: &str, name: &str| {
        crate::training::parse_csv(text.as_bytes(), name).map_err(|e| internal(format!("{e:#}")))
    };
    let examples = parse(example_file!("banking", "demo-train.csv"), "demo-train.csv")?;
    let validation = parse(
        example_file!("banking", "demo-validation.csv"),
        "demo-validation.csv",
    )?;
    // Greetings and small talk are the out-of-scope class: "Hi" opened an
    // account-closure ticket when every message had to be a banking intent.
    let options = switchyard_sdk::intents::train::Options {
        out_of_scope: Some("oos".into()),
        ..Default::default()
    };
    let mut model = switchyard_sdk::intents::train::train(&examples, &options).map_err(internal)?;
    switchyard_sdk::intents::train::fit_temperature(&mut model, &validation);
    let playbook = serde_json::from_str(example_file!("banking", "playbook.json"))
        .map_err(|e| internal(format!("playbook.json: {e}")))?;
    serde_json::to_string(&switchyard_pack_banking::PackData {
        model: model.to_base64(),
        playbook,
    })
    .map_err(|e| internal(e.to_string()))
}

fn banking() -> Result<ExampleTenant> {
    Ok(example_tenant!(
        "banking",
        BANKING_TENANT,
        "Switchyard Bank (demo)",
        BANKING_SEEDED,
        BANKING_PACK,
        banking_demo_pack()?
    ))
}

/// Create the demo tenant with `key` on first start, and finish a seeding a
/// crash interrupted (binding only the slots left without an active version).
/// Returns whether anything was written.
pub fn seed(app: &Switchyard, key: &str) -> Result<bool> {
    if app.storage.meta(SEEDED)?.is_some() {
        return Ok(false);
    }
    seed_tenant(app, &shop()?, key)
}

/// The same for the pharmacy demo tenant (its plugins, pharmacists and the
/// pharmacy pack on the demo graph).
pub fn seed_pharmacy(app: &Switchyard, key: &str) -> Result<bool> {
    // Checked here too, so a seeded host does not build the graph on every start.
    if app.storage.meta(PHARMACY_SEEDED)?.is_some() {
        return Ok(false);
    }
    seed_tenant(app, &pharmacy()?, key)
}

/// The same for the banking demo tenant (its plugins, agents and the banking
/// pack with the demo model).
pub fn seed_banking(app: &Switchyard, key: &str) -> Result<bool> {
    // Checked here too, so a seeded host does not train the model on every start.
    if app.storage.meta(BANKING_SEEDED)?.is_some() {
        return Ok(false);
    }
    seed_tenant(app, &banking()?, key)
}

fn seed_tenant(app: &Switchyard, example: &ExampleTenant, key: &str) -> Result<bool> {
    // Once seeding finished, the tenant is the operators' like any other:
    // a slot they retired stays retired across restarts.
    if app.storage.meta(example.seeded_flag)?.is_some() {
        return Ok(false);
    }
    let tenant = example.id;
    let exists = app.storage.tenant(tenant)?.is_some();
    // A tenant of that id that seeding did not start is someone's own (an
    // upgraded host may already have a "banking"): never seed over it.
    let started_flag = format!("{}-started", example.seeded_flag);
    if exists && app.storage.meta(&started_flag)?.is_none() {
        tracing::warn!(
            tenant,
            "a tenant with this id exists and is not the example: the example is not seeded"
        );
        return Ok(false);
    }
    app.storage.put_meta(&started_flag, "1")?;
    if !exists {
        app.create_tenant(tenant, example.name, Some(key))?;
    }
    let seeder = Actor {
        kind: "seed".into(),
        key: None,
    };
    fill_tenant(app, tenant, example, &seeder)?;
    app.storage.put_meta(example.seeded_flag, "1")?;
    app.storage.flush_blocking()?;
    Ok(true)
}

/// The example tenants a new tenant can start from (`tenant create --from`).
pub const EXAMPLES: [&str; 3] = [DEMO_TENANT, PHARMACY_TENANT, BANKING_TENANT];

fn example(name: &str) -> Result<ExampleTenant> {
    match name {
        DEMO_TENANT => shop(),
        PHARMACY_TENANT => pharmacy(),
        BANKING_TENANT => banking(),
        other => Err(Error::Invalid(format!(
            "no example tenant {other:?}; there are: {}",
            EXAMPLES.join(", ")
        ))),
    }
}

/// Create tenant `id` as a copy of example tenant `from` (the plugins with
/// their configs, the pack, the queues, the agents and the articles, as the
/// binary carries them), with `key` or a generated one. The example is
/// checked before anything is written; the tenant is created first, so a
/// failure after that leaves a tenant to fill or delete, named in the error.
pub fn create_from_example(
    app: &Switchyard,
    from: &str,
    id: &str,
    name: &str,
    key: Option<&str>,
    actor: &Actor,
) -> Result<(crate::model::Tenant, String)> {
    let example = example(from)?;
    let created = app.create_tenant(id, name, key)?;
    fill_tenant(app, id, &example, actor).map_err(|e| {
        Error::Internal(format!(
            "tenant {id:?} was created but filling it from {from:?} failed: {e}"
        ))
    })?;
    app.storage.flush_blocking()?;
    Ok(created)
}

/// Put an example's agents, articles, queues and plugins into `tenant`;
/// only the slots without an active version are bound (a crash may have
/// interrupted an earlier fill).
fn fill_tenant(
    app: &Switchyard,
    tenant: &str,
    example: &ExampleTenant,
    actor: &Actor,
) -> Result<()> {
    let name = example.id;
    let rollouts = app.storage.bindings(tenant)?;
    let has_active = |slot: Slot| {
        rollouts
            .slots
            .get(&slot)
            .is_some_and(|r| !r.active_ids().is_empty())
    };
    let agents: AgentsFile = serde_json::from_str(example.agents)
        .map_err(|e| Error::Internal(format!("{name} agents.json: {e}")))?;
    let articles: ArticlesFile = serde_json::from_str(example.articles)
        .map_err(|e| Error::Internal(format!("{name} articles.json: {e}")))?;
    for agent in &agents.agents {
        app.put_agent(tenant, agent, false)?;
    }
    for article in &articles.articles {
        app.put_article(tenant, article, false)?;
    }
    let version = env!("CARGO_PKG_VERSION");
    // The tenant declares its router's queues, so a route to any other is refused.
    let router: serde_json::Value = serde_json::from_str(example.router)
        .map_err(|e| Error::Internal(format!("{name} router.json: {e}")))?;
    let queues = router["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["name"].as_str().map(str::to_string))
        .collect();
    let settings = crate::model::TenantSettings {
        queues,
        // The examples' chat pages are open, so a first visit can try them.
        web_chat: crate::model::WebChatSettings {
            enabled: true,
            embed_origins: vec![],
        },
        ..app.settings(tenant)?
    };
    app.set_settings(tenant, settings, actor)?;
    // Packs first: the inspector's smoke run asks them.
    let mut plugins: Vec<_> = example.plugins.iter().collect();
    plugins.sort_by_key(|(_, slot, _, _)| *slot != Slot::Pack);
    for (plugin, slot, component, config) in plugins.into_iter().filter(|p| !has_active(p.1)) {
        let meta = app.add_plugin(plugin, version, component)?;
        app.bind(
            tenant,
            *slot,
            vec![Binding {
                sha256: meta.sha256,
                config: config.clone(),
            }],
            actor,
        )?;
    }
    Ok(())
}
