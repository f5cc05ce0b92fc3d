//! How much one tenant may keep of what the host holds in memory or walks on
//! every request: a tenant that fills them gets a clear 403
//! (`quota_exceeded`) naming the quota, and other tenants are unaffected.
//! Field bounds that hold for everyone (a customer's tags, a ticket's message
//! list) live here too, so the numbers are in one place.

/// Per-tenant quotas. The defaults are generous for a real shop's knowledge
/// base (how long an index at the quota takes to build is not measured yet).
#[derive(Clone, Debug)]
pub struct Quotas {
    /// Articles, drafts included.
    pub articles: usize,
    /// Bytes of stored articles (JSON), drafts included.
    pub article_bytes: u64,
    /// Agents: the roster import hands every one of them to the router on
    /// every message.
    pub agents: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            articles: 5_000,
            article_bytes: 32 << 20,
            agents: 1_000,
        }
    }
}

/// Most tags a customer may carry on a message.
pub const MAX_CUSTOMER_TAGS: usize = 32;
/// Longest customer tag, in bytes.
pub const MAX_TAG_BYTES: usize = 64;
/// Longest agent name, in bytes.
pub const MAX_AGENT_NAME_BYTES: usize = 200;
/// Most skills an agent may have, and the longest, in bytes.
pub const MAX_AGENT_SKILLS: usize = 32;
pub const MAX_SKILL_BYTES: usize = 64;
/// Message ids a ticket keeps (the newest): a customer who writes all day to
/// one open ticket must not make every update rewrite a growing record.
pub const MAX_TICKET_MESSAGE_IDS: usize = 200;

/// Most agents a tenant's `no_assist_days` setting names.
pub const MAX_NO_ASSIST_DAYS: usize = 1_000;
