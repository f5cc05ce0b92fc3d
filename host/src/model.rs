//! The records Switchyard keeps and answers with: tenants, agents, articles,
//! conversations, messages, tickets and the decision record of each message.
//! Their serde form is both the stored encoding and the HTTP API's JSON.

use serde::{Deserialize, Serialize};

pub use crate::runtime::LimitOverrides;

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
    /// Not a pipeline stage: knowledge packs, asked by the other slots'
    /// plugins through `knowledge.query-pack`. Installed, hot-swapped and
    /// rolled back like any slot version; the lane is the pack's name.
    Pack,
}

impl Slot {
    pub const ALL: [Slot; 7] = [
        Slot::Inspect,
        Slot::Classify,
        Slot::Escalate,
        Slot::Route,
        Slot::Assist,
        Slot::Ticket,
        Slot::Pack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Inspect => "inspect",
            Slot::Classify => "classify",
            Slot::Escalate => "escalate",
            Slot::Route => "route",
            Slot::Assist => "assist",
            Slot::Ticket => "ticket",
            Slot::Pack => "pack",
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
    /// When the key was last replaced (0: never).
    #[serde(default)]
    pub key_rotated_at_ms: u64,
    /// The key replaced last, still accepted until `previous_key_expires_ms`
    /// so clients can switch without downtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_key_hash: Option<String>,
    #[serde(default)]
    pub previous_key_expires_ms: u64,
    /// Plugin limits for this tenant, over the server's defaults.
    #[serde(default)]
    pub limits: LimitOverrides,
    #[serde(default)]
    pub settings: TenantSettings,
    /// Where replies, surveys and summaries go (`PUT /v1/channel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ChannelEndpoint>,
}

/// The tenant's channel integration: the webhook that delivers what is
/// said to customers, and the secrets that sign both directions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelEndpoint {
    /// `http://` or `https://` URL that receives outbound messages.
    pub url: String,
    /// Signs every delivery (HMAC-SHA256 over `timestamp.body`).
    pub secret: String,
    /// When set, inbound customer messages must be signed with it the
    /// same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound_secret: Option<String>,
}

/// What an outbound delivery carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboundKind {
    /// A bot's or an agent's reply.
    Message,
    /// The satisfaction survey.
    Survey,
    /// The service summary after a resolution.
    Summary,
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    /// To be delivered (again) at `next_attempt_ms`.
    Pending,
    /// Given up after the retry window; redelivered only by hand.
    Dead,
}

/// One outbound message, written with the entry it delivers and kept until
/// the channel acknowledged it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// `o-<hex>`; with the tenant, the delivery's idempotency key.
    pub id: String,
    pub tenant: String,
    pub conversation_id: String,
    pub kind: OutboundKind,
    /// The JSON body delivered.
    pub payload: serde_json::Value,
    pub created_at_ms: u64,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl OutboxItem {
    /// What the receiver dedupes on: the same for every attempt.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.tenant, self.id)
    }
}

/// What a tenant decides about its own data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// Store customer messages with phone, ID and bank card numbers masked.
    /// Plugins still see the text as written (they decide on it); the
    /// stored record, the API's answers and replays see only the mask.
    #[serde(default)]
    pub mask_stored_messages: bool,
    /// Queues a route may name. Empty: any well-formed name. A router that
    /// names another queue is treated as a failed call.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Intents that never become a conversation's topic
    /// (`ConversationState::intent`): small talk and asking for a person,
    /// after which a fact still belongs to the return the customer began
    /// with.
    #[serde(default = "default_not_topics")]
    pub not_topics: Vec<String>,
    /// Each agent's day of the month (1 to 31, UTC) without suggestions, so
    /// they keep their skills: suggestions are still made and compared with
    /// what they write, but not shown to them that day.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub no_assist_days: std::collections::BTreeMap<String, u8>,
    /// The satisfaction survey after a resolution.
    #[serde(default)]
    pub survey: SurveySettings,
    /// Send the customer the service summary when a conversation is resolved.
    #[serde(default)]
    pub send_summary: bool,
    /// Days the event stream's log keeps an event (1 to 3650): a desk
    /// that resumes from an older id gets what is left.
    #[serde(default = "default_event_retention_days")]
    pub event_retention_days: u32,
    /// The customer chat page (`/chat/{tenant}`) and its embeddable snippet.
    #[serde(default)]
    pub web_chat: WebChatSettings,
}

