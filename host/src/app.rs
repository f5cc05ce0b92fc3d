//! The Switchyard service: tenants and their keys, plugin uploads and
//! bindings, knowledge and agents, and the handling of one customer message
//! from validation to the durable decision record. The HTTP API and the CLI
//! are thin layers over this type.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use std::time::Instant;

use crate::knowledge::KnowledgeIndex;
use crate::metrics::{Metrics, Stage};
use crate::model::*;
use crate::pipeline::{Inbound, Pipeline};
use crate::runtime::{Limits, Runtime, sha256_hex};
use crate::storage::{Storage, StorageError, TicketChange};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// A tenant's quota (`quotas.rs`) would be exceeded; nothing was written.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The caller may not do this (with the key it used).
    #[error("{0}")]
    Forbidden(String),
    /// The request is not what it claims to be (a bad signature).
    #[error("{0}")]
    Unauthorized(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Longest customer message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;
/// Longest plugin configuration accepted, in bytes: a CLINC150 intent model
/// (four members, 34,000 features) is 12.6 MB.
pub const MAX_CONFIG_BYTES: usize = 16 << 20;

/// A customer message as a channel hands it in.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub text: String,
    pub channel: String,
    pub customer: Customer,
}

/// What an inbound request carried to prove it came from the tenant's
/// channel: its signature headers and the body as received.
pub struct InboundProof {
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: axum::body::Bytes,
}

/// Ids in paths and bodies: letters, digits, `-`, `_`, `.`, `:`; 1 to 128 bytes;
/// never `.` or `..`. Keeps ids printable and free of path tricks.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} {id:?} is not a valid id (1-128 of letters, digits, '-', '_', '.', ':')"
        )))
    }
}

/// Most reply templates one article carries.
const MAX_TEMPLATES: usize = 20;

/// What every stored article must satisfy; a published one also needs its solution.
fn check_article(article: &Article) -> Result<()> {
    check_id("article id", &article.id)?;
    if article.title.trim().is_empty() {
        return Err(Error::Invalid("an article needs a title".into()));
    }
    if article.published && article.body.trim().is_empty() {
        return Err(Error::Invalid(format!(
            "article {:?} has no body: write the solution before publishing it",
            article.id
        )));
    }
    if article.templates.len() > MAX_TEMPLATES {
        return Err(Error::Invalid(format!(
            "an article carries at most {MAX_TEMPLATES} reply templates"
        )));
    }
    for t in &article.templates {
        let lang_ok = !t.lang.is_empty()
            && t.lang.len() <= 8
            && t.lang.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-');
        if !lang_ok {
            return Err(Error::Invalid(format!(
                "reply template language {:?} is not a language code such as \"zh\" or \"en\"",
                t.lang
            )));
        }
        if t.text.trim().is_empty() {
            return Err(Error::Invalid(format!(
                "the {:?} reply template is empty",
                t.lang
            )));
        }
    }
    Ok(())
}

/// What every customer message must be before anything else happens.
fn check_new_message(conversation_id: &str, message: &NewMessage) -> Result<()> {
    check_id("conversation id", conversation_id)?;
    check_id("customer id", &message.customer.id)?;
    if message.text.trim().is_empty() {
        return Err(Error::Invalid("text must not be empty".into()));
    }
    if message.text.len() > MAX_MESSAGE_BYTES {
        return Err(Error::Invalid(format!(
            "text is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
            message.text.len()
        )));
    }
    if message.channel.is_empty() || message.channel.len() > 32 {
        return Err(Error::Invalid("channel must be 1 to 32 characters".into()));
    }
    check_tags(&message.customer.tags)
}

/// An inbound request of a tenant that signs its channel's messages must
/// carry a right signature (in-process callers pass no proof).
fn check_proof(tenant: &Tenant, proof: Option<&InboundProof>, now: u64) -> Result<()> {
    let secret = tenant
        .channel
        .as_ref()
        .and_then(|c| c.inbound_secret.as_deref());
    match (proof, secret) {
        (Some(proof), Some(secret)) => crate::conversations::outbox::verify(
            secret,
            proof.timestamp.as_deref(),
            proof.signature.as_deref(),
            &proof.body,
            now / 1000,
        )
        .map_err(Error::Unauthorized),
        _ => Ok(()),
    }
}

/// A customer's tags: at most [`MAX_CUSTOMER_TAGS`], each 1 to
/// [`MAX_TAG_BYTES`] bytes. They are stored with the conversation and handed
/// to every plugin, so they are bounded like the text.
fn check_tags(tags: &[String]) -> Result<()> {
    use crate::quotas::{MAX_CUSTOMER_TAGS, MAX_TAG_BYTES};
    if tags.len() > MAX_CUSTOMER_TAGS {
        return Err(Error::Invalid(format!(
            "a customer has {} tags; at most {MAX_CUSTOMER_TAGS} are accepted",
            tags.len()
        )));
    }
    if let Some(bad) = tags
        .iter()
        .find(|t| t.trim().is_empty() || t.len() > MAX_TAG_BYTES)
    {
        return Err(Error::Invalid(format!(
            "customer tag {:?} must be 1 to {MAX_TAG_BYTES} bytes",
            crate::pii::mask(&bad.chars().take(80).collect::<String>())
        )));
    }
    Ok(())
}

