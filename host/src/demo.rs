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

/// Create the demo tenant with `key` on first start, and finish a seeding a
/// crash interrupted (binding only the slots left without an active version).
/// Returns whether anything was written.
pub fn seed(app: &Switchyard, key: &str) -> Result<bool> {
    // Once seeding finished, the demo tenant is the operators' like any other:
    // a slot they retired stays retired across restarts.
    if app.storage.meta(SEEDED)?.is_some() {
        return Ok(false);
    }
    let exists = app.storage.tenant(DEMO_TENANT)?.is_some();
    let rollouts = app.storage.bindings(DEMO_TENANT)?;
    let has_active = |slot: Slot| {
        rollouts
            .slots
            .get(&slot)
            .is_some_and(|r| !r.active_ids().is_empty())
    };
    let agents: AgentsFile = serde_json::from_str(demo_file!("agents.json"))
        .map_err(|e| Error::Internal(format!("demo agents.json: {e}")))?;
    let articles: ArticlesFile = serde_json::from_str(demo_file!("articles.json"))
        .map_err(|e| Error::Internal(format!("demo articles.json: {e}")))?;
    if !exists {
        app.create_tenant(DEMO_TENANT, "Switchyard Shop (demo)", Some(key))?;
    }
    for agent in &agents.agents {
        app.put_agent(DEMO_TENANT, agent, false)?;
    }
    for article in &articles.articles {
        app.put_article(DEMO_TENANT, article, false)?;
    }
    let version = env!("CARGO_PKG_VERSION");
    let seeder = Actor {
        kind: "seed".into(),
        key: None,
    };
    // The demo declares its router's queues, so a route to any other is refused.
    let router: serde_json::Value = serde_json::from_str(demo_file!("router.json"))
        .map_err(|e| Error::Internal(format!("demo router.json: {e}")))?;
    let queues = router["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["name"].as_str().map(str::to_string))
        .collect();
    let settings = crate::model::TenantSettings {
        queues,
        ..app.settings(DEMO_TENANT)?
    };
    app.set_settings(DEMO_TENANT, settings, &seeder)?;
    // Only the slots a crash left without an active version are bound again.
    for plugin in FIRST_PARTY.iter().filter(|p| !has_active(p.slot)) {
        let meta = app.add_plugin(plugin.name, version, plugin.component)?;
        app.bind(
            DEMO_TENANT,
            plugin.slot,
            vec![Binding {
                sha256: meta.sha256,
                config: plugin.demo_config.to_string(),
            }],
            &seeder,
        )?;
    }
    app.storage.put_meta(SEEDED, "1")?;
    app.storage.flush_blocking()?;
    Ok(true)
}