/// Whether customers may write through the built-in chat page, and which
/// sites may embed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebChatSettings {
    /// Off by default: an open chat page lets anyone start conversations.
    #[serde(default)]
    pub enabled: bool,
    /// Origins (`https://shop.example`) whose pages may frame the chat; none:
    /// only this server's own pages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embed_origins: Vec<String>,
}

fn default_event_retention_days() -> u32 {
    30
}

/// When and how the satisfaction survey goes out, and what a low score does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveySettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds after the resolution the channel receives it.
    #[serde(default)]
    pub delay_secs: u64,
    /// Hours an answer is taken after the resolution (1 to 720); then the
    /// conversation closes.
    #[serde(default = "default_survey_window")]
    pub window_hours: u32,
    /// Topics (intents) that get no survey.
    #[serde(default)]
    pub skip_intents: Vec<String>,
    /// A score at or below this opens a follow-up ticket.
    #[serde(default = "default_low_score")]
    pub follow_up_at_or_below: u8,
    /// The department the follow-up ticket goes to.
    #[serde(default = "default_follow_up_department")]
    pub follow_up_department: String,
}

fn default_survey_window() -> u32 {
    24
}

fn default_low_score() -> u8 {
    2
}

fn default_follow_up_department() -> String {
    "supervisors".into()
}

impl Default for SurveySettings {
    fn default() -> Self {
        SurveySettings {
            enabled: true,
            delay_secs: 0,
            window_hours: default_survey_window(),
            skip_intents: vec![],
            follow_up_at_or_below: default_low_score(),
            follow_up_department: default_follow_up_department(),
        }
    }
}

/// The survey of one resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurveyRecord {
    pub sent_at_ms: u64,
    /// Answers are taken until then.
    pub open_until_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at_ms: Option<u64>,
    /// The follow-up ticket a low score opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up_ticket: Option<String>,
}

/// What a resolution leaves: a short account of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    pub facts: Vec<ConversationFact>,
    /// What was done, one line each.
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_status: Option<TicketStatus>,
    pub at_ms: u64,
}

fn default_not_topics() -> Vec<String> {
    [
        "unknown",
        "out_of_scope",
        "greeting",
        "thanks",
        "human_agent",
    ]
    .map(String::from)
    .to_vec()
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            mask_stored_messages: false,
            queues: vec![],
            not_topics: default_not_topics(),
            no_assist_days: Default::default(),
            survey: Default::default(),
            send_summary: false,
            event_retention_days: default_event_retention_days(),
            web_chat: Default::default(),
        }
    }
}

/// One queue's waiting conversations, for the queue monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueueWaiting {
    pub waiting: u32,
    /// When the longest-waiting one began to wait.
    pub longest_since_ms: Option<u64>,
}

/// What deleting a customer's data removed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ForgetReport {
    pub conversations: usize,
    pub messages: usize,
    pub tickets: usize,
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

/// Whose an agent key is (stored under the key's sha256; the key itself
/// is never stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentKey {
    pub tenant: String,
    pub agent: String,
    pub issued_at_ms: u64,
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
    /// The solution. A draft may leave it empty; publishing needs it.
    #[serde(default)]
    pub body: String,
    /// Ready-made replies an agent (or the bot) can send, per language.
    #[serde(default)]
    pub templates: Vec<ReplyTemplate>,
    #[serde(default = "yes")]
    pub published: bool,
    /// Set on drafts that blind-spot mining made: which messages the cluster
    /// came from. Read-only through the API (the host keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mined: Option<MinedFrom>,
    /// Set by the host on every write.
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// Where a stored message is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRef {
    pub conversation_id: String,
    pub message_id: String,
}