pub fn hash_key(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

/// A new random API key.
/// Shortest key `serve` accepts from a flag, the environment or a file: a
/// short one is guessable.
pub const MIN_KEY_CHARS: usize = 16;

/// Write `key` to `file`, readable by its owner only (0600), replacing it in
/// one rename so a reader never sees half a key.
pub fn write_key_file(file: &std::path::Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    let partial = file.with_extension("key.partial");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&partial)?;
    writeln!(f, "{key}")?;
    f.sync_all()?;
    std::fs::rename(&partial, file)
}

pub fn new_key(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("{prefix}_{}", hex::encode(bytes))
}

pub struct Switchyard {
    pub storage: Storage,
    pub runtime: Arc<Runtime>,
    pub limits: Limits,
    /// What one tenant may store (`quotas.rs`); set before serving.
    pub quotas: crate::quotas::Quotas,
    /// Where `serve` keeps the example tenants' key files (`DATA/<tenant>.key`);
    /// a rotation rewrites the tenant's file when there is one, so the file
    /// never goes stale (`None`: no key files, as in the tests).
    pub key_files: Option<std::path::PathBuf>,
    pub metrics: Metrics,
    /// One atomically swappable pipeline per tenant.
    pipelines: RwLock<HashMap<String, Arc<ArcSwap<Pipeline>>>>,
    pub(crate) knowledge: crate::knowledge_cache::KnowledgeCache,
    pub(crate) conversation_locks: crate::serial::ConversationLocks,
    /// Lifecycle changes read, modify and write a tenant's rollouts: one at a time.
    pub(crate) binding_lock: Mutex<()>,
    pub(crate) lifecycle: crate::lifecycle::LifecycleState,
    /// Tenant creation and key changes check, then write: one at a time.
    tenant_lock: Mutex<()>,
    /// Article changes that read first (publishing, editing a mined draft,
    /// mining itself): one at a time per tenant, so none undoes another;
    /// other tenants' never wait for them.
    pub(crate) article_locks: crate::serial::NamedLocks,
    /// Which tenant each key acts for, so authentication needs no storage
    /// call on an async worker.
    keys: RwLock<KeyCache>,
    /// Set and notified when deliveries were queued (`conversations::outbox`).
    pub(crate) outbox_signal: Arc<(Mutex<bool>, std::sync::Condvar)>,
    /// The store's secret for customer digests (`customer_key`), read or
    /// made on first use.
    customer_secret: std::sync::OnceLock<[u8; 32]>,
    /// Held while the secret is read or made, so two first messages make
    /// one secret.
    customer_secret_init: Mutex<()>,
}

/// Keys seen valid, by hash. Filled on a miss (on a blocking thread) and
/// emptied whenever a tenant's keys change; a lookup that began before a
/// change does not fill the cache after it (the generation moved on), so a
/// rotated key never comes back from the cache.
#[derive(Default)]
struct KeyCache {
    generation: u64,
    keys: HashMap<String, KnownKey>,
}

struct KnownKey {
    tenant: String,
    /// Set for an agent's key: it acts as that agent only.
    agent: Option<String>,
    /// A replaced key works until then (ms since the epoch); `None`: current.
    expires_ms: Option<u64>,
}

/// Whom a valid key acts for: a tenant (its admin key), or one of its agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOwner {
    pub tenant: String,
    pub agent: Option<String>,
}

impl KnownKey {
    fn owner(&self) -> KeyOwner {
        KeyOwner {
            tenant: self.tenant.clone(),
            agent: self.agent.clone(),
        }
    }
}

impl Switchyard {
    pub fn new(storage: Storage, runtime: Arc<Runtime>, limits: Limits) -> Switchyard {
        Switchyard {
            storage,
            runtime,
            limits,
            quotas: Default::default(),
            key_files: None,
            metrics: Metrics::default(),
            pipelines: RwLock::new(HashMap::new()),
            knowledge: Default::default(),
            conversation_locks: Default::default(),
            binding_lock: Mutex::new(()),
            lifecycle: crate::lifecycle::LifecycleState::default(),
            tenant_lock: Mutex::new(()),
            article_locks: Default::default(),
            keys: RwLock::new(KeyCache::default()),
            outbox_signal: Default::default(),
            customer_secret: std::sync::OnceLock::new(),
            customer_secret_init: Mutex::new(()),
        }
    }

    /// How the event log and the numbers name a customer of a tenant
    /// ([`crate::kpi::customer_key`], under the store's secret).
    pub(crate) fn customer_key(&self, tenant: &str, customer: &str) -> Result<String> {
        const SECRET_META: &str = "kpi.customer_secret";
        let secret = match self.customer_secret.get() {
            Some(secret) => *secret,
            None => {
                let _one = self
                    .customer_secret_init
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                match self.customer_secret.get() {
                    Some(secret) => *secret,
                    None => {
                        let mut secret = [0u8; 32];
                        match self.storage.meta(SECRET_META)? {
                            Some(hex_secret) => {
                                hex::decode_to_slice(hex_secret.trim(), &mut secret).map_err(
                                    |e| Error::Internal(format!("{SECRET_META} is damaged: {e}")),
                                )?
                            }
                            None => {
                                getrandom::fill(&mut secret).map_err(|e| {
                                    Error::Internal(format!("no randomness for {SECRET_META}: {e}"))
                                })?;
                                self.storage.put_meta(SECRET_META, &hex::encode(secret))?;
                                self.storage.flush_blocking()?;
                            }
                        }
                        let _ = self.customer_secret.set(secret);
                        secret
                    }
                }
            }
        };
        Ok(crate::kpi::customer_key(&secret, tenant, customer))
    }

