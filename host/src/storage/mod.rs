//! Durable state on sled, behind one narrow type so a distributed backend can
//! replace it later. Every key of tenant data starts with `tenant_id \0`, so a
//! tenant's reads can never reach another tenant's rows. Writes the API
//! acknowledges are flushed to disk first ([`Storage::flush`]).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::durability::{DEFAULT_COMMIT_DELAY, Durability, FlushHealth, GroupCommit, WriteIntent};
use crate::ids::{FLOOR_META, TenantIds};
use crate::model::*;

mod commit;
mod kpi;
mod lists;
mod outbox;
mod traffic;

type TxTree = sled::transaction::TransactionalTree;

pub(crate) use commit::CommitTrees;
pub use commit::{Applied, Commit, TicketChange};
pub use lists::ConversationFilter;

/// The tree of per-tenant id leases (`ids.rs`).
const ID_LEASES: &str = "id_leases";

/// Where per-tenant ids start: saved at the first open with them, from the
/// global counter the host used before (0 on a fresh database), so no id is
/// given twice within a tenant across the upgrade.
fn id_floor(db: &sled::Db, meta: &sled::Tree, commit: &GroupCommit) -> Result<u64> {
    if let Some(saved) = meta.get(FLOOR_META)? {
        return String::from_utf8_lossy(&saved)
            .parse()
            .map_err(|_| StorageError::Inconsistent(format!("meta {FLOOR_META}")));
    }
    let floor = db.generate_id()?;
    meta.insert(FLOOR_META, floor.to_string().as_bytes())?;
    commit.wait_blocking().map_err(StorageError::Flush)?;
    Ok(floor)
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage: {0}")]
    Sled(#[from] sled::Error),
    #[error("storage: corrupt record under {key}: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
    #[error("the data directory {0} is in use by another switchyard process")]
    Locked(String),
    #[error("agent {0} has no capacity left")]
    AgentFull(String),
    #[error("agent {0} is offline")]
    AgentOffline(String),
    #[error("storage: inconsistent data: {0}")]
    Inconsistent(String),
    #[error("storage: {0}")]
    Flush(std::sync::Arc<str>),
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Handle to the database; cheap to clone (one reference count: every
/// plugin call's context holds one, and cloning 17 tree handles each time
/// showed in profiles).
#[derive(Clone)]
pub struct Storage(std::sync::Arc<Trees>);

impl std::ops::Deref for Storage {
    type Target = Trees;

    fn deref(&self) -> &Trees {
        &self.0
    }
}

/// The database and its trees, behind [`Storage`].
pub struct Trees {
    db: sled::Db,
    /// The one flusher: every durable acknowledgement waits on it.
    commit: std::sync::Arc<GroupCommit>,
    ids: TenantIds,
    tenants: sled::Tree,
    keys: sled::Tree,
    /// `h \0 key hash` -> [`AgentKey`]; `a \0 tenant \0 agent` -> key hash.
    agent_keys: sled::Tree,
    plugins: sled::Tree,
    plugin_meta: sled::Tree,
    artifacts: sled::Tree,
    bindings: sled::Tree,
    /// Rollout configs by `tenant \0 sha256`.
    configs: sled::Tree,
    agents: sled::Tree,
    agent_load: sled::Tree,
    articles: sled::Tree,
    conversations: sled::Tree,
    messages: sled::Tree,
    /// Per message, under the message's key, the few fields
    /// `conversation.history` shows (`PastRecord`): two plugins read up to
    /// 20 earlier messages on every message, and decoding them from the full
    /// records (about 5 KB of JSON each) was most of the escalator's time.
    history: sled::Tree,
    tickets: sled::Tree,
    /// `tenant \0 customer \0 ticket` -> (): a customer's tickets without a scan.
    customer_tickets: sled::Tree,
    posts: sled::Tree,
    conversation_list: sled::Tree,
    events: sled::Tree,
    outbox: sled::Tree,
    outbox_due: sled::Tree,
    outbox_conversation: sled::Tree,
    suggestion_outcomes: sled::Tree,
    customer_conversations: sled::Tree,
    /// The same handles as above, for applying commits.
    commit_trees: CommitTrees,
    /// `tenant \0 id` (big-endian) -> AuditEvent.
    audit: sled::Tree,
    /// `tenant \0 slot \0 version id` -> ShadowStats.
    shadow_stats: sled::Tree,
    /// Hourly traffic counts (`storage/traffic.rs`).
    traffic: sled::Tree,
    /// Facts about the database itself, such as "the demo tenant is seeded".
    meta: sled::Tree,
}

fn key(tenant: &str, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + id.len() + 1);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

fn customer_ticket_key(tenant: &str, customer: &str, ticket: &str) -> Vec<u8> {
    let mut k = key(tenant, customer);
    k.push(0);
    k.extend_from_slice(ticket.as_bytes());
    k
}

fn prefix(tenant: &str) -> Vec<u8> {
    key(tenant, "")
}

/// Audit events sort by tenant, then by id (big-endian): oldest first.
fn audit_key(event: &AuditEvent) -> Vec<u8> {
    let mut k = prefix(&event.tenant);
    k.extend_from_slice(&event.id.to_be_bytes());
    k
}

/// The arrival number a message id (`m-<hex>`) carries, which orders its key.
fn message_seq(id: &str) -> Option<u64> {
    id.rsplit('-')
        .next()
        .and_then(|n| u64::from_str_radix(n, 16).ok())
}

/// Message keys sort by conversation, then by arrival (the id counter is big-endian).
fn message_key(tenant: &str, conversation: &str, seq: u64) -> Vec<u8> {
    let mut k = key(tenant, conversation);
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Inside a transaction: one conversation fewer for `agent` (never below 0).
fn release_agent<E>(
    loads: &sled::transaction::TransactionalTree,
    tenant: &str,
    agent: &str,
) -> std::result::Result<(), ConflictableTransactionError<E>> {
    let k = key(tenant, agent);
    let current: i64 = loads
        .get(&k)?
        .and_then(|v| serde_json::from_slice::<i64>(&v).ok())
        .unwrap_or(0);
    loads.insert(k, encode(&(current - 1).max(0)))?;
    Ok(())
}

/// The error of a transaction that never aborts on purpose.
/// Whether a version holds its config (not yet stored by sha256, or the
/// empty config) rather than only naming it.
fn carries_config(version: &SlotVersion) -> bool {
    !version.config.is_empty() || version.config_sha256 == EMPTY_CONFIG_SHA256
}

/// sha256 of the empty config.
const EMPTY_CONFIG_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The rollouts as the record stores them: configs only named.
fn without_configs(bindings: &Bindings) -> Bindings {
    let mut stored = bindings.clone();
    for version in stored.slots.values_mut().flat_map(|r| &mut r.versions) {
        version.config = String::new();
    }
    stored
}

/// Inside a rollout write: store each config a version carries that is not
/// stored yet (a config is written once, not on every change), refuse a
/// version that names a config nobody stored, and remove `stale` configs.
fn store_configs(
    configs: &TxTree,
    tenant: &str,
    bindings: &Bindings,
    stale: &[Vec<u8>],
) -> std::result::Result<(), ConflictableTransactionError<String>> {
    for k in stale {
        configs.remove(k.as_slice())?;
    }
    for version in bindings.slots.values().flat_map(|r| &r.versions) {
        let k = key(tenant, &version.config_sha256);
        if configs.get(&k)?.is_some() {
            continue;
        }
        if !carries_config(version) {
            return Err(ConflictableTransactionError::Abort(format!(
                "tenant {tenant}: version {} names config {} that is not stored",
                version.id, version.config_sha256
            )));
        }
        configs.insert(k, version.config.as_bytes())?;
    }
    Ok(())
}

fn configs_aborted(e: TransactionError<String>) -> StorageError {
    match e {
        TransactionError::Abort(what) => StorageError::Inconsistent(what),
        TransactionError::Storage(e) => StorageError::Sled(e),
    }
}

fn never_aborted(e: TransactionError<()>) -> StorageError {
    match e {
        TransactionError::Storage(e) => StorageError::Sled(e),
        TransactionError::Abort(()) => unreachable!("this transaction never aborts"),
    }
}

/// What `conversation.history` shows of an earlier message. Decoded on its
/// own so that the rest of a stored record (trace, suggestions, shadow) is
/// skipped rather than built: two plugins read up to 20 earlier messages for
/// every message.
#[derive(Clone, Serialize, Deserialize)]
pub struct PastRecord {
    pub id: String,
    pub text: String,
    pub received_at_ms: u64,
    pub decision: PastDecision,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct PastDecision {
    pub intent: IntentResult,
    pub escalation: PastEscalation,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct PastEscalation {
    pub escalate: bool,
}

impl PastRecord {
    /// The history line of a stored message: what `conversation.history`
    /// shows, kept beside the record (tree `history`, same key).
    fn of(record: &MessageRecord) -> PastRecord {
        PastRecord {
            id: record.id.clone(),
            text: record.text.clone(),
            received_at_ms: record.received_at_ms,
            decision: PastDecision {
                intent: record.decision.intent.clone(),
                escalation: PastEscalation {
                    escalate: record.decision.escalation.escalate,
                },
            },
        }
    }
}

/// Set in `meta` once every stored message has its history line.
/// How long an open waits for a file lock held by a database of this
/// process that is closing (see `Storage::open_configured`).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

const HISTORY_LINES_BUILT: &str = "history-lines-built";

/// Meta flag: rollout configs are stored by sha256 (`with_split_configs`).
const CONFIGS_SPLIT: &str = "rollout-configs-split";

/// What `tickets.open-tickets` shows of a ticket, decoded on its own (the
/// rest of the record is skipped, not built).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TicketHead {
    pub id: String,
    pub title: String,
    pub department: String,
    pub intent: String,
    pub status: TicketStatus,
    pub created_at_ms: u64,
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub conversation_id: String,
    #[serde(default)]
    pub last_conversation_id: Option<String>,
}

/// sled's page cache unless `serve --cache-mib` says otherwise: sled's own
/// default (1 GiB); the soak measured the server's RSS level off at 1.47 GiB.
pub const DEFAULT_CACHE_BYTES: u64 = 1 << 30;

/// How the store is opened (`serve` flags).
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub durability: Durability,
    /// sled's page cache, bytes.
    pub cache_bytes: u64,
    /// Longest a flush waits for writers still at work (`durability.rs`).
    pub commit_delay: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            durability: Durability::GroupCommit,
            cache_bytes: DEFAULT_CACHE_BYTES,
            commit_delay: DEFAULT_COMMIT_DELAY,
        }
    }
}

/// A customer's newest tickets that `open_tickets_of` looks at.
pub const MAX_CUSTOMER_TICKETS_SCANNED: usize = 100;

/// Most records one page request decodes, whatever its filter matches.
pub const MAX_PAGE_SCAN: usize = 10_000;

/// Where a page ends: the key suffix of its last record. Clients see it as
/// opaque hex (`?after=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(Vec<u8>);

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        hex::decode(text).ok().map(Cursor)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

/// One page of a list and where the next one starts (`None`: the last).
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("model types always serialize")
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|source| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).replace('\0', "/"),
        source,
    })
}