/// A reply template: text for one language ("zh", "en"), `{order_id}` filled in by the assistant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyTemplate {
    pub lang: String,
    pub text: String,
}

/// Where a mined draft came from. Messages are kept by id, not copied, so a
/// customer's deletion also removes them from every draft's examples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinedFrom {
    pub messages: Vec<MessageRef>,
    pub mined_at_ms: u64,
    /// The intent the classifier guessed most often in the cluster, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_guess: Option<String>,
    /// How many of the messages escalated.
    pub escalated: u32,
}

fn yes() -> bool {
    true
}

/// Where a conversation is in its life with the team. The rules that move it
/// are in `conversations::status`; the names are the API's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    /// The bot is handling it. (Stored before the human half as "open".)
    #[default]
    #[serde(alias = "open")]
    Bot,
    /// Escalated: waiting in a queue for a person.
    Waiting,
    /// An agent owns it; the bot never answers in it again.
    Assigned,
    /// An agent (or the bot, by hand) finished it; the survey may follow.
    Resolved,
    /// Done for good: after the survey window, or by hand.
    Closed,
    /// The customer wrote again after it was resolved.
    Reopened,
}

impl ConversationStatus {
    pub const ALL: [ConversationStatus; 6] = [
        ConversationStatus::Bot,
        ConversationStatus::Waiting,
        ConversationStatus::Assigned,
        ConversationStatus::Resolved,
        ConversationStatus::Closed,
        ConversationStatus::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Bot => "bot",
            ConversationStatus::Waiting => "waiting",
            ConversationStatus::Assigned => "assigned",
            ConversationStatus::Resolved => "resolved",
            ConversationStatus::Closed => "closed",
            ConversationStatus::Reopened => "reopened",
        }
    }

    pub fn parse(text: &str) -> Option<ConversationStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an agent assigned to it counts it in their load.
    pub fn holds_agent(self) -> bool {
        self == ConversationStatus::Assigned
    }

    /// Finished (resolved or closed): a new customer message reopens it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ConversationStatus::Resolved | ConversationStatus::Closed
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub customer: Customer,
    pub status: ConversationStatus,
    /// Agent the conversation is assigned to; counts toward that agent's
    /// load while the status is `assigned`.
    pub assigned_agent: Option<String>,
    pub queue: Option<String>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    /// Customer messages.
    pub message_count: u32,
    /// The channel of its latest customer message (`web`, `wechat`, ...):
    /// where replies go.
    #[serde(default)]
    pub channel: String,
    /// Priority of the latest route (0 to 9): waiting conversations are
    /// served highest first.
    #[serde(default)]
    pub priority: u8,
    /// Since when it waits for a person (status `waiting`); the oldest is
    /// served first among equal priorities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since_ms: Option<u64>,
    /// When it was last resolved and by whom (an agent id; none: by the
    /// tenant or the bot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// The agent who held it last, kept after they let it go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_agent: Option<String>,
    /// The satisfaction survey of its latest resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveyRecord>,
    /// The service summary of its latest resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<ServiceSummary>,
    /// What the conversation established so far (plugins read it through
    /// `conversation.state`); conversations stored before it read as empty.
    #[serde(default)]
    pub state: ConversationState,
}

impl Conversation {
    /// A conversation stored before statuses other than open and closed
    /// ("open" reads as `bot`) that has an agent is that agent's.
    pub fn normalized(mut self) -> Conversation {
        if self.status == ConversationStatus::Bot && self.assigned_agent.is_some() {
            self.status = ConversationStatus::Assigned;
        }
        self
    }
}

/// A conversation as its list shows it: enough for a desk's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationHead {
    pub id: String,
    pub customer_id: String,
    pub tier: Tier,
    pub status: ConversationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub priority: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since_ms: Option<u64>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
    pub message_count: u32,
    /// The conversation's topic (intent), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
    /// The start of its latest message or reply (not a private note).
    #[serde(default)]
    pub preview: String,
}