    /// Whom a key acts for if the cache knows the key: `Some(None)` when it
    /// knows the key expired. `None`: ask [`Switchyard::tenant_for_key_hash`].
    pub fn cached_tenant_for_key(&self, hash: &str) -> Option<Option<KeyOwner>> {
        let cache = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let known = cache.keys.get(hash)?;
        let valid = known.expires_ms.is_none_or(|end| now_ms() < end);
        Some(valid.then(|| known.owner()))
    }

    /// Forget every cached key; call after a tenant's keys changed in storage.
    fn keys_changed(&self) {
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        cache.generation += 1;
        cache.keys.clear();
    }

    // --- tenants and keys ---

    /// Create a tenant; returns it with its API key (given, or generated).
    pub fn create_tenant(
        &self,
        id: &str,
        name: &str,
        key: Option<&str>,
    ) -> Result<(Tenant, String)> {
        check_id("tenant id", id)?;
        let _one_at_a_time = self.tenant_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.storage.tenant(id)?.is_some() {
            return Err(Error::Conflict(format!("tenant {id:?} already exists")));
        }
        let key = key.map(str::to_string).unwrap_or_else(|| new_key("sy"));
        self.check_key_free(&key)?;
        let tenant = Tenant {
            id: id.into(),
            name: name.into(),
            key_hash: hash_key(&key),
            created_at_ms: now_ms(),
            key_rotated_at_ms: 0,
            previous_key_hash: None,
            previous_key_expires_ms: 0,
            limits: Default::default(),
            settings: Default::default(),
            channel: None,
        };
        self.storage.put_tenant(&tenant)?;
        self.keys_changed();
        Ok((tenant, key))
    }

    /// Make `key` the tenant's API key if it is not already; the old one
    /// (and any still in its grace period) stops working at once. Audited as
    /// a rotation by `actor`.
    pub fn set_tenant_key(&self, id: &str, key: &str, actor: &crate::model::Actor) -> Result<()> {
        if self.tenant(id)?.key_hash == hash_key(key) {
            return Ok(());
        }
        self.rotate_key(id, Some(key), std::time::Duration::ZERO, actor, None)
            .map(|_| ())
    }

    fn check_key_free(&self, key: &str) -> Result<()> {
        if key.len() < 8 {
            return Err(Error::Invalid(
                "an API key needs at least 8 characters".into(),
            ));
        }
        let hash = hash_key(key);
        if self.storage.tenant_by_key_hash(&hash)?.is_some()
            || self.storage.agent_by_key_hash(&hash)?.is_some()
        {
            return Err(Error::Conflict("that API key is already in use".into()));
        }
        Ok(())
    }

    pub fn tenant(&self, id: &str) -> Result<Tenant> {
        self.storage
            .tenant(id)?
            .ok_or_else(|| Error::NotFound(format!("tenant {id:?} does not exist")))
    }

    /// The tenant a key (given by its [`hash_key`]) acts for: its current
    /// key, or the one it replaced while that one's grace period lasts.
    /// Reads storage: call it on a blocking thread. Remembers the answer for
    /// [`Switchyard::cached_tenant_for_key`].
    pub fn tenant_for_key_hash(&self, hash: &str) -> Result<Option<KeyOwner>> {
        let generation = self
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation;
        let Some(id) = self.storage.tenant_by_key_hash(hash)? else {
            let Some(agent_key) = self.storage.agent_by_key_hash(hash)? else {
                return Ok(None);
            };
            let known = KnownKey {
                tenant: agent_key.tenant,
                agent: Some(agent_key.agent),
                expires_ms: None,
            };
            let owner = known.owner();
            let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
            if cache.generation == generation {
                cache.keys.insert(hash.to_string(), known);
            }
            return Ok(Some(owner));
        };
        let Some(tenant) = self.storage.tenant(&id)? else {
            return Ok(None);
        };
        let known = if tenant.key_hash == hash {
            KnownKey {
                tenant: id,
                agent: None,
                expires_ms: None,
            }
        } else if tenant.previous_key_hash.as_deref() == Some(hash) {
            KnownKey {
                tenant: id,
                agent: None,
                expires_ms: Some(tenant.previous_key_expires_ms),
            }
        } else {
            return Ok(None);
        };
        let valid = known.expires_ms.is_none_or(|end| now_ms() < end);
        let answer = valid.then(|| known.owner());
        let mut cache = self.keys.write().unwrap_or_else(|p| p.into_inner());
        if cache.generation == generation {
            cache.keys.insert(hash.to_string(), known);
        }
        Ok(answer)
    }

