//! The crate Switchyard plugin authors depend on.
//!
//! A plugin implements one pipeline slot (inspect, classify, escalate, route,
//! assist or ticket). Enable the slot's cargo feature, implement its `Guest`
//! trait and export it:
//!
//! ```ignore
//! use switchyard_sdk::prelude::*;
//!
//! pub struct Keywords;
//! impl switchyard_sdk::classify::Guest for Keywords {
//!     fn init(config: String) -> Result<(), String> { Ok(()) }
//!     fn classify(turn: Turn) -> Classification { /* ... */ }
//! }
//! // Only the component exports it; natively the trait's functions are plain
//! // Rust, for unit tests against `testing::MockHost`.
//! #[cfg(target_arch = "wasm32")]
//! switchyard_sdk::classify::export!(Keywords);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the result is a
//! component the host accepts for that slot. Host calls go through [`host`],
//! which on a native build talks to [`testing::MockHost`], so the same logic is
//! unit-tested and benchmarked without a WebAssembly runtime.
//!
//! Version skew: this SDK speaks `switchyard:plugin@0.1.1`. A host of 0.1.1
//! or later 0.1.x runs its plugins (the linker matches imports by semver); a
//! plugin that calls `host::conversation_state` does not link on a 0.1.0 host,
//! which refuses the upload and names the import it lacks.

pub mod article_answers;
pub mod intents;
pub mod personal;
pub mod playbook;
pub mod text;

#[cfg(feature = "guest")]
pub mod host;
#[cfg(feature = "guest")]
pub mod testing;

/// Imports and shared types, generated from the `plugin-host` world.
#[cfg(feature = "guest")]
pub mod wit {
    wit_bindgen::generate!({
        world: "plugin-host",
        path: "../wit",
    });
}

/// The WIT types every slot uses, under short names.
#[cfg(feature = "guest")]
pub mod types {
    pub use crate::wit::switchyard::plugin::conversation::{
        ConversationState, Fact, Holder, PastMessage, TicketHolder,
    };
    pub use crate::wit::switchyard::plugin::knowledge::{ArticleHit, ReplyTemplate};
    pub use crate::wit::switchyard::plugin::log::Level;
    pub use crate::wit::switchyard::plugin::roster::{Agent, AgentStatus};
    pub use crate::wit::switchyard::plugin::tickets::{TicketStatus, TicketSummary};
    pub use crate::wit::switchyard::plugin::types::*;
}

/// Everything a plugin usually needs in one import.
pub mod prelude {
    pub use crate::text;
    #[cfg(feature = "guest")]
    pub use crate::{host, types::*};
}

#[cfg(feature = "guest")]
/// Generates the bindings of one slot world, reusing the shared types and
/// imports from [`wit`] so every slot speaks the same Rust types.
macro_rules! slot_bindings {
    ($world:literal, $macro_name:literal, $module:literal) => {
        wit_bindgen::generate!({
            world: $world,
            path: "../wit",
            with: {
                "switchyard:plugin/types@0.1.1": crate::wit::switchyard::plugin::types,
                "switchyard:plugin/conversation@0.1.1": crate::wit::switchyard::plugin::conversation,
                "switchyard:plugin/knowledge@0.1.1": crate::wit::switchyard::plugin::knowledge,
                "switchyard:plugin/tickets@0.1.1": crate::wit::switchyard::plugin::tickets,
                "switchyard:plugin/roster@0.1.1": crate::wit::switchyard::plugin::roster,
                "switchyard:plugin/log@0.1.1": crate::wit::switchyard::plugin::log,
            },
            pub_export_macro: true,
            export_macro_name: $macro_name,
            default_bindings_module: $module,
        });
    };
}

/// Inspect slot: implement [`inspect::Guest`], export with `inspect::export!`.
#[cfg(feature = "inspect")]
pub mod inspect {
    slot_bindings!("inspect", "export", "switchyard_sdk::inspect");
}

/// Classify slot: implement [`classify::Guest`], export with `classify::export!`.
#[cfg(feature = "classify")]
pub mod classify {
    slot_bindings!("classify", "export", "switchyard_sdk::classify");
}

/// Escalate slot: implement [`escalate::Guest`], export with `escalate::export!`.
#[cfg(feature = "escalate")]
pub mod escalate {
    slot_bindings!("escalate", "export", "switchyard_sdk::escalate");
}

/// Route slot: implement [`route::Guest`], export with `route::export!`.
#[cfg(feature = "route")]
pub mod route {
    slot_bindings!("route", "export", "switchyard_sdk::route");
}

/// Assist slot: implement [`assist::Guest`], export with `assist::export!`.
#[cfg(feature = "assist")]
pub mod assist {
    slot_bindings!("assist", "export", "switchyard_sdk::assist");
}

/// Ticket slot: implement [`ticket::Guest`], export with `ticket::export!`.
#[cfg(feature = "ticket")]
pub mod ticket {
    slot_bindings!("ticket", "export", "switchyard_sdk::ticket");
}

/// Knowledge packs (world `pack`): `init(config)` and `query(json) -> json`.
#[cfg(feature = "pack")]
pub mod pack {
    slot_bindings!("pack", "export", "switchyard_sdk::pack");
}

/// Language of a message, for choosing a reply script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// Chinese when the text holds any CJK ideograph, English otherwise.
    pub fn detect(text: &str) -> Lang {
        if text.chars().any(text::is_cjk) {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The language of a text written in words: Chinese with any CJK
    /// ideograph, English with any Latin letter, none for digits and signs
    /// alone ("2024113099123", "?"), which say nothing about it.
    pub fn of_words(text: &str) -> Option<Lang> {
        if text.chars().any(text::is_cjk) {
            Some(Lang::Zh)
        } else if text.chars().any(|c| c.is_ascii_alphabetic()) {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The language's code as reply templates carry it: "zh" or "en".
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}