impl ConversationHead {
    /// Longest preview, in characters.
    pub const PREVIEW_CHARS: usize = 120;

    pub fn of(c: &Conversation, preview: String) -> ConversationHead {
        ConversationHead {
            id: c.id.clone(),
            customer_id: c.customer.id.clone(),
            tier: c.customer.tier,
            status: c.status,
            queue: c.queue.clone(),
            agent: c.assigned_agent.clone(),
            priority: c.priority,
            waiting_since_ms: c.waiting_since_ms,
            created_at_ms: c.created_at_ms,
            updated_at_ms: c.updated_at_ms,
            message_count: c.message_count,
            intent: c.state.intent.as_ref().map(|i| i.name.clone()),
            preview,
        }
    }

    pub fn preview_of(text: &str) -> String {
        text.chars().take(Self::PREVIEW_CHARS).collect()
    }
}

/// What a conversation has established, carried from message to message:
/// a follow-up ("the order number is ...") builds on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    /// The topic: the intent of the latest message that was understood,
    /// small talk aside (`TenantSettings::not_topics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<IntentResult>,
    /// The ticket this conversation opened or updated last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
    /// Facts of its messages, oldest first, one per (kind, value), at most
    /// [`ConversationState::MAX_FACTS`] (the newest).
    #[serde(default)]
    pub facts: Vec<ConversationFact>,
    /// Who holds it.
    #[serde(default)]
    pub holder: Holder,
    /// "zh" or "en": the language of its latest message written in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl ConversationState {
    pub const MAX_FACTS: usize = 32;

    /// Take in what one message decided: its intent when understood and a
    /// topic (not one of the tenant's `not_topics`), its entities as facts,
    /// its language when it has words, the ticket it touched. Who holds the
    /// conversation is set after the commit decides the assignment.
    pub fn absorb(
        &mut self,
        message_id: &str,
        text: &str,
        decision: &Decision,
        not_topics: &[String],
    ) {
        if decision.intent.name != "unknown"
            && decision.intent.confidence > 0.0
            && !not_topics.contains(&decision.intent.name)
        {
            self.intent = Some(decision.intent.clone());
        }
        for entity in &decision.entities {
            self.facts
                .retain(|f| !(f.kind == entity.kind && f.value == entity.value));
            self.facts.push(ConversationFact {
                kind: entity.kind.clone(),
                value: entity.value.clone(),
                message_id: message_id.to_string(),
            });
        }
        let over = self.facts.len().saturating_sub(Self::MAX_FACTS);
        self.facts.drain(..over);
        if let Some(lang) = switchyard_sdk::Lang::of_words(text) {
            self.language = Some(lang.code().to_string());
        }
        if let Some(ticket) = &decision.ticket {
            self.ticket_id = Some(ticket.id.clone());
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationFact {
    pub kind: String,
    pub value: String,
    pub message_id: String,
}

/// Who holds a conversation: the bot, a queue of people (waiting), or an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "name", rename_all = "lowercase")]
pub enum Holder {
    #[default]
    Bot,
    Queue(String),
    Agent(String),
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
    /// The agent who held the conversation it was last opened or updated
    /// from (none: the bot or a queue); a repeat contact goes back to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The conversation it was last opened or updated from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_conversation_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntentResult {
    pub name: String,
    pub confidence: f32,
}

/// Where in the message's text a span lies, three ways: `start`/`end` are
/// UTF-8 byte offsets (what Rust, Go and the WIT contract use); `char_*`
/// count Unicode code points (Python, Rust `chars()`); `utf16_*` count
/// UTF-16 code units (JavaScript, Java, C#: `text.slice(utf16_start,
/// utf16_end)`). Records stored before they existed read as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextOffsets {
    #[serde(default)]
    pub char_start: u32,
    #[serde(default)]
    pub char_end: u32,
    #[serde(default)]
    pub utf16_start: u32,
    #[serde(default)]
    pub utf16_end: u32,
}

impl TextOffsets {
    /// The offsets of bytes `start..end` of `text`; a span that is out of
    /// range or not on char boundaries is clamped to the nearest boundary
    /// before it.
    pub fn of(text: &str, start: u32, end: u32) -> TextOffsets {
        let boundary = |at: u32| {
            let mut at = (at as usize).min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        };
        let (start, end) = (boundary(start), boundary(end));
        let count = |upto: usize| {
            let prefix = &text[..upto];
            (
                prefix.chars().count() as u32,
                prefix.chars().map(char::len_utf16).sum::<usize>() as u32,
            )
        };
        let (char_start, utf16_start) = count(start);
        let (char_end, utf16_end) = count(end.max(start));
        TextOffsets {
            char_start,
            char_end,
            utf16_start,
            utf16_end,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntityResult {
    pub kind: String,
    pub value: String,
    pub start: u32,
    pub end: u32,
    #[serde(flatten)]
    pub offsets: TextOffsets,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FindingResult {
    pub kind: String,
    pub code: String,
    pub severity: String,
    pub detail: String,
    pub start: u32,
    pub end: u32,
    #[serde(flatten)]
    pub offsets: TextOffsets,
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

/// Where a route sends a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteTarget {
    Bot,
    Queue,
    Agent,
}

impl RouteTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteTarget::Bot => "bot",
            RouteTarget::Queue => "queue",
            RouteTarget::Agent => "agent",
        }
    }
}

impl std::fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteResult {
    pub to: RouteTarget,
    pub queue: Option<String>,
    pub agent: Option<String>,
    pub priority: u8,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SuggestionResult {
    /// `<message id>.<n>`: what an agent's reply or dismissal names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// "reply", "article", "compliance" or "warning".
    pub kind: String,
    pub title: String,
    pub text: String,
    pub score: f32,
    pub article_id: Option<String>,
    /// The plugin (`name@version`) and slot version that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<u64>,
}

/// What an agent did with a suggestion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Sent as it was.
    Accepted,
    /// Sent changed (`edit_distance` says how much).
    Edited,
    /// Set aside.
    Dismissed,
}

/// One agent's outcome for one suggestion, with what made the suggestion,
/// for adoption by agent, kind, article or script, and plugin version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuggestionOutcome {
    pub suggestion_id: String,
    pub conversation_id: String,
    /// The customer message whose decision made it.
    pub message_id: String,
    pub agent: String,
    pub outcome: Outcome,
    pub kind: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<u64>,
    /// Characters changed between the suggestion and what was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_distance: Option<u32>,
    /// The reply that used it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_id: Option<String>,
    /// False on the agent's no-assist day: computed and compared, not shown.
    pub shown: bool,
    pub at_ms: u64,
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
    /// The slot version (see the lifecycle API) that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<u64>,
    /// sha256 of the config it ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// "active", "canary" or "shadow"; absent for slot defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// "ok", "default", "trap", "timeout", "out-of-fuel", "out-of-memory",
    /// "invalid-output", "init-failed".
    pub outcome: String,
    pub micros: u64,
    /// Instructions (wasmtime fuel units) the call used, to size `fuel` limits.
    #[serde(default)]
    pub fuel: u64,
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
    /// What the shadow versions would have decided, when the tenant has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowDecision>,
}

impl Decision {
    /// The record of a customer reply that answered the satisfaction
    /// survey: no plugin decided it.
    pub fn survey_answer(score: u8) -> Decision {
        Decision {
            intent: IntentResult {
                name: "survey_answer".into(),
                confidence: 1.0,
            },
            alternatives: vec![],
            entities: vec![],
            findings: vec![],
            masked_text: None,
            escalation: EscalationResult {
                escalate: false,
                reasons: vec![],
            },
            route: RouteResult {
                to: RouteTarget::Bot,
                queue: None,
                agent: None,
                priority: 0,
                reason: format!("answered the satisfaction survey: {score} of 5"),
            },
            reply: None,
            suggestions: vec![],
            ticket: None,
            trace: vec![],
            shadow: None,
        }
    }
}

/// The decision the pipeline would have made with every shadow version in
/// place of its lane's active version. Recorded, never acted on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShadowDecision {
    pub intent: IntentResult,
    pub escalation: EscalationResult,
    pub route: RouteResult,
    pub trace: Vec<TraceEntry>,
    pub intent_differs: bool,
    pub escalation_differs: bool,
    pub route_differs: bool,
}