    /// Replace a tenant's API key with `new_key` (or a generated one) and
    /// return it. The old key keeps working for `grace` (zero: stops at once),
    /// so clients can switch without downtime; a key replaced earlier stops
    /// now either way.
    pub fn rotate_key(
        &self,
        id: &str,
        chosen: Option<&str>,
        grace: std::time::Duration,
        actor: &crate::model::Actor,
        used_key_hash: Option<&str>,
    ) -> Result<String> {
        const MAX_GRACE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
        if grace > MAX_GRACE {
            return Err(Error::Invalid(
                "the grace period is at most 7 days (604800 s)".into(),
            ));
        }
        let _one_at_a_time = self.tenant_lock.lock().unwrap_or_else(|p| p.into_inner());
        let tenant = self.tenant(id)?;
        // Checked under the lock: a rotation racing this one changes the key.
        if let Some(used) = used_key_hash
            && used != tenant.key_hash
        {
            return Err(Error::Forbidden(
                "this key is in its grace period after a rotation: it may read, not rotate; use the current key".into(),
            ));
        }
        let key = chosen.map(str::to_string).unwrap_or_else(|| new_key("sy"));
        self.check_key_free(&key)?;
        let now = now_ms();
        let key_hash = hash_key(&key);
        let event = self.tenant_event(
            id,
            "rotate-key",
            actor,
            format!(
                "new key {}…; the old one works for {} s more",
                &key_hash[..12],
                grace.as_secs()
            ),
        )?;
        // Only the key fields change: a concurrent limits change stays.
        self.storage.update_tenant(
            id,
            |tenant| {
                tenant.previous_key_hash = (!grace.is_zero()).then(|| tenant.key_hash.clone());
                tenant.previous_key_expires_ms = now + grace.as_millis() as u64;
                tenant.key_hash = key_hash.clone();
                tenant.key_rotated_at_ms = now;
            },
            &event,
        )?;
        self.keys_changed();
        self.storage.flush_blocking()?;
        if let Some(dir) = &self.key_files {
            let file = dir.join(format!("{id}.key"));
            if file.exists() {
                // The rotation stands either way; a stale file is reported.
                if let Err(e) = write_key_file(&file, &key) {
                    tracing::error!(tenant = id, "key file {} not updated: {e}", file.display());
                }
            }
        }
        Ok(key)
    }

    /// Issue an agent their own key (given, or generated), replacing the one
    /// they had. It acts only as that agent, only within the tenant.
    pub fn issue_agent_key(
        &self,
        tenant: &str,
        agent: &str,
        chosen: Option<&str>,
    ) -> Result<String> {
        check_id("agent id", agent)?;
        let _one_at_a_time = self.tenant_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.storage.agent(tenant, agent)?.is_none() {
            return Err(Error::NotFound(format!("agent {agent:?} does not exist")));
        }
        let key = chosen.map(str::to_string).unwrap_or_else(|| new_key("sya"));
        self.check_key_free(&key)?;
        self.storage.set_agent_key(tenant, agent, &hash_key(&key))?;
        self.keys_changed();
        self.storage.flush_blocking()?;
        Ok(key)
    }

    pub fn settings(&self, id: &str) -> Result<TenantSettings> {
        Ok(self.tenant(id)?.settings)
    }

    pub fn set_settings(
        &self,
        id: &str,
        settings: TenantSettings,
        actor: &crate::model::Actor,
    ) -> Result<TenantSettings> {
        for queue in &settings.queues {
            check_id("queue", queue)?;
        }
        if settings.queues.len() > 1_000 {
            return Err(Error::Invalid("at most 1000 queues".into()));
        }
        if settings.not_topics.len() > 100 {
            return Err(Error::Invalid("at most 100 not_topics".into()));
        }
        for intent in &settings.not_topics {
            check_id("intent in not_topics", intent)?;
        }
        if settings.no_assist_days.len() > crate::quotas::MAX_NO_ASSIST_DAYS {
            return Err(Error::Invalid(format!(
                "at most {} no_assist_days",
                crate::quotas::MAX_NO_ASSIST_DAYS
            )));
        }
        if !(1..=3650).contains(&settings.event_retention_days) {
            return Err(Error::Invalid(format!(
                "event_retention_days is {}; 1 to 3650",
                settings.event_retention_days
            )));
        }
        if settings.web_chat.embed_origins.len() > 20 {
            return Err(Error::Invalid("at most 20 web_chat.embed_origins".into()));
        }
        for origin in &settings.web_chat.embed_origins {
            crate::web::check_origin(origin).map_err(Error::Invalid)?;
        }
        let survey = &settings.survey;
        if !(1..=720).contains(&survey.window_hours) {
            return Err(Error::Invalid(format!(
                "survey.window_hours is {}; 1 to 720",
                survey.window_hours
            )));
        }
        if survey.delay_secs > u64::from(survey.window_hours) * 3600 {
            return Err(Error::Invalid(
                "survey.delay_secs must fall inside the survey window".into(),
            ));
        }
        if survey.follow_up_at_or_below > 5 {
            return Err(Error::Invalid(
                "survey.follow_up_at_or_below is a score, 0 (never) to 5".into(),
            ));
        }
        if survey.skip_intents.len() > 100 {
            return Err(Error::Invalid("at most 100 survey.skip_intents".into()));
        }
        for intent in &survey.skip_intents {
            check_id("intent in survey.skip_intents", intent)?;
        }
        check_id("survey.follow_up_department", &survey.follow_up_department)?;
        for (agent, day) in &settings.no_assist_days {
            check_id("agent in no_assist_days", agent)?;
            if !(1..=31).contains(day) {
                return Err(Error::Invalid(format!(
                    "agent {agent}'s no-assist day is {day}; a day of the month is 1 to 31"
                )));
            }
        }
        let _one_at_a_time = self.tenant_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.tenant(id)?;
        let event = self.tenant_event(
            id,
            "settings",
            actor,
            serde_json::json!(settings).to_string(),
        )?;
        self.storage
            .update_tenant(id, |tenant| tenant.settings = settings.clone(), &event)?;
        self.storage.flush_blocking()?;
        Ok(settings)
    }