impl Storage {
    /// Open (or create) the database in `dir`, acknowledging writes once
    /// they are on disk.
    pub fn open(dir: &Path) -> Result<Storage> {
        Storage::open_with(dir, Durability::GroupCommit)
    }

    /// Open (or create) the database in `dir` with the given durability.
    pub fn open_with(dir: &Path, durability: Durability) -> Result<Storage> {
        Storage::open_configured(
            dir,
            &StoreOptions {
                durability,
                ..StoreOptions::default()
            },
        )
    }

    /// As [`Storage::open_with`], with every option.
    pub fn open_configured(dir: &Path, options: &StoreOptions) -> Result<Storage> {
        // No background flush: only what `flush` made durable is, so the
        // crash tests prove every acknowledged write was flushed on purpose.
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(options.cache_bytes)
            .flush_every_ms(None);
        let locked = |e: &sled::Error| {
            matches!(e, sled::Error::Io(io)
                if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock"))
        };
        // A database this process just closed may hold its file lock a few
        // moments longer: sled releases it from a background thread after
        // `Db` is dropped (spacejam/sled#1234, #1289). Wait for it briefly;
        // another process holding it is refused after that.
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                Err(e) if locked(&e) && started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) if locked(&e) => {
                    return Err(StorageError::Locked(dir.display().to_string()));
                }
                other => break other?,
            }
        };
        Storage::from_db(db, options.durability, options.commit_delay)
    }

    /// A database that lives in memory and a temporary file, gone on drop.
    pub fn temporary() -> Result<Storage> {
        Storage::from_db(
            sled::Config::new().temporary(true).open()?,
            Durability::GroupCommit,
            DEFAULT_COMMIT_DELAY,
        )
    }

    fn from_db(
        db: sled::Db,
        durability: Durability,
        commit_delay: std::time::Duration,
    ) -> Result<Storage> {
        // The trees a message writes are opened once: the flusher and
        // `commit_message` apply commits through the same handles.
        let commit_trees = CommitTrees::open(&db)?;
        let commit = std::sync::Arc::new(GroupCommit::start(
            db.clone(),
            commit_trees.clone(),
            durability,
            commit_delay,
        ));
        let meta = db.open_tree("meta")?;
        let ids = TenantIds::new(
            db.open_tree(ID_LEASES)?,
            id_floor(&db, &meta, &commit)?,
            commit.clone(),
        );
        Storage(std::sync::Arc::new(Trees {
            commit,
            ids,
            tenants: db.open_tree("tenants")?,
            keys: db.open_tree("keys")?,
            agent_keys: db.open_tree("agent_keys")?,
            plugins: db.open_tree("plugins")?,
            plugin_meta: db.open_tree("plugin_meta")?,
            artifacts: db.open_tree("artifacts")?,
            // "rollouts", not "bindings": the lifecycle format replaced the
            // first one, and a demo tenant without rollouts is seeded again.
            bindings: db.open_tree("rollouts")?,
            configs: db.open_tree("rollout_configs")?,
            agents: commit_trees.agents.clone(),
            agent_load: commit_trees.loads.clone(),
            articles: db.open_tree("articles")?,
            conversations: commit_trees.conversations.clone(),
            messages: commit_trees.messages.clone(),
            history: commit_trees.history.clone(),
            tickets: commit_trees.tickets.clone(),
            customer_tickets: commit_trees.customer_tickets.clone(),
            posts: commit_trees.posts.clone(),
            conversation_list: commit_trees.conversation_list.clone(),
            events: commit_trees.events.clone(),
            outbox: commit_trees.outbox.clone(),
            outbox_due: commit_trees.outbox_due.clone(),
            outbox_conversation: commit_trees.outbox_conversation.clone(),
            suggestion_outcomes: commit_trees.suggestion_outcomes.clone(),
            customer_conversations: commit_trees.customer_conversations.clone(),
            commit_trees,
            audit: db.open_tree("audit")?,
            shadow_stats: db.open_tree("shadow_stats")?,
            traffic: db.open_tree("traffic")?,
            meta,
            db,
        }))
        .with_history_lines()?
        .with_conversation_list()?
        .with_split_configs()
    }

    /// A database written before the `history` tree existed gets a history
    /// line for every stored message, once, at open (about a second per
    /// 100,000 messages); later messages write theirs in their commit.
    fn with_history_lines(self) -> Result<Storage> {
        if self.meta(HISTORY_LINES_BUILT)?.is_some() {
            return Ok(self);
        }
        let started = std::time::Instant::now();
        let mut lines = 0usize;
        let mut batch = sled::Batch::default();
        for item in self.messages.iter() {
            let (k, v) = item?;
            let line: PastRecord = decode(&k, &v)?;
            batch.insert(k, encode(&line));
            lines += 1;
            if lines.is_multiple_of(10_000) {
                self.history.apply_batch(std::mem::take(&mut batch))?;
            }
        }
        self.history.apply_batch(batch)?;
        self.put_meta(HISTORY_LINES_BUILT, "1")?;
        self.flush_blocking()?;
        if lines > 0 {
            tracing::info!(
                lines,
                ms = started.elapsed().as_millis() as u64,
                "history lines built for the messages stored before them"
            );
        }
        Ok(self)
    }

    /// Wait until every write that returned before this call is durable;
    /// call before acknowledging a write. Concurrent callers share one flush
    /// (group commit, `durability.rs`); never calls the store itself, so it is
    /// safe on an async worker.
    pub async fn flush(&self) -> Result<()> {
        self.commit.wait().await.map_err(StorageError::Flush)
    }

    /// Announce a message that will commit through
    /// [`Storage::commit_durably`]: a flush about to start waits briefly for
    /// it (the commit delay, `durability.rs`). Take it before the message's
    /// plugins run.
    pub fn begin_write(&self) -> WriteIntent {
        self.commit.begin_write()
    }

    /// Blocking variant of [`Storage::flush`], for blocking threads, the CLI
    /// and start-up.
    pub fn flush_blocking(&self) -> Result<()> {
        self.commit.wait_blocking().map_err(StorageError::Flush)
    }

    /// The flusher's state, for `/healthz`; takes no storage call.
    pub fn flush_health(&self) -> FlushHealth {
        self.commit.health()
    }

    /// A digest of every record in every tree (not the id leases): equal
    /// digests mean nothing was written. For checks that a refused request
    /// stored nothing.
    pub fn fingerprint(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for name in self.db.tree_names() {
            if name == ID_LEASES {
                continue;
            }
            let tree = self.db.open_tree(&name)?;
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(&name);
            for item in tree.iter() {
                let (k, v) = item?;
                hasher.update((k.len() as u64).to_be_bytes());
                hasher.update(&k);
                hasher.update((v.len() as u64).to_be_bytes());
                hasher.update(&v);
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// A fresh id for a record of `tenant`: unique and increasing among the
    /// tenant's ids for the life of the database (`ids.rs`).
    pub fn next_id(&self, tenant: &str) -> Result<u64> {
        self.ids.next(tenant)
    }

    fn get<T: DeserializeOwned>(tree: &sled::Tree, k: &[u8]) -> Result<Option<T>> {
        tree.get(k)?.map(|v| decode(k, &v)).transpose()
    }

    /// One page of the records under `p`, in key order, starting after the
    /// key `p ++ after`: at most `limit` that `keep` accepts, having decoded
    /// at most [`MAX_PAGE_SCAN`] (so a filter that matches little costs a
    /// bounded amount per request, and the page may come back short with a
    /// `next`). `next` is `None` when nothing is left.
    fn scan_page<T: DeserializeOwned>(
        tree: &sled::Tree,
        p: &[u8],
        after: Option<&Cursor>,
        limit: usize,
        mut keep: impl FnMut(&T) -> bool,
    ) -> Result<Page<T>> {
        Self::page_keys(tree, p, after, limit, |k, v| {
            let value: T = decode(k, v)?;
            Ok(keep(&value).then_some(value))
        })
    }

    /// The walk under [`Storage::scan_page`]: `take` turns an entry into an
    /// item, or `None` to skip it.
    fn page_keys<T>(
        tree: &sled::Tree,
        p: &[u8],
        after: Option<&Cursor>,
        limit: usize,
        mut take: impl FnMut(&[u8], &[u8]) -> Result<Option<T>>,
    ) -> Result<Page<T>> {
        use std::ops::Bound;
        let start = match after {
            Some(cursor) => Bound::Excluded([p, &cursor.0].concat()),
            None => Bound::Included(p.to_vec()),
        };
        let mut entries = tree
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take_while(|item| item.as_ref().map_or(true, |(k, _)| k.starts_with(p)));
        let mut items = Vec::new();
        let mut scanned = 0;
        while let Some(item) = entries.next() {
            let (k, v) = item?;
            scanned += 1;
            if let Some(value) = take(&k, &v)? {
                items.push(value);
            }
            if items.len() >= limit.max(1) || scanned >= MAX_PAGE_SCAN {
                let more = entries.next().transpose()?.is_some();
                let next = more.then(|| Cursor(k[p.len()..].to_vec()));
                return Ok(Page { items, next });
            }
        }
        Ok(Page { items, next: None })
    }

    /// The last `limit` records under a prefix (keys sort by time), oldest first.
    fn scan_newest<T: DeserializeOwned>(
        tree: &sled::Tree,
        p: &[u8],
        limit: usize,
    ) -> Result<Vec<T>> {
        let mut newest: Vec<T> = tree
            .scan_prefix(p)
            .rev()
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect::<Result<_>>()?;
        newest.reverse();
        Ok(newest)
    }

    fn scan<T: DeserializeOwned>(tree: &sled::Tree, p: &[u8]) -> Result<Vec<T>> {
        tree.scan_prefix(p)
            .map(|item| {
                let (k, v) = item?;
                decode(&k, &v)
            })
            .collect()
    }

    // --- tenants and keys ---

    /// Store a tenant and its key index in one transaction: after a crash the
    /// old key either still works or no longer does, never half of each.
    pub fn put_tenant(&self, tenant: &Tenant) -> Result<()> {
        self.write_tenant(tenant, None)
    }

    /// Store a tenant with the audit event of the change, in one transaction.
    fn write_tenant(&self, tenant: &Tenant, event: Option<&AuditEvent>) -> Result<()> {
        self.change_tenant(&tenant.id, |_| Some(tenant.clone()), event)
            .map(|_| ())
    }

    /// Change a tenant's stored record in one transaction that reads the
    /// record inside it, so writers guarded by different locks (key rotation,
    /// settings, limits) never write back each other's stale copy; the key
    /// index follows the key hashes. Returns the record as written.
    pub fn update_tenant(
        &self,
        id: &str,
        change: impl Fn(&mut Tenant),
        event: &AuditEvent,
    ) -> Result<Tenant> {
        let changed = |old: Option<&Tenant>| {
            old.cloned().map(|mut record| {
                change(&mut record);
                record
            })
        };
        self.change_tenant(id, changed, Some(event))
    }

    /// Write what `change` makes of the stored record (`None`: there is none);
    /// `change` answering `None` writes nothing and is an error.
    fn change_tenant(
        &self,
        id: &str,
        change: impl Fn(Option<&Tenant>) -> Option<Tenant>,
        event: Option<&AuditEvent>,
    ) -> Result<Tenant> {
        let audit_entry = event.map(|e| (audit_key(e), encode(e)));
        let hashes = |t: &Tenant| {
            std::iter::once(t.key_hash.clone())
                .chain(t.previous_key_hash.clone())
                .collect::<Vec<_>>()
        };
        (&self.tenants, &self.keys, &self.audit)
            .transaction(|(tenants, keys, audit)| {
                let old = tenants.get(id.as_bytes())?;
                let old = old.and_then(|v| serde_json::from_slice::<Tenant>(&v).ok());
                let record = change(old.as_ref()).ok_or(ConflictableTransactionError::Abort(()))?;
                let new = hashes(&record);
                for gone in old.iter().flat_map(hashes).filter(|h| !new.contains(h)) {
                    keys.remove(gone.as_bytes())?;
                }
                tenants.insert(id.as_bytes(), encode(&record))?;
                for hash in &new {
                    keys.insert(hash.as_bytes(), id.as_bytes())?;
                }
                if let Some((k, v)) = &audit_entry {
                    audit.insert(k.clone(), v.clone())?;
                }
                Ok::<Tenant, ConflictableTransactionError<()>>(record)
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StorageError::Sled(e),
                TransactionError::Abort(()) => {
                    StorageError::Inconsistent(format!("tenant {id:?} has no record to change"))
                }
            })
    }

    pub fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        Self::get(&self.tenants, id.as_bytes())
    }

    pub fn tenants(&self) -> Result<Vec<Tenant>> {
        Self::scan(&self.tenants, b"")
    }

    /// One page of every tenant, by id.
    pub fn tenants_page(&self, after: Option<&Cursor>, limit: usize) -> Result<Page<Tenant>> {
        Self::scan_page(&self.tenants, b"", after, limit, |_| true)
    }

    /// The tenant whose key hashes to `key_hash`.
    pub fn tenant_by_key_hash(&self, key_hash: &str) -> Result<Option<String>> {
        Ok(self
            .keys
            .get(key_hash.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The agent a key (by hash) acts as, if it is an agent's key.
    pub fn agent_by_key_hash(&self, key_hash: &str) -> Result<Option<AgentKey>> {
        Self::get(&self.agent_keys, &key("h", key_hash))
    }

    /// Make `key_hash` the agent's key; the one they had stops working.
    pub fn set_agent_key(&self, tenant: &str, agent: &str, key_hash: &str) -> Result<()> {
        let by_agent = key("a", &String::from_utf8_lossy(&key(tenant, agent)));
        let record = AgentKey {
            tenant: tenant.into(),
            agent: agent.into(),
            issued_at_ms: now_ms(),
        };
        self.agent_keys
            .transaction(|tree| {
                if let Some(old) = tree.get(&by_agent)? {
                    tree.remove(key("h", &String::from_utf8_lossy(&old)))?;
                }
                tree.insert(by_agent.clone(), key_hash.as_bytes())?;
                tree.insert(key("h", key_hash), encode(&record))?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(never_aborted)?;
        Ok(())
    }

    // --- plugins, compiled artifacts and bindings ---

    pub fn put_plugin(&self, meta: &PluginMeta, component: &[u8]) -> Result<()> {
        self.plugins.insert(meta.sha256.as_bytes(), component)?;
        self.plugin_meta
            .insert(meta.sha256.as_bytes(), encode(meta))?;
        Ok(())
    }

    pub fn plugin_meta(&self, sha256: &str) -> Result<Option<PluginMeta>> {
        Self::get(&self.plugin_meta, sha256.as_bytes())
    }

    pub fn plugin_component(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.plugins.get(sha256.as_bytes())?.map(|v| v.to_vec()))
    }

    pub fn plugins(&self) -> Result<Vec<PluginMeta>> {
        Self::scan(&self.plugin_meta, b"")
    }

    /// One page of every stored plugin, by sha256.
    pub fn plugins_page(&self, after: Option<&Cursor>, limit: usize) -> Result<Page<PluginMeta>> {
        Self::scan_page(&self.plugin_meta, b"", after, limit, |_| true)
    }

    pub fn artifact(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.artifacts.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    pub fn put_artifact(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.artifacts.insert(key.as_bytes(), bytes)?;
        Ok(())
    }

    /// A tenant's rollouts as stored: versions name their config by
    /// `config_sha256` and carry none (`config` is empty; [`Storage::config`]
    /// returns it). A rollout record is rewritten on every lifecycle change:
    /// with configs inline (up to 16 MiB each) every change rewrote them all.
    pub fn bindings(&self, tenant: &str) -> Result<Bindings> {
        Ok(Self::get(&self.bindings, tenant.as_bytes())?.unwrap_or_default())
    }

    /// As [`Storage::bindings`], every version with its config.
    pub fn bindings_with_configs(&self, tenant: &str) -> Result<Bindings> {
        let mut bindings = self.bindings(tenant)?;
        for version in bindings.slots.values_mut().flat_map(|r| &mut r.versions) {
            version.config = self.version_config(tenant, version)?;
        }
        Ok(bindings)
    }

    /// A config of the tenant's rollouts by its sha256.
    pub fn config(&self, tenant: &str, sha256: &str) -> Result<Option<String>> {
        Ok(self
            .configs
            .get(key(tenant, sha256))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The config `version` runs with: its own when it carries one (a
    /// version not yet committed), else the stored one.
    pub fn version_config(&self, tenant: &str, version: &SlotVersion) -> Result<String> {
        if carries_config(version) {
            return Ok(version.config.clone());
        }
        self.config(tenant, &version.config_sha256)?.ok_or_else(|| {
            StorageError::Inconsistent(format!(
                "tenant {tenant}: config {} of version {} is missing",
                version.config_sha256, version.id
            ))
        })
    }

    pub fn put_bindings(&self, tenant: &str, bindings: &Bindings) -> Result<()> {
        let stale = self.unreferenced_configs(tenant, bindings)?;
        let stored = without_configs(bindings);
        (&self.bindings, &self.configs)
            .transaction(|(rollouts, configs)| {
                store_configs(configs, tenant, bindings, &stale)?;
                rollouts.insert(tenant.as_bytes(), encode(&stored))?;
                Ok(())
            })
            .map_err(configs_aborted)
    }

    /// The tenant's stored configs that no version of `bindings` names.
    fn unreferenced_configs(&self, tenant: &str, bindings: &Bindings) -> Result<Vec<Vec<u8>>> {
        let named: std::collections::HashSet<&str> = bindings
            .slots
            .values()
            .flat_map(|r| &r.versions)
            .map(|v| v.config_sha256.as_str())
            .collect();
        let p = prefix(tenant);
        let mut stale = Vec::new();
        for item in self.configs.scan_prefix(&p) {
            let (k, _) = item?;
            if !named.contains(String::from_utf8_lossy(&k[p.len()..]).as_ref()) {
                stale.push(k.to_vec());
            }
        }
        Ok(stale)
    }

    /// Once per database: rollout records written with their configs inline
    /// store them by sha256 instead.
    fn with_split_configs(self) -> Result<Storage> {
        if self.meta(CONFIGS_SPLIT)?.is_some() {
            return Ok(self);
        }
        for item in self.bindings.iter() {
            let (k, v) = item?;
            let tenant = String::from_utf8_lossy(&k).into_owned();
            let bindings: Bindings = decode(&k, &v)?;
            self.put_bindings(&tenant, &bindings)?;
        }
        self.put_meta(CONFIGS_SPLIT, "1")?;
        self.flush_blocking()?;
        Ok(self)
    }

    pub fn meta(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .meta
            .get(name.as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn put_meta(&self, name: &str, value: &str) -> Result<()> {
        self.meta.insert(name.as_bytes(), value.as_bytes())?;
        Ok(())
    }

    /// Write a tenant's rollouts and the audit event of the change together
    /// (configs as [`Storage::put_bindings`] stores them).
    pub fn commit_rollouts(
        &self,
        tenant: &str,
        rollouts: &Bindings,
        event: &AuditEvent,
    ) -> Result<()> {
        let entry_key = audit_key(event);
        let stale = self.unreferenced_configs(tenant, rollouts)?;
        let stored = without_configs(rollouts);
        (&self.bindings, &self.configs, &self.audit)
            .transaction(|(bindings, configs, audit)| {
                store_configs(configs, tenant, rollouts, &stale)?;
                bindings.insert(tenant.as_bytes(), encode(&stored))?;
                audit.insert(entry_key.clone(), encode(event))?;
                Ok(())
            })
            .map_err(configs_aborted)
    }

    // --- lifecycle: audit log and shadow statistics ---

    /// The tenant's newest `limit` lifecycle changes, oldest first.
    pub fn audit(&self, tenant: &str, limit: usize) -> Result<Vec<AuditEvent>> {
        Self::scan_newest(&self.audit, &prefix(tenant), limit)
    }

    fn shadow_key(tenant: &str, slot: Slot, version_id: u64) -> Vec<u8> {
        let mut k = key(tenant, slot.as_str());
        k.push(0);
        k.extend_from_slice(&version_id.to_be_bytes());
        k
    }

    pub fn shadow_stats(&self, tenant: &str, slot: Slot, version_id: u64) -> Result<ShadowStats> {
        Ok(Self::get(
            &self.shadow_stats,
            &Self::shadow_key(tenant, slot, version_id),
        )?
        .unwrap_or_default())
    }

    /// Read, change and write one version's shadow statistics atomically.
    pub fn update_shadow_stats(
        &self,
        tenant: &str,
        slot: Slot,
        version_id: u64,
        change: impl Fn(&mut ShadowStats),
    ) -> Result<()> {
        let k = Self::shadow_key(tenant, slot, version_id);
        self.shadow_stats.fetch_and_update(&k, |old| {
            let mut stats: ShadowStats = old
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            change(&mut stats);
            Some(encode(&stats))
        })?;
        Ok(())
    }

    // --- agents ---

    /// Store a new agent; false when one with that id exists (nothing written).
    pub fn insert_agent(&self, tenant: &str, agent: &Agent) -> Result<bool> {
        Self::insert_new(&self.agents, key(tenant, &agent.id), agent)
    }

    /// Store a new article; false when one with that id exists (nothing written).
    /// How many articles a tenant has and their stored bytes, leaving out
    /// `except` (the one about to be replaced). Reads lengths, decodes nothing.
    pub fn article_usage(&self, tenant: &str, except: Option<&str>) -> Result<(usize, u64)> {
        let skip = except.map(|id| key(tenant, id));
        let (mut count, mut bytes) = (0, 0);
        for item in self.articles.scan_prefix(prefix(tenant)) {
            let (k, v) = item?;
            if skip.as_deref() == Some(&k[..]) {
                continue;
            }
            count += 1;
            bytes += v.len() as u64;
        }
        Ok((count, bytes))
    }

    /// The stored size of `value`, as a quota counts it.
    pub fn stored_bytes<T: Serialize>(value: &T) -> u64 {
        encode(value).len() as u64
    }

    pub fn insert_article(&self, tenant: &str, article: &Article) -> Result<bool> {
        Self::insert_new(&self.articles, key(tenant, &article.id), article)
    }

    /// Write `value` under `k` only if nothing is there, atomically.
    fn insert_new<T: Serialize>(tree: &sled::Tree, k: Vec<u8>, value: &T) -> Result<bool> {
        Ok(tree
            .compare_and_swap(k, None as Option<&[u8]>, Some(encode(value)))?
            .is_ok())
    }

    /// Set an agent's live load (used to copy a tenant, not by routing).
    pub fn set_agent_load(&self, tenant: &str, agent: &str, load: u32) -> Result<()> {
        self.agent_load.insert(key(tenant, agent), encode(&load))?;
        Ok(())
    }

    pub fn put_agent(&self, tenant: &str, agent: &Agent) -> Result<()> {
        self.agents.insert(key(tenant, &agent.id), encode(agent))?;
        Ok(())
    }

    pub fn agent(&self, tenant: &str, id: &str) -> Result<Option<Agent>> {
        Self::get(&self.agents, &key(tenant, id))
    }

    /// One page of the tenant's agents, by id, each with its live load.
    pub fn agents_page(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<AgentWithLoad>> {
        let page = Self::scan_page::<Agent>(&self.agents, &prefix(tenant), after, limit, |_| true)?;
        let items = page
            .items
            .into_iter()
            .map(|agent| {
                let load =
                    Self::get::<u32>(&self.agent_load, &key(tenant, &agent.id))?.unwrap_or(0);
                Ok(AgentWithLoad { agent, load })
            })
            .collect::<Result<_>>()?;
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Open conversations assigned to an agent.
    pub fn agent_load(&self, tenant: &str, agent: &str) -> Result<u32> {
        Ok(Self::get::<u32>(&self.agent_load, &key(tenant, agent))?.unwrap_or(0))
    }

    /// How many agents the tenant has (keys only, nothing decoded).
    pub fn agent_count(&self, tenant: &str) -> Result<usize> {
        let mut count = 0;
        for item in self.agents.scan_prefix(prefix(tenant)).keys() {
            item?;
            count += 1;
        }
        Ok(count)
    }

    /// Every agent of the tenant, by id, with the open conversations assigned to them.
    pub fn agents(&self, tenant: &str) -> Result<Vec<AgentWithLoad>> {
        let agents: Vec<Agent> = Self::scan(&self.agents, &prefix(tenant))?;
        agents
            .into_iter()
            .map(|agent| {
                let load =
                    Self::get::<u32>(&self.agent_load, &key(tenant, &agent.id))?.unwrap_or(0);
                Ok(AgentWithLoad { agent, load })
            })
            .collect()
    }

    // --- knowledge articles ---

    pub fn put_article(&self, tenant: &str, article: &Article) -> Result<()> {
        self.articles
            .insert(key(tenant, &article.id), encode(article))?;
        Ok(())
    }

    /// Remove an article; false when there was none.
    pub fn delete_article(&self, tenant: &str, id: &str) -> Result<bool> {
        Ok(self.articles.remove(key(tenant, id))?.is_some())
    }

    pub fn article(&self, tenant: &str, id: &str) -> Result<Option<Article>> {
        Self::get(&self.articles, &key(tenant, id))
    }

    pub fn articles(&self, tenant: &str) -> Result<Vec<Article>> {
        Self::scan(&self.articles, &prefix(tenant))
    }

    /// One page of a tenant's articles by id; `published` filters.
    pub fn articles_page(
        &self,
        tenant: &str,
        published: Option<bool>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Article>> {
        Self::scan_page(
            &self.articles,
            &prefix(tenant),
            after,
            limit,
            |a: &Article| published.is_none_or(|p| a.published == p),
        )
    }

    // --- conversations, messages, tickets ---

    pub fn conversation(&self, tenant: &str, id: &str) -> Result<Option<Conversation>> {
        Ok(Self::get(&self.conversations, &key(tenant, id))?.map(Conversation::normalized))
    }

    /// The event hub the flusher publishes committed events to.
    pub fn event_hub(&self) -> &std::sync::Arc<crate::events::EventHub> {
        &self.commit.events
    }

    /// One message of a conversation by its id, read by key.
    pub fn message(
        &self,
        tenant: &str,
        conversation: &str,
        message_id: &str,
    ) -> Result<Option<MessageRecord>> {
        let Some(seq) = message_seq(message_id) else {
            return Ok(None);
        };
        Ok(
            Self::get::<MessageRecord>(&self.messages, &message_key(tenant, conversation, seq))?
                .filter(|m| m.id == message_id),
        )
    }

    /// Messages of a conversation, oldest first.
    pub fn messages(&self, tenant: &str, conversation: &str) -> Result<Vec<MessageRecord>> {
        let mut p = key(tenant, conversation);
        p.push(0);
        Self::scan(&self.messages, &p)
    }

    /// One page of a conversation's messages, oldest first.
    pub fn messages_page(
        &self,
        tenant: &str,
        conversation: &str,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<MessageRecord>> {
        let mut p = key(tenant, conversation);
        p.push(0);
        Self::scan_page(&self.messages, &p, after, limit, |_| true)
    }

    /// Every message of a tenant, by conversation then arrival. A full scan:
    /// for operator jobs such as blind-spot mining, not for serving messages.
    pub fn tenant_messages(&self, tenant: &str) -> Result<Vec<MessageRecord>> {
        Self::scan(&self.messages, &prefix(tenant))
    }

    /// The newest `limit` messages of a conversation, oldest first, as
    /// `conversation.history` shows them.
    pub fn recent_history(
        &self,
        tenant: &str,
        conversation: &str,
        limit: usize,
    ) -> Result<Vec<PastRecord>> {
        let mut p = key(tenant, conversation);
        p.push(0);
        Self::scan_newest(&self.history, &p, limit)
    }

    pub fn ticket(&self, tenant: &str, id: &str) -> Result<Option<Ticket>> {
        Self::get(&self.tickets, &key(tenant, id))
    }

    pub fn tickets(&self, tenant: &str) -> Result<Vec<Ticket>> {
        Self::scan(&self.tickets, &prefix(tenant))
    }

    /// One page of a tenant's tickets by id, or of one customer's (through
    /// the customer index, so the filter costs no scan of other customers'
    /// tickets); `status` filters.
    pub fn tickets_page(
        &self,
        tenant: &str,
        customer: Option<&str>,
        status: Option<TicketStatus>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Ticket>> {
        let wanted = |t: &Ticket| status.is_none_or(|s| t.status == s);
        match customer {
            None => Self::scan_page(&self.tickets, &prefix(tenant), after, limit, wanted),
            Some(customer) => {
                let mut p = key(tenant, customer);
                p.push(0);
                Self::page_keys(&self.customer_tickets, &p, after, limit, |k, _| {
                    let id = String::from_utf8_lossy(&k[p.len()..]);
                    Ok(self.ticket(tenant, &id)?.filter(wanted))
                })
            }
        }
    }

    pub fn put_ticket(&self, tenant: &str, ticket: &Ticket) -> Result<()> {
        self.tickets
            .insert(key(tenant, &ticket.id), encode(ticket))?;
        self.customer_tickets.insert(
            customer_ticket_key(tenant, &ticket.customer_id, &ticket.id),
            &[],
        )?;
        Ok(())
    }

    /// Open or pending tickets among the customer's newest
    /// [`MAX_CUSTOMER_TICKETS_SCANNED`], newest first. Every message reads
    /// this (the ticket slot asks): it decoded every ticket the customer ever
    /// had, so the cost of a message grew with the customer's history.
    /// Only what `tickets.open-tickets` shows is decoded ([`TicketHead`]):
    /// a ticket keeps up to 200 message ids and every fact.
    pub fn open_tickets_of(&self, tenant: &str, customer: &str) -> Result<Vec<TicketHead>> {
        let mut p = key(tenant, customer);
        p.push(0);
        let mut open = Vec::new();
        // Ids grow, so the index's last keys are the newest tickets (hex ids
        // of one length sort by value).
        for item in self
            .customer_tickets
            .scan_prefix(&p)
            .rev()
            .take(MAX_CUSTOMER_TICKETS_SCANNED)
        {
            let (k, _) = item?;
            let ticket_id = String::from_utf8_lossy(&k[p.len()..]).into_owned();
            if let Some(t) = Self::get::<TicketHead>(&self.tickets, &key(tenant, &ticket_id))?
                && matches!(t.status, TicketStatus::Open | TicketStatus::Pending)
            {
                open.push(t);
            }
        }
        open.sort_by(|a, b| b.created_at_ms.cmp(&a.created_at_ms).then(b.id.cmp(&a.id)));
        Ok(open)
    }

    /// Write a message with everything it changed, atomically: the
    /// conversation, the agents' loads, the ticket (returned as stored). Not
    /// durable until [`Storage::flush`]. Fails with [`StorageError::AgentFull`]
    /// when the assigned agent has no room left; nothing is written then.
    /// The server commits through [`Storage::commit_durably`] instead.
    pub fn commit_message(&self, commit: &Commit) -> Result<Applied> {
        let mut outcomes = self.commit_trees.apply(&[commit])?;
        outcomes.pop().expect("one outcome per commit")
    }

    /// [`Storage::commit_message`] through the flusher: applied in one
    /// transaction with the other messages queued meanwhile, and returned
    /// once a flush after it succeeded (durable). `intent` is the write's
    /// announcement ([`Storage::begin_write`]), ended as the commit queues.
    /// Blocks: call from a blocking thread.
    pub fn commit_durably(&self, commit: Commit, intent: Option<WriteIntent>) -> Result<Applied> {
        self.commit.commit_blocking(commit, intent)
    }

    /// Delete everything kept about one customer of a tenant: their
    /// conversations, messages and tickets, and store the audit event `audit`
    /// makes of what was deleted, in one transaction (after a crash both
    /// happened or neither did; agents' loads of open conversations are
    /// released); then the shadow-comparison examples quoting them.
    pub fn forget_customer(
        &self,
        tenant: &str,
        customer: &str,
        audit: impl Fn(&ForgetReport) -> AuditEvent,
    ) -> Result<ForgetReport> {
        // Indexes of the trees below the first seven in the transaction.
        const POSTS: usize = 7;
        const CONVERSATION_LIST: usize = 8;
        const CUSTOMER_CONVERSATIONS: usize = 9;
        const OUTBOX: usize = 10;
        const OUTBOX_DUE: usize = 11;
        const OUTBOX_CONVERSATION: usize = 12;
        let mut conversations = Vec::new();
        for item in self.conversations.scan_prefix(prefix(tenant)) {
            let (k, v) = item?;
            let c = decode::<Conversation>(&k, &v)?.normalized();
            if c.customer.id == customer {
                conversations.push(c);
            }
        }
        let mut message_keys = Vec::new();
        for c in &conversations {
            let mut p = key(tenant, &c.id);
            p.push(0);
            for item in self.messages.scan_prefix(p) {
                message_keys.push(item?.0);
            }
        }
        let mut index_prefix = key(tenant, customer);
        index_prefix.push(0);
        let mut ticket_keys = Vec::new();
        for item in self.customer_tickets.scan_prefix(&index_prefix) {
            let (k, _) = item?;
            let ticket = &k[index_prefix.len()..];
            ticket_keys.push((k.clone(), key(tenant, &String::from_utf8_lossy(ticket))));
        }
        // Their replies and notes, list entries, index entries and pending
        // deliveries (which quote the replies) go with them.
        let mut other_keys: Vec<(usize, Vec<u8>)> = Vec::new();
        for c in &conversations {
            let mut p = key(tenant, &c.id);
            p.push(0);
            for item in self.posts.scan_prefix(&p) {
                other_keys.push((POSTS, item?.0.to_vec()));
            }
            for item in self.outbox_conversation.scan_prefix(&p) {
                let (k, _) = item?;
                other_keys.push((OUTBOX_CONVERSATION, k.to_vec()));
            }
            other_keys.push((
                CONVERSATION_LIST,
                commit::list_key(
                    tenant,
                    c.status,
                    commit::list_since(c.status, c.waiting_since_ms, c.updated_at_ms),
                    &c.id,
                ),
            ));
            other_keys.push((
                CUSTOMER_CONVERSATIONS,
                commit::customer_conversation_key(tenant, customer, &c.id),
            ));
        }
        // Pending and dead deliveries, read once for all the conversations.
        if !conversations.is_empty() {
            for item in self.outbox.scan_prefix(prefix(tenant)) {
                let (k, v) = item?;
                let outbox_item: OutboxItem = decode(&k, &v)?;
                if conversations
                    .iter()
                    .any(|c| c.id == outbox_item.conversation_id)
                {
                    other_keys.push((OUTBOX, k.to_vec()));
                    other_keys.push((
                        OUTBOX_DUE,
                        outbox::due_key(outbox_item.next_attempt_ms, tenant, &outbox_item.id),
                    ));
                }
            }
        }
        let report = ForgetReport {
            conversations: conversations.len(),
            messages: message_keys.len(),
            tickets: ticket_keys.len(),
        };
        let event = audit(&report);
        let trees: [&sled::Tree; 13] = [
            &self.conversations,
            &self.messages,
            &self.history,
            &self.tickets,
            &self.customer_tickets,
            &self.agent_load,
            &self.audit,
            &self.posts,
            &self.conversation_list,
            &self.customer_conversations,
            &self.outbox,
            &self.outbox_due,
            &self.outbox_conversation,
        ];
        trees[..]
            .transaction(|views: &Vec<TxTree>| {
                let (convs, messages, history, tickets, index, loads, audit) = (
                    &views[0], &views[1], &views[2], &views[3], &views[4], &views[5], &views[6],
                );
                for c in &conversations {
                    convs.remove(key(tenant, &c.id))?;
                    if c.status.holds_agent()
                        && let Some(agent) = &c.assigned_agent
                    {
                        release_agent(loads, tenant, agent)?;
                    }
                }
                for k in &message_keys {
                    messages.remove(k.clone())?;
                    history.remove(k.clone())?;
                }
                for (index_key, ticket_key) in &ticket_keys {
                    index.remove(index_key.clone())?;
                    tickets.remove(ticket_key.clone())?;
                }
                for (tree, k) in &other_keys {
                    views[*tree].remove(k.clone())?;
                }
                audit.insert(audit_key(&event), encode(&event))?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(never_aborted)?;
        // Shadow examples quote messages; only records that quote this
        // customer's conversations are rewritten. The caller holds every
        // conversation of the tenant, so no message updates them meanwhile.
        let ids: Vec<&str> = conversations.iter().map(|c| c.id.as_str()).collect();
        for item in self.shadow_stats.scan_prefix(prefix(tenant)) {
            let (k, v) = item?;
            let mut stats: ShadowStats = decode(&k, &v)?;
            let before = stats.examples.len();
            stats
                .examples
                .retain(|e| !ids.contains(&e.conversation_id.as_str()));
            if stats.examples.len() != before {
                self.shadow_stats.insert(k, encode(&stats))?;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version_with_config(id: u64, config: &str) -> SlotVersion {
        SlotVersion {
            id,
            lane: "classifier".into(),
            name: "classifier".into(),
            version: "1".into(),
            sha256: "plugin".into(),
            config: config.into(),
            config_sha256: crate::runtime::sha256_hex(config.as_bytes()),
            state: RolloutState::Staged,
            percent: 0,
            limits: LimitOverrides::default(),
            staged_at_ms: 0,
            changed_at_ms: 0,
        }
    }

    fn rollouts_of(versions: Vec<SlotVersion>) -> Bindings {
        let mut slot = SlotRollout::default();
        for version in versions {
            slot.add(version);
        }
        let mut bindings = Bindings::default();
        bindings.slots.insert(Slot::Classify, slot);
        bindings
    }

    /// The defect: every rollout change rewrote every version's config
    /// inline, up to 16 MiB each.
    /// The event log keeps what is younger than the retention, and always
    /// its newest event (ids must keep growing after a restart).
    #[test]
    fn old_events_are_trimmed_but_the_newest_stays() {
        let storage = Storage::temporary().unwrap();
        let event = |at_ms: u64| Event {
            id: 0,
            at_ms,
            kind: EventKind::AgentStatus,
            conversation_id: None,
            message_id: None,
            queue: None,
            agent: Some("a".into()),
            status: None,
            detail: None,
        };
        for at in [100, 200, 300, 400] {
            storage
                .commit_message(&Commit {
                    tenant: "t".into(),
                    events: vec![event(at)],
                    ..Default::default()
                })
                .unwrap();
        }
        storage
            .commit_message(&Commit {
                tenant: "u".into(),
                events: vec![event(100)],
                ..Default::default()
            })
            .unwrap();
        // At the bound: an event at exactly the cut-off stays.
        assert_eq!(storage.trim_events("t", 300, 100).unwrap(), 2);
        let left: Vec<u64> = storage
            .events_after("t", 0, 10, 10)
            .unwrap()
            .iter()
            .map(|e| e.at_ms)
            .collect();
        assert_eq!(left, [300, 400]);
        // Everything old, but the newest is kept.
        assert_eq!(storage.trim_events("t", 10_000, 100).unwrap(), 1);
        assert_eq!(storage.events_after("t", 0, 10, 10).unwrap().len(), 1);
        assert_eq!(storage.last_event_id("t").unwrap(), 4);
        // Another tenant's log is its own.
        assert_eq!(storage.events_after("u", 0, 10, 10).unwrap().len(), 1);
        // The limit bounds one trim.
        for at in [500, 600, 700] {
            storage
                .commit_message(&Commit {
                    tenant: "t".into(),
                    events: vec![event(at)],
                    ..Default::default()
                })
                .unwrap();
        }
        assert_eq!(storage.trim_events("t", 10_000, 2).unwrap(), 2);
    }

    #[test]
    fn rollout_records_name_configs_and_each_is_stored_once() {
        let storage = Storage::temporary().unwrap();
        let big = "x".repeat(1 << 20);
        storage
            .put_bindings("t", &rollouts_of(vec![version_with_config(1, &big)]))
            .unwrap();
        let record = storage.bindings.get("t").unwrap().unwrap();
        assert!(record.len() < 1_000, "{} bytes", record.len());
        let stored = storage.bindings("t").unwrap();
        let version = &stored.slots[&Slot::Classify].versions[0];
        assert!(version.config.is_empty());
        assert_eq!(
            storage.config("t", &version.config_sha256).unwrap(),
            Some(big.clone())
        );
        assert_eq!(
            storage.config("other", &version.config_sha256).unwrap(),
            None
        );

        // A change that carries the config by name only keeps it.
        let mut changed = stored.clone();
        changed.slots.get_mut(&Slot::Classify).unwrap().versions[0].state = RolloutState::Active;
        changed
            .slots
            .get_mut(&Slot::Classify)
            .unwrap()
            .add(version_with_config(2, "small"));
        storage.put_bindings("t", &changed).unwrap();
        let filled = storage.bindings_with_configs("t").unwrap();
        let configs: Vec<&str> = filled.slots[&Slot::Classify]
            .versions
            .iter()
            .map(|v| v.config.as_str())
            .collect();
        assert_eq!(configs, [big.as_str(), "small"]);

        // A version dropped from the rollouts takes its config with it.
        let mut pruned = storage.bindings("t").unwrap();
        pruned
            .slots
            .get_mut(&Slot::Classify)
            .unwrap()
            .versions
            .remove(0);
        storage.put_bindings("t", &pruned).unwrap();
        assert_eq!(storage.configs.scan_prefix(prefix("t")).count(), 1);
        assert_eq!(storage.config("t", &version.config_sha256).unwrap(), None);
    }

    #[test]
    fn a_rollout_naming_a_config_nobody_stored_is_refused_and_writes_nothing() {
        let storage = Storage::temporary().unwrap();
        let mut version = version_with_config(1, "real");
        version.config = String::new();
        let before = storage.fingerprint().unwrap();
        let err = storage
            .put_bindings("t", &rollouts_of(vec![version]))
            .unwrap_err();
        assert!(err.to_string().contains("not stored"), "{err}");
        assert_eq!(storage.fingerprint().unwrap(), before);
        // The empty config is a config, not a missing one.
        storage
            .put_bindings("t", &rollouts_of(vec![version_with_config(2, "")]))
            .unwrap();
        let version =
            &storage.bindings_with_configs("t").unwrap().slots[&Slot::Classify].versions[0];
        assert_eq!(version.config, "");
    }

    /// A database written with configs inline has them moved at open, once.
    #[test]
    fn inline_configs_of_an_older_database_are_stored_by_sha256_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let config = "{\"threshold\": 0.7}";
        {
            let storage = Storage::open(dir.path()).unwrap();
            storage
                .bindings
                .insert(
                    "t",
                    encode(&rollouts_of(vec![version_with_config(1, config)])),
                )
                .unwrap();
            storage.meta.remove(CONFIGS_SPLIT).unwrap();
            storage.flush_blocking().unwrap();
        }
        let storage = Storage::open(dir.path()).unwrap();
        let stored = storage.bindings("t").unwrap();
        let version = &stored.slots[&Slot::Classify].versions[0];
        assert!(version.config.is_empty());
        assert_eq!(storage.version_config("t", version).unwrap(), config);
    }

    fn message(id: &str, conversation: &str) -> MessageRecord {
        MessageRecord {
            id: id.into(),
            conversation_id: conversation.into(),
            text: "hi".into(),
            channel: "web".into(),
            customer: Customer {
                id: "c".into(),
                tier: Tier::Standard,
                tags: vec![],
            },
            received_at_ms: 0,
            decision: serde_json::from_value(serde_json::json!({
                "intent": {"name": "x", "confidence": 1.0}, "alternatives": [], "entities": [], "findings": [],
                "masked_text": null, "escalation": {"escalate": false, "reasons": []},
                "route": {"to": "agent", "queue": "q", "agent": "a", "priority": 0, "reason": ""},
                "reply": null, "suggestions": [], "ticket": null, "trace": []
            }))
            .unwrap(),
            correction: None,
        }
    }

    /// An open refund ticket of `customer` in conversation "c".
    fn ticket(id: impl Into<String>, customer: &str) -> Ticket {
        Ticket {
            id: id.into(),
            conversation_id: "c".into(),
            customer_id: customer.into(),
            intent: "refund".into(),
            title: "refund".into(),
            department: "after-sales".into(),
            priority: 3,
            summary: "s".into(),
            facts: vec![],
            status: TicketStatus::Open,
            created_at_ms: 0,
            updated_at_ms: 0,
            message_ids: vec![],
            agent: None,
            last_conversation_id: None,
        }
    }

    fn conversation(id: &str, agent: Option<&str>) -> Conversation {
        Conversation {
            id: id.into(),
            customer: message("m", id).customer,
            status: if agent.is_some() {
                ConversationStatus::Assigned
            } else {
                ConversationStatus::Bot
            },
            assigned_agent: agent.map(str::to_string),
            queue: None,
            created_at_ms: 0,
            updated_at_ms: 0,
            message_count: 1,
            channel: "web".into(),
            priority: 0,
            waiting_since_ms: None,
            resolved_at_ms: None,
            resolved_by: None,
            last_agent: None,
            survey: None,
            summary: None,
            state: Default::default(),
        }
    }

    /// A database from before the `history` tree: its messages get their
    /// history lines at the next open, and the history reads them.
    #[test]
    fn messages_stored_before_history_lines_get_them_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let storage = Storage::open(dir.path()).unwrap();
            for i in 1..=3u64 {
                let mut m = message(&format!("m-{i}"), "c1");
                m.text = format!("text {i}");
                storage
                    .commit_message(&Commit {
                        tenant: "t".into(),
                        conversation: Some(conversation("c1", None)),
                        released_agent: None,
                        assigned_agent: None,
                        message: Some(m),
                        ticket: None,
                        ..Default::default()
                    })
                    .unwrap();
            }
            // As the old code left it: records, no lines, no mark.
            storage.history.clear().unwrap();
            storage.meta.remove(HISTORY_LINES_BUILT).unwrap();
            storage.flush_blocking().unwrap();
            assert!(storage.recent_history("t", "c1", 10).unwrap().is_empty());
        }
        let storage = Storage::open(dir.path()).unwrap();
        let texts: Vec<String> = storage
            .recent_history("t", "c1", 10)
            .unwrap()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(texts, ["text 1", "text 2", "text 3"]);
        assert!(storage.meta(HISTORY_LINES_BUILT).unwrap().is_some());
    }

    /// Drafts quote their example messages through this: by key, one
    /// record, never the whole conversation.
    #[test]
    fn a_message_is_read_by_its_id_within_its_tenant_and_conversation() {
        let storage = Storage::temporary().unwrap();
        for (tenant, id) in [("t", "m-1f"), ("t", "m-20"), ("u", "m-1f")] {
            let mut m = message(id, "c1");
            m.text = format!("{tenant} {id}");
            let commit = Commit {
                tenant: tenant.into(),
                conversation: Some(conversation("c1", None)),
                released_agent: None,
                assigned_agent: None,
                message: Some(m),
                ticket: None,
                ..Default::default()
            };
            storage.commit_message(&commit).unwrap();
        }
        let text = |tenant: &str, conversation: &str, id: &str| {
            storage
                .message(tenant, conversation, id)
                .unwrap()
                .map(|m| m.text)
        };
        assert_eq!(text("t", "c1", "m-1f").as_deref(), Some("t m-1f"));
        assert_eq!(text("u", "c1", "m-1f").as_deref(), Some("u m-1f"));
        assert_eq!(text("t", "c1", "m-21"), None);
        assert_eq!(text("t", "c2", "m-20"), None);
        assert_eq!(text("t", "c1", "not-an-id"), None);
        // Another id that parses to the same number is not that message.
        assert_eq!(text("t", "c1", "x-1f"), None);
    }

    #[test]
    fn history_reads_the_stored_records_fields_newest_last() {
        let storage = Storage::temporary().unwrap();
        for i in 0..5u64 {
            let mut m = message(&format!("m-{i}"), "c1");
            m.text = format!("text {i}");
            m.received_at_ms = 1_000 + i;
            m.decision.escalation.escalate = i == 3;
            let mut conv = conversation("c1", None);
            conv.message_count = i as u32 + 1;
            let commit = Commit {
                tenant: "t".into(),
                conversation: Some(conv),
                released_agent: None,
                assigned_agent: None,
                message: Some(m),
                ticket: None,
                ..Default::default()
            };
            storage.commit_message(&commit).unwrap();
        }
        let past = storage.recent_history("t", "c1", 3).unwrap();
        let seen: Vec<(&str, &str, u64, bool, &str)> = past
            .iter()
            .map(|p| {
                (
                    p.id.as_str(),
                    p.text.as_str(),
                    p.received_at_ms,
                    p.decision.escalation.escalate,
                    p.decision.intent.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("m-2", "text 2", 1_002, false, "x"),
                ("m-3", "text 3", 1_003, true, "x"),
                ("m-4", "text 4", 1_004, false, "x"),
            ]
        );
    }

    /// Tenant "t" gets an online agent "a" with `capacity`.
    fn put_agent_a(storage: &Storage, capacity: u32) {
        let agent = Agent {
            id: "a".into(),
            name: "A".into(),
            skills: vec![],
            capacity,
            status: AgentStatus::Online,
        };
        storage.put_agent("t", &agent).unwrap();
    }

    /// Message `seq` of conversation `conv`, which it assigns to `agent`.
    fn assigning(conv: &str, seq: &str, agent: Option<&str>) -> Commit {
        Commit {
            tenant: "t".into(),
            conversation: Some(conversation(conv, agent)),
            released_agent: None,
            assigned_agent: agent.map(str::to_string),
            message: Some(message(seq, conv)),
            ticket: None,
            ..Default::default()
        }
    }

    #[test]
    fn an_agent_at_capacity_is_not_assigned_and_nothing_is_written() {
        let storage = Storage::temporary().unwrap();
        put_agent_a(&storage, 1);
        storage
            .commit_message(&assigning("c1", "m-1", Some("a")))
            .unwrap();
        let err = storage
            .commit_message(&assigning("c2", "m-2", Some("a")))
            .unwrap_err();
        assert!(
            matches!(err, StorageError::AgentFull(ref a) if a == "a"),
            "{err}"
        );
        assert!(
            storage.conversation("t", "c2").unwrap().is_none(),
            "nothing written"
        );
        assert_eq!(storage.agents("t").unwrap()[0].load, 1);
    }

    /// Commits queued together are applied in one transaction: a commit
    /// refused there (its agent filled up by an earlier commit of the same
    /// batch) writes nothing, and the others are written.
    #[test]
    fn one_refused_commit_in_a_batch_leaves_the_others_written() {
        let storage = Storage::temporary().unwrap();
        put_agent_a(&storage, 2);
        let batch = [
            assigning("c1", "m-1", Some("a")),
            assigning("c2", "m-2", Some("a")),
            assigning("c3", "m-3", Some("a")),
            assigning("c4", "m-4", None),
        ];
        let outcomes = storage
            .commit_trees
            .apply(&batch.iter().collect::<Vec<_>>())
            .unwrap();
        let refused: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
        assert_eq!(refused, [false, false, true, false]);
        assert!(matches!(&outcomes[2], Err(StorageError::AgentFull(a)) if a == "a"));
        assert!(
            storage.conversation("t", "c3").unwrap().is_none(),
            "nothing of c3"
        );
        assert_eq!(
            storage
                .messages_page("t", "c3", None, 10)
                .unwrap()
                .items
                .len(),
            0
        );
        for written in ["c1", "c2", "c4"] {
            assert!(
                storage.conversation("t", written).unwrap().is_some(),
                "{written}"
            );
        }
        assert_eq!(
            storage.agents("t").unwrap()[0].load,
            2,
            "exactly at capacity"
        );
    }

    /// Many threads committing through the flusher: every commit is applied
    /// once, and they share transactions and flushes.
    #[test]
    fn concurrent_durable_commits_share_flushes_and_all_land() {
        let storage = Storage::temporary().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let storage = storage.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let conv = format!("c{t}");
                        let mut conversation = conversation(&conv, None);
                        conversation.message_count = i as u32 + 1;
                        let write = storage.begin_write();
                        storage
                            .commit_durably(
                                Commit {
                                    tenant: "t".into(),
                                    conversation: Some(conversation),
                                    released_agent: None,
                                    assigned_agent: None,
                                    message: Some(message(
                                        &format!("m-{:x}", t * 100 + i + 1),
                                        &conv,
                                    )),
                                    ticket: None,
                                    ..Default::default()
                                },
                                Some(write),
                            )
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for t in 0..8 {
            let conv = format!("c{t}");
            let stored = storage.messages_page("t", &conv, None, 100).unwrap().items;
            assert_eq!(stored.len(), 25, "{conv}");
            assert_eq!(
                storage
                    .conversation("t", &conv)
                    .unwrap()
                    .unwrap()
                    .message_count,
                25
            );
        }
        let health = storage.flush_health();
        assert_eq!(health.waiting, 0);
        assert!(health.flushes >= 1 && health.flushes <= 200, "{health:?}");
    }

    #[test]
    fn a_ticket_update_keeps_a_status_set_meanwhile() {
        let storage = Storage::temporary().unwrap();
        let ticket = Ticket {
            message_ids: vec!["m-1".into()],
            agent: None,
            last_conversation_id: None,
            ..ticket("t-1", "c")
        };
        storage.put_ticket("t", &ticket).unwrap();
        // An agent marks it pending after the message read it, before it
        // commits (a status change commits on the ticket as stored, too).
        storage
            .commit_message(&Commit {
                tenant: "t".into(),
                ticket: Some(TicketChange::Status {
                    id: "t-1".into(),
                    status: TicketStatus::Pending,
                    at_ms: 1,
                }),
                ..Default::default()
            })
            .unwrap();
        let stored = storage
            .commit_message(&Commit {
                tenant: "t".into(),
                conversation: Some(conversation("c", None)),
                released_agent: None,
                assigned_agent: None,
                message: Some(message("m-2", "c")),
                ticket: Some(TicketChange::Update {
                    id: "t-1".into(),
                    facts: vec![TicketFact {
                        key: "order-id".into(),
                        value: "42".into(),
                    }],
                    priority: 5,
                    summary: "again".into(),
                    message_id: "m-2".into(),
                    at_ms: 1,
                }),
                ..Default::default()
            })
            .unwrap()
            .ticket
            .unwrap();
        assert_eq!(stored.status, TicketStatus::Pending);
        assert_eq!(stored.priority, 5);
        assert_eq!(stored.message_ids, ["m-1", "m-2"]);
        assert_eq!(storage.ticket("t", "t-1").unwrap().unwrap().facts.len(), 1);
    }

    /// Regression (issue 14): every update appended to `message_ids`, so a
    /// customer writing all day to one open ticket made each commit rewrite
    /// an ever longer record.
    #[test]
    fn a_ticket_keeps_only_its_newest_message_ids() {
        use crate::quotas::MAX_TICKET_MESSAGE_IDS;
        let storage = Storage::temporary().unwrap();
        let ticket = Ticket {
            message_ids: vec!["m-0".into()],
            agent: None,
            last_conversation_id: None,
            ..ticket("t-1", "c")
        };
        storage.put_ticket("t", &ticket).unwrap();
        let update = |i: usize| {
            let id = format!("m-{i:x}");
            storage
                .commit_message(&Commit {
                    tenant: "t".into(),
                    conversation: Some(conversation("c", None)),
                    released_agent: None,
                    assigned_agent: None,
                    message: Some(message(&id, "c")),
                    ticket: Some(TicketChange::Update {
                        id: "t-1".into(),
                        facts: vec![],
                        priority: 3,
                        summary: "again".into(),
                        message_id: id.clone(),
                        at_ms: i as u64,
                    }),
                    ..Default::default()
                })
                .unwrap()
                .ticket
                .unwrap()
        };
        // At the bound: every id kept.
        for i in 1..MAX_TICKET_MESSAGE_IDS - 1 {
            update(i);
        }
        let at_bound = update(MAX_TICKET_MESSAGE_IDS - 1);
        assert_eq!(at_bound.message_ids.len(), MAX_TICKET_MESSAGE_IDS);
        assert_eq!(at_bound.message_ids[0], "m-0");
        // One over: the oldest goes, the newest is there.
        let over = update(MAX_TICKET_MESSAGE_IDS);
        assert_eq!(over.message_ids.len(), MAX_TICKET_MESSAGE_IDS);
        assert_eq!(over.message_ids[0], "m-1");
        assert_eq!(
            over.message_ids.last().unwrap(),
            &format!("m-{MAX_TICKET_MESSAGE_IDS:x}")
        );
    }

    /// Regression (issue 14): every message decoded every ticket its
    /// customer ever had; the walk now stops at the newest 100.
    #[test]
    fn open_tickets_look_at_the_customers_newest_tickets_only() {
        let storage = Storage::temporary().unwrap();
        let ticket = |n: usize| Ticket {
            created_at_ms: n as u64,
            updated_at_ms: n as u64,
            message_ids: vec![],
            agent: None,
            last_conversation_id: None,
            ..ticket(format!("t-{:x}", 0x100 + n), "cust")
        };
        for n in 0..MAX_CUSTOMER_TICKETS_SCANNED {
            storage.put_ticket("t", &ticket(n)).unwrap();
        }
        let at_bound = storage.open_tickets_of("t", "cust").unwrap();
        assert_eq!(at_bound.len(), MAX_CUSTOMER_TICKETS_SCANNED);
        assert_eq!(
            at_bound.last().unwrap().id,
            "t-100",
            "the oldest is still seen"
        );
        storage
            .put_ticket("t", &ticket(MAX_CUSTOMER_TICKETS_SCANNED))
            .unwrap();
        let over = storage.open_tickets_of("t", "cust").unwrap();
        assert_eq!(over.len(), MAX_CUSTOMER_TICKETS_SCANNED);
        assert_eq!(
            over[0].id,
            format!("t-{:x}", 0x100 + MAX_CUSTOMER_TICKETS_SCANNED)
        );
        assert!(
            over.iter().all(|t| t.id != "t-100"),
            "one over: the oldest drops out"
        );
    }

    #[test]
    fn a_tenant_update_changes_only_its_fields_of_the_stored_record() {
        let storage = Storage::temporary().unwrap();
        let tenant = Tenant {
            id: "t".into(),
            name: "t".into(),
            key_hash: "old-hash".into(),
            created_at_ms: 0,
            key_rotated_at_ms: 0,
            previous_key_hash: None,
            previous_key_expires_ms: 0,
            limits: LimitOverrides::default(),
            settings: TenantSettings::default(),
            channel: None,
        };
        storage.put_tenant(&tenant).unwrap();
        let event = |action: &str| AuditEvent {
            id: storage.next_id("t").unwrap(),
            at_ms: 0,
            tenant: "t".into(),
            slot: None,
            action: action.into(),
            actor: Actor {
                kind: "test".into(),
                key: None,
            },
            from: vec![],
            to: vec![],
            reason: String::new(),
        };
        // A limits change read the record before the key was rotated; it
        // must not write the old key back.
        let read_before_rotation = storage.tenant("t").unwrap().unwrap();
        storage
            .update_tenant(
                "t",
                |t| t.key_hash = "new-hash".into(),
                &event("rotate-key"),
            )
            .unwrap();
        let limits = LimitOverrides {
            fuel: Some(1_000_000),
            ..read_before_rotation.limits
        };
        let written = storage
            .update_tenant("t", |t| t.limits = limits.clone(), &event("limits"))
            .unwrap();
        assert_eq!(written.key_hash, "new-hash");
        assert_eq!(
            storage.tenant_by_key_hash("new-hash").unwrap().as_deref(),
            Some("t")
        );
        assert_eq!(storage.tenant_by_key_hash("old-hash").unwrap(), None);
        assert_eq!(
            storage.tenant("t").unwrap().unwrap().limits.fuel,
            Some(1_000_000)
        );
        // A tenant that does not exist is an error, and nothing is written.
        assert!(
            storage
                .update_tenant("nobody", |_| {}, &event("limits"))
                .is_err()
        );
        assert!(storage.tenant("nobody").unwrap().is_none());
    }
}
