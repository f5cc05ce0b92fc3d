//! The records Switchyard keeps and answers with: tenants, agents, articles,
//! conversations, messages, tickets and the decision record of each message.
//! Their serde form is both the stored encoding and the HTTP API's JSON.

use serde::{Deserialize, Serialize};

/// A pipeline slot, in the order the pipeline runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    Inspect,
    Classify,
    Escalate,
    Route,
    Assist,
    Ticket,
}

impl Slot {
    pub const ALL: [Slot; 6] = [
        Slot::Inspect,
        Slot::Classify,
        Slot::Escalate,
        Slot::Route,
        Slot::Assist,
        Slot::Ticket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Inspect => "inspect",
            Slot::Classify => "classify",
            Slot::Escalate => "escalate",
            Slot::Route => "route",
            Slot::Assist => "assist",
            Slot::Ticket => "ticket",
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| slot.as_str() == s)
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Standard,
    Premium,
    Vip,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub tier: Tier,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// sha256 of the tenant's API key, hex; the key itself is never stored.
    pub key_hash: String,
    pub created_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    #[default]
    Online,
    Away,
    Offline,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub skills: Vec<String>,
    pub capacity: u32,
    #[serde(default)]
    pub status: AgentStatus,
}

/// An agent with the live load the API and the roster import report.
#[derive(Clone, Debug, Serialize)]
pub struct AgentWithLoad {
    #[serde(flatten)]
    pub agent: Agent,
    pub load: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Article {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub problem_type: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub body: String,
    #[serde(default = "yes")]
    pub published: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Open,
    Closed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub customer: Customer,
    pub status: ConversationStatus,
    /// Agent the conversation is assigned to; counts toward that agent's load while open.
    pub assigned_agent: Option<String>,
    pub queue: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub message_count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    Open,
    Pending,
    Solved,
    Closed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketFact {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub conversation_id: String,
    pub customer_id: String,
    pub intent: String,
    pub title: String,
    pub department: String,
    pub priority: u8,
    pub summary: String,
    pub facts: Vec<TicketFact>,
    pub status: TicketStatus,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Message ids that opened or updated this ticket.
    pub message_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntentResult {
    pub name: String,
    pub confidence: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntityResult {
    pub kind: String,
    pub value: String,
    pub start: u32,
    pub end: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FindingResult {
    pub kind: String,
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub start: u32,
    pub end: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EscalationReason {
    pub code: String,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EscalationResult {
    pub escalate: bool,
    pub reasons: Vec<EscalationReason>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteResult {
    /// "bot", "queue" or "agent".
    pub to: String,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub priority: u8,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuggestionResult {
    /// "reply", "article", "compliance" or "warning".
    pub kind: String,
    pub title: String,
    pub text: String,
    pub score: f32,
    pub article_id: Option<String>,
}

/// The ticket a message opened or updated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TicketResult {
    pub id: String,
    /// "opened" or "updated".
    pub action: String,
    pub title: String,
    pub department: String,
    pub priority: u8,
    pub facts: Vec<TicketFact>,
}

/// How one plugin call (or a slot default) went.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceEntry {
    pub slot: Slot,
    /// Plugin name, or "default" when the slot's built-in default decided.
    pub plugin: String,
    pub version: String,
    pub sha256: Option<String>,
    /// "ok", "default", "trap", "timeout", "out-of-memory", "invalid-output", "init-failed".
    pub outcome: String,
    pub micros: u64,
    /// What went wrong, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Everything decided about one message: what the agent desk shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    pub intent: IntentResult,
    pub alternatives: Vec<IntentResult>,
    pub entities: Vec<EntityResult>,
    pub findings: Vec<FindingResult>,
    pub masked_text: Option<String>,
    pub escalation: EscalationResult,
    pub route: RouteResult,
    pub reply: Option<String>,
    pub suggestions: Vec<SuggestionResult>,
    pub ticket: Option<TicketResult>,
    pub trace: Vec<TraceEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: String,
    pub conversation_id: String,
    pub text: String,
    pub channel: String,
    pub customer: Customer,
    pub received_at_ms: u64,
    pub decision: Decision,
}

/// A stored plugin version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PluginMeta {
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub slot: Slot,
    pub size: u64,
    pub uploaded_at_ms: u64,
}

/// One plugin bound to a tenant's slot, with its configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Binding {
    pub sha256: String,
    #[serde(default)]
    pub config: String,
}

/// A tenant's bindings, slot by slot, in call order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Bindings {
    pub slots: std::collections::BTreeMap<Slot, Vec<Binding>>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