/// How a shadow version compares with what decided, over the messages it saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ShadowStats {
    pub messages: u64,
    pub intent_differs: u64,
    pub escalation_differs: u64,
    pub route_differs: u64,
    /// Shadow calls that failed (trap, timeout, ...).
    pub failures: u64,
    /// The most recent messages where something differed (at most 20).
    pub examples: Vec<ShadowExample>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShadowExample {
    pub message_id: String,
    pub conversation_id: String,
    /// The message with personal data masked.
    pub text: String,
    pub active: ShadowSide,
    pub shadow: ShadowSide,
}

/// The parts of a decision a shadow comparison looks at.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShadowSide {
    pub intent: String,
    pub escalate: bool,
    pub route: String,
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
    /// An agent's judgement that the intent was wrong, and the right one:
    /// what "AI accuracy as agents judge it" counts. The decision is kept
    /// as it was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correction: Option<IntentCorrection>,
}

/// An agent's correction of a message's intent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntentCorrection {
    pub intent: String,
    /// The intent the classifier gave.
    pub was: String,
    /// The agent's id, or `admin` for the tenant's key.
    pub by: String,
    pub at_ms: u64,
}

/// Who wrote an entry of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    Customer,
    Bot,
    /// With the agent's id in [`Post::agent_id`].
    Agent,
    /// The host: a claim, a transfer, a resolution, a survey.
    System,
}

