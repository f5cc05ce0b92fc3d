//! The one place that runs `bindgen!` over `wit/`. The `plugin-host` world
//! defines the shared types and the import traits; each slot world reuses them
//! through `with`, so every slot speaks the same Rust types.

mod generated {
    wasmtime::component::bindgen!({
        world: "plugin-host",
        path: "../wit",
        // Host functions may trap the guest (a broken limit, a host bug);
        // what the guest may handle is in the WIT `result` types.
        imports: { default: trappable },
    });
}

pub use generated::PluginHost;
pub use generated::switchyard::plugin::{conversation, knowledge, log, roster, tickets, types};

macro_rules! slot_world {
    ($module:ident, $world:literal) => {
        pub mod $module {
            wasmtime::component::bindgen!({
                world: $world,
                path: "../wit",
                imports: { default: trappable },
                with: {
                    "switchyard:plugin/types": crate::bindings::types,
                    "switchyard:plugin/conversation": crate::bindings::conversation,
                    "switchyard:plugin/knowledge": crate::bindings::knowledge,
                    "switchyard:plugin/tickets": crate::bindings::tickets,
                    "switchyard:plugin/roster": crate::bindings::roster,
                    "switchyard:plugin/log": crate::bindings::log,
                },
            });
        }
    };
}

slot_world!(inspect, "inspect");
slot_world!(classify, "classify");
slot_world!(escalate, "escalate");
slot_world!(route, "route");
slot_world!(assist, "assist");
slot_world!(ticket, "ticket");
slot_world!(pack, "pack");