    /// Change a tenant's record with an audit event (`action`, `reason`),
    /// one change at a time, flushed before it returns.
    pub(crate) fn update_tenant_record(
        &self,
        id: &str,
        action: &str,
        actor: &crate::model::Actor,
        reason: String,
        change: impl Fn(&mut Tenant),
    ) -> Result<()> {
        let _one_at_a_time = self.tenant_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.tenant(id)?;
        let event = self.tenant_event(id, action, actor, reason)?;
        self.storage.update_tenant(id, change, &event)?;
        self.storage.flush_blocking()?;
        Ok(())
    }

    /// Delete everything kept about one customer (the right to be
    /// forgotten). Their conversations are locked meanwhile, so no message
    /// of theirs is half-stored. The audit event names the customer only by
    /// a hash prefix.
    pub fn forget_customer(
        &self,
        tenant: &str,
        customer: &str,
        actor: &crate::model::Actor,
    ) -> Result<ForgetReport> {
        check_id("customer id", customer)?;
        self.tenant(tenant)?;
        let event = self.tenant_event(tenant, "forget-customer", actor, String::new())?;
        let customer_hash = hash_key(customer);
        let all = self.conversation_locks.tenant(tenant);
        let report = self
            .storage
            .forget_customer(tenant, customer, |report| AuditEvent {
                reason: format!(
                    "customer sha256 {}…: {} conversations, {} messages, {} tickets deleted",
                    &customer_hash[..12],
                    report.conversations,
                    report.messages,
                    report.tickets
                ),
                ..event.clone()
            })?;
        // The tenant's messages need not wait for the fsync.
        drop(all);
        self.forget_in_drafts(tenant)?;
        self.storage.flush_blocking()?;
        Ok(report)
    }

    fn tenant_event(
        &self,
        tenant: &str,
        action: &str,
        actor: &crate::model::Actor,
        reason: String,
    ) -> Result<AuditEvent> {
        Ok(AuditEvent {
            id: self.storage.next_id(tenant)?,
            at_ms: now_ms(),
            tenant: tenant.into(),
            slot: None,
            action: action.into(),
            actor: actor.clone(),
            from: vec![],
            to: vec![],
            reason,
        })
    }

    // --- plugins and bindings ---

    /// Store a plugin version after checking it is a component that fits one
    /// slot world. Uploading the same bytes again returns the stored version.
    /// Nothing is kept of a refused upload.
    pub fn add_plugin(&self, name: &str, version: &str, component: &[u8]) -> Result<PluginMeta> {
        let (meta, compiled) = self.check_plugin(name, version, component)?;
        if let Some(compiled) = compiled {
            self.keep_plugin(&meta, component, &compiled)?;
        }
        Ok(meta)
    }

    /// Validate an upload without storing anything: a component, for one slot
    /// world. Returns the compiled component unless the version is stored already.
    pub(crate) fn check_plugin(
        &self,
        name: &str,
        version: &str,
        component: &[u8],
    ) -> Result<(PluginMeta, Option<wasmtime::component::Component>)> {
        check_id("plugin name", name)?;
        check_id("plugin version", version)?;
        let sha256 = sha256_hex(component);
        if let Some(meta) = self.storage.plugin_meta(&sha256)? {
            return Ok((meta, None));
        }
        let compiled = self
            .runtime
            .compile(&sha256, component)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        let slot = self
            .runtime
            .detect_slot(&compiled)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        let meta = PluginMeta {
            sha256,
            name: name.into(),
            version: version.into(),
            slot,
            size: component.len() as u64,
            uploaded_at_ms: now_ms(),
        };
        Ok((meta, Some(compiled)))
    }

    pub(crate) fn keep_plugin(
        &self,
        meta: &PluginMeta,
        component: &[u8],
        compiled: &wasmtime::component::Component,
    ) -> Result<()> {
        self.runtime
            .remember(&self.storage, &meta.sha256, compiled)
            .map_err(|e| Error::Internal(format!("{e:#}")))?;
        self.storage.put_plugin(meta, component)?;
        Ok(())
    }

    /// The tenant's current pipeline (built from storage on first use). The
    /// caller keeps this one for the whole message, whatever is swapped in meanwhile.
    pub fn pipeline(&self, tenant: &str) -> Result<Arc<Pipeline>> {
        if let Some(p) = self.pipelines.read().unwrap().get(tenant) {
            return Ok(p.load_full());
        }
        let _one_at_a_time = self.binding_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = self.pipelines.read().unwrap().get(tenant) {
            return Ok(p.load_full());
        }
        let record = self.tenant(tenant)?;
        let pipeline =
            Arc::new(self.build_pipeline(&record, &self.storage.bindings(tenant)?, None)?);
        self.pipelines.write().unwrap().insert(
            tenant.to_string(),
            Arc::new(ArcSwap::from(pipeline.clone())),
        );
        Ok(pipeline)
    }