/// An entry of a conversation that is not a customer message: a bot or
/// agent reply, an agent's private note, or what the system did. Stored
/// beside the customer messages under the same kind of key (conversation,
/// then arrival), so the conversation reads in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Post {
    pub id: String,
    pub conversation_id: String,
    pub author: Author,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    pub text: String,
    /// A note for the team: never sent to the customer.
    #[serde(default)]
    pub private: bool,
    pub at_ms: u64,
    /// For a system entry: what happened (`claimed`, `transferred`,
    /// `resolved`, `reopened`, `returned`, `survey`), for a desk to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The customer message a bot reply answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// For a system entry, what a replay needs to do it again (a
    /// transfer's target: `{"queue": ..}` or `{"agent": ..}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Post {
    pub fn new(
        id: String,
        conversation_id: &str,
        (author, agent_id): (Author, Option<String>),
        text: String,
        at_ms: u64,
    ) -> Post {
        Post {
            id,
            conversation_id: conversation_id.to_string(),
            author,
            agent_id,
            text,
            private: false,
            at_ms,
            action: None,
            in_reply_to: None,
            detail: None,
        }
    }

    /// A note for the team only.
    pub fn private(mut self) -> Post {
        self.private = true;
        self
    }

    /// A system entry saying what happened.
    pub fn action(mut self, action: &str) -> Post {
        self.action = Some(action.to_string());
        self
    }

    /// What a replay needs to do the action again.
    pub fn detail(mut self, detail: serde_json::Value) -> Post {
        self.detail = Some(detail);
        self
    }
}

/// One entry of a conversation as the API lists it: a customer message with
/// its decision, or a post.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Entry {
    Customer {
        author: Author,
        #[serde(flatten)]
        message: Box<MessageRecord>,
    },
    Post(Post),
}

impl Entry {
    pub fn customer(message: MessageRecord) -> Entry {
        Entry::Customer {
            author: Author::Customer,
            message: Box::new(message),
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Entry::Customer { message, .. } => &message.id,
            Entry::Post(post) => &post.id,
        }
    }
}

