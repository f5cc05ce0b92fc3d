//! Calls from a plugin to the host.
//!
//! Inside a component these are the WIT imports. In a native build (unit tests,
//! benchmarks) they go to the [`MockHost`](crate::testing::MockHost) installed
//! on the current thread, so plugin logic runs unchanged outside WebAssembly.

use crate::types::{
    Agent, ArticleHit, ConversationState, Customer, Level, PastMessage, TicketSummary,
};

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::*;
    use crate::wit::switchyard::plugin as w;

    pub fn history(limit: u32) -> Vec<PastMessage> {
        w::conversation::history(limit)
    }
    pub fn customer_profile() -> Customer {
        w::conversation::customer_profile()
    }
    pub fn assigned_agent() -> Option<String> {
        w::conversation::assigned_agent()
    }
    pub fn conversation_state() -> ConversationState {
        w::conversation::state()
    }
    pub fn search_articles(query: &str, limit: u32) -> Vec<ArticleHit> {
        w::knowledge::search(query, limit)
    }
    pub fn article_coverage(query: &str, article_id: &str) -> f32 {
        w::knowledge::coverage(query, article_id)
    }
    pub fn plugin_config() -> String {
        w::knowledge::plugin_config()
    }
    pub fn query_pack(pack: &str, query: &str) -> Result<String, String> {
        w::knowledge::query_pack(pack, query)
    }
    pub fn open_tickets() -> Vec<TicketSummary> {
        w::tickets::open_tickets()
    }
    pub fn agents() -> Vec<Agent> {
        w::roster::agents()
    }
    pub fn log(level: Level, message: &str) {
        w::log::write(level, message)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::*;
    use crate::testing::with_mock;

    pub fn history(limit: u32) -> Vec<PastMessage> {
        with_mock(|m| {
            let skip = m.history.len().saturating_sub(limit.min(50) as usize);
            m.history[skip..].to_vec()
        })
    }
    pub fn customer_profile() -> Customer {
        with_mock(|m| m.customer.clone())
    }
    pub fn assigned_agent() -> Option<String> {
        with_mock(|m| m.assigned_agent.clone())
    }
    pub fn conversation_state() -> ConversationState {
        with_mock(|m| m.state.clone())
    }
    pub fn search_articles(query: &str, limit: u32) -> Vec<ArticleHit> {
        with_mock(|m| m.search(query, limit.min(20) as usize))
    }
    pub fn article_coverage(query: &str, article_id: &str) -> f32 {
        with_mock(|m| m.coverage(query, article_id))
    }
    pub fn plugin_config() -> String {
        with_mock(|m| m.config.clone())
    }
    pub fn query_pack(pack: &str, query: &str) -> Result<String, String> {
        let installed = with_mock(|m| m.packs.iter().find(|(name, _)| name == pack).map(|p| p.1));
        match installed {
            Some(query_fn) => query_fn(query),
            None => Err(format!(
                "no knowledge pack named {pack:?} is installed for this tenant"
            )),
        }
    }
    pub fn open_tickets() -> Vec<TicketSummary> {
        with_mock(|m| m.open_tickets.clone())
    }
    pub fn agents() -> Vec<Agent> {
        with_mock(|m| m.agents.clone())
    }
    pub fn log(_level: Level, message: &str) {
        with_mock(|m| m.logs.push(message.to_string()))
    }
}

/// Earlier messages of the current conversation, oldest first (at most `limit`, capped at 50).
pub fn history(limit: u32) -> Vec<PastMessage> {
    imp::history(limit)
}

/// The customer of the current conversation.
pub fn customer_profile() -> Customer {
    imp::customer_profile()
}

/// The agent the current conversation is assigned to, if any.
pub fn assigned_agent() -> Option<String> {
    imp::assigned_agent()
}

/// What the conversation established before this message: its topic
/// (intent), open ticket, facts of earlier messages, who holds it, its
/// language and the customer's open tickets with the agent who handled each.
pub fn conversation_state() -> ConversationState {
    imp::conversation_state()
}

/// Search the tenant's published knowledge articles, best first.
pub fn search_articles(query: &str, limit: u32) -> Vec<ArticleHit> {
    imp::search_articles(query, limit)
}

/// How much of `query` the published article explains, in [0, 1] (see the
/// WIT `knowledge.coverage`).
pub fn article_coverage(query: &str, article_id: &str) -> f32 {
    imp::article_coverage(query, article_id)
}

/// The configuration this plugin was bound with.
pub fn plugin_config() -> String {
    imp::plugin_config()
}

/// Ask an installed knowledge pack; JSON in, JSON out.
pub fn query_pack(pack: &str, query: &str) -> Result<String, String> {
    imp::query_pack(pack, query)
}

/// Open and pending tickets of the current customer, newest first.
pub fn open_tickets() -> Vec<TicketSummary> {
    imp::open_tickets()
}

/// The tenant's agents with their skills and live load.
pub fn agents() -> Vec<Agent> {
    imp::agents()
}

/// Write a line to the host log (bounded by the plugin's log budget).
pub fn log(level: Level, message: &str) {
    imp::log(level, message)
}