    /// Swap in a new pipeline for the tenant; messages already running keep theirs.
    pub(crate) fn swap_pipeline(&self, tenant: &str, pipeline: Pipeline) {
        let pipeline = Arc::new(pipeline);
        let existing = self.pipelines.read().unwrap().get(tenant).cloned();
        match existing {
            Some(slot) => slot.store(pipeline),
            None => {
                self.pipelines
                    .write()
                    .unwrap()
                    .insert(tenant.to_string(), Arc::new(ArcSwap::from(pipeline)));
            }
        }
    }

    /// The pipeline in service now, without building one.
    pub(crate) fn current_pipeline(&self, tenant: &str) -> Option<Arc<Pipeline>> {
        self.pipelines
            .read()
            .unwrap()
            .get(tenant)
            .map(|p| p.load_full())
    }

    // --- knowledge and agents ---

    /// The tenant's search index (`knowledge_cache.rs`: built outside any
    /// lock another tenant takes). Reads storage: call on a blocking thread.
    pub fn knowledge(&self, tenant: &str) -> Result<Arc<KnowledgeIndex>> {
        self.knowledge.get_or_build(tenant, || {
            Ok(KnowledgeIndex::build(&self.storage.articles(tenant)?))
        })
    }

    /// Create or replace an article; search sees it from the next message on.
    /// With `create`, an existing id is a conflict and nothing is written.
    /// Where a draft came from (`mined`) is the host's to keep: a replacement
    /// keeps the stored one. Returns the article as stored.
    pub fn put_article(&self, tenant: &str, article: &Article, create: bool) -> Result<Article> {
        let mut article = article.clone();
        check_article(&article)?;
        let _one_at_a_time = self.article_locks.lock(tenant);
        article.updated_at_ms = now_ms();
        self.check_article_quota(tenant, &article)?;
        if create {
            article.mined = None;
            if !self.storage.insert_article(tenant, &article)? {
                return Err(Error::Conflict(format!(
                    "article {:?} already exists; PUT replaces it",
                    article.id
                )));
            }
        } else {
            article.mined = self
                .storage
                .article(tenant, &article.id)?
                .and_then(|a| a.mined);
            self.storage.put_article(tenant, &article)?;
        }
        self.knowledge.invalidate(tenant);
        Ok(article)
    }

    /// Refuse an article that would take the tenant past its article quotas
    /// (`article` new, or replacing the one of its id). Call under the
    /// tenant's article lock, so two writes cannot both take the last place.
    pub(crate) fn check_article_quota(&self, tenant: &str, article: &Article) -> Result<()> {
        let (count, bytes) = self.storage.article_usage(tenant, Some(&article.id))?;
        let size = Storage::stored_bytes(article);
        if count + 1 > self.quotas.articles {
            return Err(Error::QuotaExceeded(format!(
                "the tenant has {count} articles; the quota is {}: delete some first",
                self.quotas.articles
            )));
        }
        if bytes + size > self.quotas.article_bytes {
            return Err(Error::QuotaExceeded(format!(
                "articles would take {} bytes; the quota is {} bytes",
                bytes + size,
                self.quotas.article_bytes
            )));
        }
        Ok(())
    }

    /// One stored article (draft or published).
    pub fn article(&self, tenant: &str, id: &str) -> Result<Article> {
        check_id("article id", id)?;
        self.storage
            .article(tenant, id)?
            .ok_or_else(|| Error::NotFound(format!("article {id:?} does not exist")))
    }

    /// Publish (or withdraw) an article; search sees the change from the next
    /// message on. Publishing needs a solution (body) written.
    pub fn set_article_published(
        &self,
        tenant: &str,
        id: &str,
        published: bool,
    ) -> Result<Article> {
        let _one_at_a_time = self.article_locks.lock(tenant);
        let mut article = self.article(tenant, id)?;
        article.published = published;
        check_article(&article)?;
        article.updated_at_ms = now_ms();
        self.storage.put_article(tenant, &article)?;
        self.knowledge.invalidate(tenant);
        Ok(article)
    }

    /// Delete an article. A mined draft's messages are remembered as
    /// dismissed first, so mining does not draft them again.
    pub fn delete_article(&self, tenant: &str, id: &str) -> Result<()> {
        let _one_at_a_time = self.article_locks.lock(tenant);
        let article = self.article(tenant, id)?;
        if let Some(mined) = &article.mined {
            self.dismiss_blind_spots(tenant, mined)?;
        }
        self.storage.delete_article(tenant, id)?;
        self.knowledge.invalidate(tenant);
        Ok(())
    }