/// What an event in a tenant's stream is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A customer message (with its decision), a reply, a note or a system entry.
    #[serde(rename = "message.created")]
    MessageCreated,
    /// The conversation's status changed (`status`).
    #[serde(rename = "conversation.status")]
    ConversationStatus,
    /// An agent took the conversation (claim, routing, or assignment when
    /// capacity freed).
    #[serde(rename = "conversation.assigned")]
    Assigned,
    /// An agent handed it to a queue or to another agent.
    #[serde(rename = "conversation.transferred")]
    Transferred,
    /// An agent used or dismissed a suggestion.
    #[serde(rename = "suggestion.outcome")]
    SuggestionOutcome,
    /// The customer answered the satisfaction survey.
    #[serde(rename = "survey.answered")]
    SurveyAnswered,
    /// An agent went online, away or offline.
    #[serde(rename = "agent.status")]
    AgentStatus,
    /// An agent corrected a customer message's intent (`detail`: `from`, `to`, `by`).
    #[serde(rename = "message.corrected")]
    MessageCorrected,
    /// A ticket's status changed (`detail`: `ticket`, `department`, `from`,
    /// `to`, `created_at_ms`).
    #[serde(rename = "ticket.status")]
    TicketStatus,
}

/// One event of a tenant's stream. Ids grow in the order changes were
/// committed, so a subscriber that resumes after an id misses nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: u64,
    pub at_ms: u64,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The entry it is about (a message or post id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The conversation's queue after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// The agent concerned: who holds it after the change, who acted, or
    /// whose status changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ConversationStatus>,
    /// The rest, by kind: the previous holder of a transfer, a score, an
    /// agent status, a suggestion's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Event {
    /// An event about `conversation` as it is after the change.
    pub fn about(kind: EventKind, conversation: &Conversation, at_ms: u64) -> Event {
        Event {
            id: 0,
            at_ms,
            kind,
            conversation_id: Some(conversation.id.clone()),
            message_id: None,
            queue: conversation.queue.clone(),
            agent: conversation.assigned_agent.clone(),
            status: Some(conversation.status),
            detail: None,
        }
    }

    pub fn with_message(mut self, id: &str) -> Event {
        self.message_id = Some(id.to_string());
        self
    }

    /// For a change that took the conversation from `agent`: the event
    /// still concerns them (their desk, filtering by agent, must see it).
    pub fn or_agent(mut self, agent: Option<&String>) -> Event {
        if self.agent.is_none() {
            self.agent = agent.cloned();
        }
        self
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Event {
        self.detail = Some(detail);
        self
    }
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

/// A plugin version with its configuration, as an operator names it for a slot.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub sha256: String,
    #[serde(default)]
    pub config: String,
}

/// Where a plugin version is in its rollout on one tenant's slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    /// Validated and ready; runs on no traffic.
    Staged,
    /// Runs on every message beside the active version; recorded, never acted on.
    Shadow,
    /// Decides for `percent` of conversations (sticky per conversation).
    Canary,
    /// Decides for every conversation not in a canary.
    Active,
    /// Out of service (replaced, rolled back, or tripped its breaker).
    Retired,
}

/// One plugin version with its config on a tenant's slot. Versions of one
/// `lane` are alternatives for one place in the slot; lanes run one after the
/// other, in `SlotRollout::lanes` order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SlotVersion {
    /// Unique within the tenant; what lifecycle commands name.
    pub id: u64,
    /// The place in the slot this version competes for (by default its
    /// plugin's name): a new classifier named differently can still replace
    /// the "classifier" lane.
    pub lane: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// Empty as stored and as the API shows it: the config lives once under
    /// its sha256 (`GET /v1/tenants/{id}/configs/{sha256}`); set only on a
    /// version on its way to the store.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub config: String,
    /// sha256 of `config`: with `sha256`, exactly what decided.
    pub config_sha256: String,
    pub state: RolloutState,
    /// Share of conversations, 1 to 99, while `state` is canary.
    #[serde(default)]
    pub percent: u8,
    /// Plugin limits for this version, over the tenant's.
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    pub limits: LimitOverrides,
    pub staged_at_ms: u64,
    pub changed_at_ms: u64,
}