    /// Create or replace an agent. With `create`, an existing id is a conflict.
    /// A new agent past the tenant's agent quota is refused (403); the
    /// check runs before the write, so requests racing it may each pass.
    pub fn put_agent(&self, tenant: &str, agent: &Agent, create: bool) -> Result<()> {
        use crate::quotas::{MAX_AGENT_NAME_BYTES, MAX_AGENT_SKILLS, MAX_SKILL_BYTES};
        check_id("agent id", &agent.id)?;
        if agent.capacity == 0 || agent.capacity > 1000 {
            return Err(Error::Invalid(
                "agent capacity must be between 1 and 1000".into(),
            ));
        }
        if agent.name.len() > MAX_AGENT_NAME_BYTES {
            return Err(Error::Invalid(format!(
                "agent name is {} bytes; at most {MAX_AGENT_NAME_BYTES}",
                agent.name.len()
            )));
        }
        if agent.skills.len() > MAX_AGENT_SKILLS {
            return Err(Error::Invalid(format!(
                "an agent has at most {MAX_AGENT_SKILLS} skills, not {}",
                agent.skills.len()
            )));
        }
        if let Some(long) = agent.skills.iter().find(|s| s.len() > MAX_SKILL_BYTES) {
            return Err(Error::Invalid(format!(
                "a skill is {} bytes; at most {MAX_SKILL_BYTES}",
                long.len()
            )));
        }
        if self.storage.agent(tenant, &agent.id)?.is_none() {
            let count = self.storage.agent_count(tenant)?;
            if count >= self.quotas.agents {
                return Err(Error::QuotaExceeded(format!(
                    "the tenant has {count} agents; the quota is {}",
                    self.quotas.agents
                )));
            }
        }
        if create {
            if !self.storage.insert_agent(tenant, agent)? {
                return Err(Error::Conflict(format!(
                    "agent {:?} already exists; PUT /v1/agents/{{id}} replaces it",
                    agent.id
                )));
            }
        } else {
            self.storage.put_agent(tenant, agent)?;
        }
        Ok(())
    }

    // --- messages ---

    /// Decide one customer message and write it with everything it changed.
    /// The write is not durable until the caller flushes (the API does before
    /// answering).
    pub fn handle_message(
        &self,
        tenant: &str,
        conversation_id: &str,
        message: NewMessage,
    ) -> Result<MessageRecord> {
        let write = self.storage.begin_write();
        self.handle_admitted(tenant, conversation_id, message, None, (), Some(write))
    }

    /// [`App::handle_message`] for a message that holds `slot`, its tenant's
    /// place for plugin work, released as soon as the plugins are done (the
    /// commit waits for the disk without it), and `write`, its announcement
    /// to the flusher ([`Storage::begin_write`]; none for a message the
    /// flusher should not wait for). Returns once the message is durable.
    pub fn handle_admitted<Slot>(
        &self,
        tenant: &str,
        conversation_id: &str,
        message: NewMessage,
        proof: Option<InboundProof>,
        slot: Slot,
        write: Option<crate::durability::WriteIntent>,
    ) -> Result<MessageRecord> {
        check_new_message(conversation_id, &message)?;
        let started = Instant::now();
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let now = now_ms();
        let mut conversation = self.conversation_for(tenant, conversation_id, &message, now)?;
        let status_before = conversation.status;
        if status_before.is_finished() {
            // Its agent's load was released when it was resolved; the
            // reopened chat is routed afresh (its facts and topic still stand).
            conversation.assigned_agent = None;
            conversation.state.holder = Holder::Bot;
        }
        // The assignment is the record of who holds it: a conversation stored
        // before the state existed reads as held by the bot otherwise.
        if let Some(agent) = &conversation.assigned_agent {
            conversation.state.holder = Holder::Agent(agent.clone());
        }
        conversation.customer = message.customer.clone();
        conversation.channel = message.channel.clone();

        let message_id = format!("m-{:x}", self.storage.next_id(tenant)?);
        // Read once per message: the pipeline checks routes against the
        // declared queues, and the commit below may mask the stored text.
        let tenant_record = self.tenant(tenant)?;
        // A channel that signs its messages: one that is not signed right
        // is not the channel (checked before anything is decided or stored).
        check_proof(&tenant_record, proof.as_ref(), now)?;
        let settings = tenant_record.settings.clone();
        // A reply that only rates the service answers the open survey: it
        // is stored, not decided (and the conversation stays resolved).
        if let Some(score) = Self::survey_answer_in(&conversation, &message.text, now) {
            drop(slot);
            return self.take_survey_reply(
                &tenant_record,
                conversation,
                message_id,
                message,
                score,
                now,
                write,
            );
        }
        let inbound = Inbound {
            tenant: Arc::from(tenant),
            conversation_id: conversation_id.into(),
            message_id: message_id.clone(),
            text: message.text.clone(),
            channel: message.channel.clone(),
            customer: message.customer.clone(),
            received_at_ms: now,
            assigned_agent: conversation.assigned_agent.clone(),
            state: conversation.state.clone(),
            declared_queues: settings.queues.clone(),
        };
        let pipeline = self.pipeline(tenant)?;
        let knowledge = self.knowledge(tenant)?;
        self.metrics.record_stage(Stage::Load, started);
        let stage = Instant::now();
        let (result, stats) = pipeline.run(&self.storage, knowledge, &inbound);
        self.metrics.record_stage(Stage::Pipeline, stage);
        let mut decision = result.decision;

        let stage = Instant::now();
        let ticket = match result.ticket_draft {
            Some(draft) => Some(self.ticket_change(tenant, &inbound, &decision, draft)?),
            None => None,
        };
        self.metrics.record_stage(Stage::Ticket, stage);
        decision.ticket = ticket.as_ref().map(|(preview, _, action)| TicketResult {
            id: preview.id.clone(),
            action: action.to_string(),
            title: preview.title.clone(),
            department: preview.department.clone(),
            priority: preview.priority,
            facts: preview.facts.clone(),
        });
        let ticket_change = ticket.map(|(_, change, _)| change);
        // The plugins are done: the slot goes to the tenant's next message.
        drop(slot);
        if decision.route.queue.is_some() {
            conversation.queue = decision.route.queue.clone();
        }
        conversation.message_count += 1;
        conversation.updated_at_ms = now;

        conversation
            .state
            .absorb(&message_id, &message.text, &decision, &settings.not_topics);
        // Plugins decided on the text as written; what is kept may be masked.
        let stored_text = if settings.mask_stored_messages {
            let text = decision.masked_text.as_deref().unwrap_or(&message.text);
            crate::pii::mask(text).into_owned()
        } else {
            message.text
        };
        let record = MessageRecord {
            id: message_id,
            conversation_id: conversation_id.into(),
            text: stored_text,
            channel: message.channel,
            customer: message.customer,
            received_at_ms: now,
            decision,
            correction: None,
        };
        let stage = Instant::now();
        let record = self.commit_customer_message(
            &tenant_record,
            conversation,
            status_before,
            record,
            ticket_change,
            write,
        )?;
        self.metrics.record_stage(Stage::Commit, stage);
        self.after_message(tenant, &record, &stats, started);
        Ok(record)
    }

    /// What follows a stored message: its metrics, the shadow statistics,
    /// the circuit breakers. The message is stored: what fails here is
    /// logged, not answered.
    fn after_message(
        &self,
        tenant: &str,
        record: &MessageRecord,
        stats: &crate::pipeline::CallStats,
        started: Instant,
    ) {
        let stage = Instant::now();
        let reasons: Vec<String> = record
            .decision
            .escalation
            .reasons
            .iter()
            .map(|r| r.code.clone())
            .collect();
        self.metrics.record_message(
            tenant,
            &reasons,
            stats,
            started.elapsed().as_micros() as u64,
        );
        // After the commit: what was decided stands whatever the breaker does.
        // The message is stored: bookkeeping that fails now is logged, not answered.
        if let Err(e) = self.record_shadow(tenant, record) {
            tracing::error!(tenant, message = %record.id, "shadow statistics not updated: {e}");
        }
        self.observe_calls(tenant, stats);
        self.metrics.record_stage(Stage::Bookkeeping, stage);
    }

    /// The conversation a customer message belongs to: the stored one (it
    /// must be this customer's), or a new one with the bot.
    fn conversation_for(
        &self,
        tenant: &str,
        conversation_id: &str,
        message: &NewMessage,
        now: u64,
    ) -> Result<Conversation> {
        let existing = self.storage.conversation(tenant, conversation_id)?;
        if let Some(c) = &existing
            && c.customer.id != message.customer.id
        {
            return Err(Error::Conflict(format!(
                "conversation {conversation_id:?} belongs to another customer"
            )));
        }
        Ok(existing.unwrap_or(Conversation {
            id: conversation_id.into(),
            customer: message.customer.clone(),
            status: ConversationStatus::Bot,
            assigned_agent: None,
            queue: None,
            created_at_ms: now,
            updated_at_ms: now,
            message_count: 0,
            channel: message.channel.clone(),
            priority: 0,
            waiting_since_ms: None,
            resolved_at_ms: None,
            resolved_by: None,
            last_agent: None,
            survey: None,
            summary: None,
            state: Default::default(),
        }))
    }

    /// Turn a ticket draft into a new ticket, or an update of the customer's
    /// own open ticket it names (a draft cannot touch anyone else's ticket).
    /// Returns the ticket as it will read, the change to commit, and the action.
    fn ticket_change(
        &self,
        tenant: &str,
        inbound: &Inbound,
        decision: &Decision,
        draft: crate::bindings::types::TicketDraft,
    ) -> Result<(Ticket, TicketChange, &'static str)> {
        let facts: Vec<TicketFact> = draft
            .facts
            .into_iter()
            .map(|f| TicketFact {
                key: f.key,
                value: f.value,
            })
            .collect();
        let existing = match &draft.existing_ticket_id {
            Some(id) => self.storage.ticket(tenant, id)?.filter(|t| {
                t.customer_id == inbound.customer.id
                    && matches!(t.status, TicketStatus::Open | TicketStatus::Pending)
            }),
            None => None,
        };
        Ok(match existing {
            Some(mut preview) => {
                for fact in &facts {
                    if !preview
                        .facts
                        .iter()
                        .any(|f| f.key == fact.key && f.value == fact.value)
                    {
                        preview.facts.push(fact.clone());
                    }
                }
                preview.priority = preview.priority.max(draft.priority);
                preview.summary = draft.summary.clone();
                let change = TicketChange::Update {
                    id: preview.id.clone(),
                    facts,
                    priority: draft.priority,
                    summary: draft.summary,
                    message_id: inbound.message_id.clone(),
                    at_ms: inbound.received_at_ms,
                };
                (preview, change, "updated")
            }
            None => {
                let ticket = Ticket {
                    id: format!("t-{:x}", self.storage.next_id(&inbound.tenant)?),
                    conversation_id: inbound.conversation_id.clone(),
                    customer_id: inbound.customer.id.clone(),
                    intent: decision.intent.name.clone(),
                    title: draft.title,
                    department: draft.department,
                    priority: draft.priority,
                    summary: draft.summary,
                    facts,
                    status: TicketStatus::Open,
                    created_at_ms: inbound.received_at_ms,
                    updated_at_ms: inbound.received_at_ms,
                    message_ids: vec![inbound.message_id.clone()],
                    // Set when the commit knows who holds the conversation.
                    agent: None,
                    last_conversation_id: None,
                };
                (ticket.clone(), TicketChange::Open(ticket), "opened")
            }
        })
    }
}