/// A tenant's versions on one slot and how the active set changed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SlotRollout {
    /// Lane names in call order. A lane joins at the end when its first
    /// version is staged; binding a set of plugins puts them first, in order.
    #[serde(default)]
    pub lanes: Vec<String>,
    pub versions: Vec<SlotVersion>,
    /// Ids of the active versions before each activation or rollback, newest
    /// last; `rollback` restores the last entry.
    #[serde(default)]
    pub history: Vec<Vec<u64>>,
}

impl SlotRollout {
    /// Add a version, appending its lane if the slot has none of that name.
    pub fn add(&mut self, version: SlotVersion) {
        if !self.lanes.contains(&version.lane) {
            self.lanes.push(version.lane.clone());
        }
        self.versions.push(version);
    }

    pub fn version(&self, id: u64) -> Option<&SlotVersion> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub fn active_ids(&self) -> Vec<u64> {
        self.versions
            .iter()
            .filter(|v| v.state == RolloutState::Active)
            .map(|v| v.id)
            .collect()
    }
}

/// A tenant's rollouts, slot by slot.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Bindings {
    pub slots: std::collections::BTreeMap<Slot, SlotRollout>,
}

/// Who changed a tenant's plugins.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Actor {
    /// "operator", or "breaker" for automatic rollbacks.
    pub kind: String,
    /// First 12 hex digits of the sha256 of the key used, when a key was used.
    pub key: Option<String>,
}

/// A version as the audit log names it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VersionRef {
    pub id: u64,
    pub name: String,
    pub version: String,
    pub sha256: String,
}

impl From<&SlotVersion> for VersionRef {
    fn from(v: &SlotVersion) -> Self {
        VersionRef {
            id: v.id,
            name: v.name.clone(),
            version: v.version.clone(),
            sha256: v.sha256.clone(),
        }
    }
}

/// One lifecycle change: who, when, what, from which versions to which, why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: u64,
    pub at_ms: u64,
    pub tenant: String,
    /// The slot changed; absent for tenant-wide changes (limits, key, settings).
    pub slot: Option<Slot>,
    /// "stage", "shadow", "canary", "activate", "rollback", "retire", "bind",
    /// "breaker", "limits", "rotate-key", "settings", "forget-customer".
    pub action: String,
    pub actor: Actor,
    /// Versions that decided before the change (active, and canary where one ran).
    pub from: Vec<VersionRef>,
    /// Versions that decide after it.
    pub to: Vec<VersionRef>,
    pub reason: String,
}

/// A text as a URL path segment or query value: every byte but
/// unreserved ASCII percent-encoded.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::TextOffsets;

    /// Issue 15, item 11: offsets were UTF-8 bytes only, which a JavaScript,
    /// Java or Python client cannot slice its string with.
    #[test]
    fn offsets_are_given_in_bytes_code_points_and_utf16_units() {
        let text = "我要退款，订单号 2024113012345";
        let at = text.find("2024").unwrap() as u32;
        let o = TextOffsets::of(text, at, at + 13);
        assert_eq!((at, o.char_start, o.char_end), (25, 9, 22));
        assert_eq!((o.utf16_start, o.utf16_end), (9, 22));
        let chars: Vec<char> = text.chars().collect();
        let sliced: String = chars[o.char_start as usize..o.char_end as usize]
            .iter()
            .collect();
        assert_eq!(sliced, "2024113012345");
        // Outside the BMP a character is two UTF-16 units.
        let text = "😀 call 13812345678";
        let at = text.find("138").unwrap() as u32;
        let o = TextOffsets::of(text, at, at + 11);
        assert_eq!((o.char_start, o.utf16_start, o.utf16_end), (7, 8, 19));
        // Out of range or inside a character: clamped, never a panic.
        let o = TextOffsets::of("我", 1, 99);
        assert_eq!((o.char_start, o.char_end), (0, 1));
    }
}
