//! Group commit: one flusher thread makes writes durable for every waiter at
//! once, so N concurrent requests share one fsync instead of calling the
//! store's flush N times.
//!
//! Why one thread: sled 0.34.7 (its last release) deadlocks when several
//! `flush_async` calls run at once (spacejam/sled#1308, fixed only on an
//! unreleased branch; #1412 "deadlock under high load"). The server froze for
//! good after a few hundred messages under 16 connections. Here only the
//! flusher ever flushes, with the synchronous `Db::flush`.
//!
//! The guarantee: a waiter is queued after its write returned; the flusher
//! takes the whole queue and only then starts a flush, so that flush covers
//! every queued waiter's write. A waiter is answered only by a flush that
//! began after it was queued.
//!
//! On shutdown the flusher drains: it exits only once no waiter is queued,
//! so a request that wrote is never left waiting forever.
//!
//! Commit delay: a flush as soon as one waiter is queued shared 1.27
//! messages per flush at 64 connections (the plugins finish messages one at
//! a time, two cores' worth), and each flush costs the store a sealed
//! buffer, a write, a sync and a wake of every sled IO thread. Writers
//! announce themselves ([`GroupCommit::begin_write`]) before their work; when
//! a waiter is queued while other writers are still at work, the flusher
//! waits for them, at most `commit_delay` after the oldest waiter was
//! queued, so they share the flush (PostgreSQL's `commit_delay` with
//! `commit_siblings`). With no other writer at work (one connection) it
//! flushes at once.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::events::{EventHub, LiveEvent};
use crate::model::Entry;
use crate::storage::{Commit, CommitTrees, StorageError};

/// Whether an acknowledged write is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Acknowledge after a flush that began after the write (the default).
    #[default]
    GroupCommit,
    /// Acknowledge at once; the store is flushed only on shutdown. For
    /// measuring the ceiling a durable server is compared with, never for data
    /// anyone needs.
    Off,
}

type FlushResult = Result<(), Arc<str>>;

enum Waiter {
    Async(tokio::sync::oneshot::Sender<FlushResult>),
    Blocking(std::sync::mpsc::SyncSender<FlushResult>),
}

impl Waiter {
    fn answer(self, result: FlushResult) {
        // A waiter that went away (its request was dropped) needs no answer.
        let _ = match self {
            Waiter::Async(tx) => tx.send(result),
            Waiter::Blocking(tx) => tx.send(result).map_err(|e| e.0),
        };
    }
}

type CommitResult = crate::storage::Result<crate::storage::Applied>;

/// A change's writes, queued for the flusher to apply with the others.
struct PendingCommit {
    commit: Commit,
    answer: std::sync::mpsc::SyncSender<CommitResult>,
}

#[derive(Default)]
struct Queue {
    /// Message commits to apply, in one transaction, before the next flush.
    commits: Vec<PendingCommit>,
    waiting: Vec<Waiter>,
    /// When the oldest waiter in `waiting` was queued.
    oldest: Option<Instant>,
    /// When the flush in progress began, if one is.
    flushing_since: Option<Instant>,
    last_success: Option<Instant>,
    last_error: Option<Arc<str>>,
    flushes: u64,
    waiters_answered: u64,
    shutdown: bool,
    /// Writers between [`GroupCommit::begin_write`] and their wait: they will
    /// queue soon, so a flush may wait for them.
    writers: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    work: Condvar,
    started: Instant,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Nothing is left half-changed under this lock.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What `/healthz` reports about durability.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FlushHealth {
    pub durability: &'static str,
    /// Writes waiting for a flush now.
    pub waiting: usize,
    /// How long the oldest of them, or the flush in progress, has waited.
    pub stuck_ms: u64,
    /// Time since the last flush that succeeded (since start if none has).
    pub since_last_flush_ms: u64,
    pub flushes: u64,
    /// Waiters answered per flush, on average: how much group commit shares.
    pub mean_batch: f64,
    pub last_error: Option<String>,
}

/// Longest a flush waits for writers still at work, by default. At 64
/// connections: no delay shared 1.27 messages per flush, 1 ms 3.9, 3 ms 5.9
/// (BENCHMARKS.md); one connection never waits (no other writer).
pub const DEFAULT_COMMIT_DELAY: Duration = Duration::from_millis(3);

pub struct GroupCommit {
    shared: Arc<Shared>,
    /// Where committed events are published once durable.
    pub events: Arc<EventHub>,
    mode: Durability,
    flusher: Option<JoinHandle<()>>,
}

/// A write under way that will wait for durability: held from before the
/// write until its commit is queued ([`GroupCommit::commit_blocking`]), so
/// the flusher knows that one is coming. Dropped without waiting (the write
/// failed), it simply stops counting.
pub struct WriteIntent {
    shared: Option<Arc<Shared>>,
}

impl Drop for WriteIntent {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let mut queue = shared.queue();
            queue.writers -= 1;
            let last =
                queue.writers == 0 && !(queue.waiting.is_empty() && queue.commits.is_empty());
            drop(queue);
            if last {
                shared.work.notify_one();
            }
        }
    }
}

impl GroupCommit {
    /// Start the flusher thread for `db`; a flush waits at most
    /// `commit_delay` for writers still at work.
    pub(crate) fn start(
        db: sled::Db,
        trees: CommitTrees,
        mode: Durability,
        commit_delay: Duration,
    ) -> GroupCommit {
        let events = Arc::new(EventHub::default());
        let hub = events.clone();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            started: Instant::now(),
        });
        let thread_shared = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("sy-flusher".into())
            .spawn(move || flusher(&thread_shared, &db, &trees, &hub, mode, commit_delay))
            .expect("the flusher thread starts");
        GroupCommit {
            shared,
            events,
            mode,
            flusher: Some(flusher),
        }
    }

    /// Announce a write that will commit through the flusher (see the
    /// module's commit delay). Counted with durability off too: the delay
    /// also gathers the commits into one transaction, and a ceiling without
    /// it measured slower than the durable server (one transaction per
    /// message at 64 connections).
    pub fn begin_write(&self) -> WriteIntent {
        self.shared.queue().writers += 1;
        WriteIntent {
            shared: Some(self.shared.clone()),
        }
    }

    fn enqueue(&self, waiter: Waiter) {
        self.enqueue_with(|queue| queue.waiting.push(waiter), None);
    }

    /// Apply `commit` with the other queued commits in one transaction and
    /// return once a flush after it succeeded (or at once, with durability
    /// off). Blocks.
    pub fn commit_blocking(&self, commit: Commit, intent: Option<WriteIntent>) -> CommitResult {
        let (answer, outcome) = std::sync::mpsc::sync_channel(1);
        self.enqueue_with(
            |queue| queue.commits.push(PendingCommit { commit, answer }),
            intent,
        );
        outcome
            .recv()
            .unwrap_or_else(|_| Err(StorageError::Flush(Arc::from("the flusher stopped"))))
    }

    /// Queue a waiter or a commit; the intent, if any, ends in the same
    /// step, so the flusher never sees the writer gone before it queued.
    fn enqueue_with(&self, push: impl FnOnce(&mut Queue), mut intent: Option<WriteIntent>) {
        let mut queue = self.shared.queue();
        let first = queue.waiting.is_empty() && queue.commits.is_empty();
        if first {
            queue.oldest = Some(Instant::now());
        }
        push(&mut queue);
        if let Some(intent) = intent.as_mut()
            && intent.shared.take().is_some()
        {
            queue.writers -= 1;
        }
        // Wake the flusher only when it has something new to decide: its
        // first waiter, or the last writer it may be waiting for. Each wake
        // is a system call and a context switch.
        let wake = first || queue.writers == 0;
        drop(queue);
        if wake {
            self.shared.work.notify_one();
        }
    }

    /// Wait until every write that returned before this call is durable.
    pub async fn wait(&self) -> FlushResult {
        if self.mode == Durability::Off {
            return Ok(());
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(Waiter::Async(tx));
        rx.await
            .unwrap_or_else(|_| Err(Arc::from("the flusher stopped")))
    }

    /// [`GroupCommit::wait`] for threads that may block.
    pub fn wait_blocking(&self) -> FlushResult {
        if self.mode == Durability::Off {
            return Ok(());
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.enqueue(Waiter::Blocking(tx));
        rx.recv()
            .unwrap_or_else(|_| Err(Arc::from("the flusher stopped")))
    }

    pub fn health(&self) -> FlushHealth {
        let queue = self.shared.queue();
        let now = Instant::now();
        let stuck_since = match (queue.oldest, queue.flushing_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let ms = |d: Duration| d.as_millis() as u64;
        FlushHealth {
            durability: match self.mode {
                Durability::GroupCommit => "group-commit",
                Durability::Off => "off",
            },
            waiting: queue.waiting.len() + queue.commits.len(),
            stuck_ms: stuck_since.map_or(0, |t| ms(now - t)),
            since_last_flush_ms: ms(now - queue.last_success.unwrap_or(self.shared.started)),
            flushes: queue.flushes,
            mean_batch: if queue.flushes == 0 {
                0.0
            } else {
                queue.waiters_answered as f64 / queue.flushes as f64
            },
            last_error: queue.last_error.as_deref().map(str::to_string),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.queue().shutdown = true;
        self.shared.work.notify_one();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }
}

fn flusher(
    shared: &Shared,
    db: &sled::Db,
    trees: &CommitTrees,
    hub: &EventHub,
    mode: Durability,
    commit_delay: Duration,
) {
    loop {
        let (commits, batch) = {
            let mut queue = shared.queue();
            while queue.waiting.is_empty() && queue.commits.is_empty() && !queue.shutdown {
                queue = shared.work.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
            if queue.waiting.is_empty() && queue.commits.is_empty() {
                break; // shut down, and nobody is waiting: drained
            }
            // Writers still at work will queue soon: let them share this
            // flush, for at most `commit_delay` after the oldest waiter.
            let deadline = queue.oldest.unwrap_or_else(Instant::now) + commit_delay;
            while queue.writers > 0 && !queue.shutdown {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                queue = shared
                    .work
                    .wait_timeout(queue, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            queue.oldest = None;
            queue.flushing_since = Some(Instant::now());
            (
                std::mem::take(&mut queue.commits),
                std::mem::take(&mut queue.waiting),
            )
        };
        let outcomes = apply_commits(trees, &commits);
        let result: FlushResult = if mode == Durability::Off {
            Ok(())
        } else {
            db.flush()
                .map(|_| ())
                .map_err(|e| Arc::from(format!("flushing the store: {e}")))
        };
        {
            let mut queue = shared.queue();
            queue.flushing_since = None;
            match &result {
                Ok(()) => {
                    queue.last_success = Some(Instant::now());
                    queue.flushes += 1;
                    queue.waiters_answered += (batch.len() + commits.len()) as u64;
                }
                Err(e) => {
                    tracing::error!("{e}");
                    queue.last_error = Some(e.clone());
                }
            }
        }
        for (mut pending, outcome) in commits.into_iter().zip(outcomes) {
            // Written but not durable is not acknowledged, nor published.
            let answer = match (&result, outcome) {
                (Err(e), Ok(_)) => Err(StorageError::Flush(e.clone())),
                (_, outcome) => outcome,
            };
            if let Ok(applied) = &answer {
                publish(hub, &mut pending.commit, &applied.events);
            }
            let _ = pending.answer.send(answer);
        }
        for waiter in batch {
            waiter.answer(result.clone());
        }
    }
    // Writes acknowledged with durability off reach the disk at shutdown.
    if mode == Durability::Off
        && let Err(e) = db.flush()
    {
        tracing::error!("flushing the store at shutdown: {e}");
    }
}

/// Hand a durable commit's events to the tenant's subscribers, with the
/// entries they name (built only when someone listens).
fn publish(hub: &EventHub, commit: &mut Commit, events: &[crate::model::Event]) {
    let Some(last) = events.last() else {
        return;
    };
    if !hub.has_subscribers(&commit.tenant) {
        hub.publish(&commit.tenant, last.id, vec![]);
        return;
    }
    let tenant: Arc<str> = Arc::from(commit.tenant.as_str());
    let message = commit.message.take().map(|m| Arc::new(Entry::customer(m)));
    let posts: Vec<Arc<Entry>> = std::mem::take(&mut commit.posts)
        .into_iter()
        .map(|p| Arc::new(Entry::Post(p)))
        .collect();
    let entry_of = |id: &str| {
        message
            .iter()
            .chain(posts.iter())
            .find(|e| e.id() == id)
            .cloned()
    };
    let live = events
        .iter()
        .map(|event| {
            Arc::new(LiveEvent {
                tenant: tenant.clone(),
                event: event.clone(),
                entry: event.message_id.as_deref().and_then(entry_of),
            })
        })
        .collect();
    hub.publish(&commit.tenant, last.id, live);
}

/// Apply the queued commits in one transaction; one outcome each.
fn apply_commits(trees: &CommitTrees, commits: &[PendingCommit]) -> Vec<CommitResult> {
    if commits.is_empty() {
        return Vec::new();
    }
    let refs: Vec<&Commit> = commits.iter().map(|p| &p.commit).collect();
    match trees.apply(&refs) {
        Ok(outcomes) => outcomes,
        Err(e) => {
            tracing::error!("applying {} message commits: {e}", commits.len());
            let shared: Arc<str> = Arc::from(e.to_string());
            commits
                .iter()
                .map(|_| Err(StorageError::Flush(shared.clone())))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trees(db: &sled::Db) -> CommitTrees {
        CommitTrees::open(db).unwrap()
    }

    #[test]
    fn many_waiters_share_flushes_and_all_are_answered() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let commit = Arc::new(GroupCommit::start(
            db.clone(),
            trees(&db),
            Durability::GroupCommit,
            DEFAULT_COMMIT_DELAY,
        ));
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (db, commit) = (db.clone(), commit.clone());
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        db.insert(format!("{t}-{i}"), &i.to_be_bytes()).unwrap();
                        commit.wait_blocking().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let health = commit.health();
        assert_eq!(health.waiting, 0);
        assert!(health.flushes >= 1 && health.flushes <= 800, "{health:?}");
        assert_eq!(
            (health.mean_batch * health.flushes as f64).round() as u64,
            800,
            "every waiter answered exactly once: {health:?}"
        );
    }

    /// Regression: a flusher that exits on shutdown while a waiter is queued
    /// leaves that waiter hanging forever. It must drain first.
    #[test]
    fn shutdown_drains_the_queue_before_the_flusher_exits() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let commit = GroupCommit::start(
            db.clone(),
            trees(&db),
            Durability::GroupCommit,
            DEFAULT_COMMIT_DELAY,
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        {
            let mut queue = commit.shared.queue();
            // Queued and shut down in one step: the flusher sees both at once.
            queue.waiting.push(Waiter::Blocking(tx));
            queue.oldest = Some(Instant::now());
            queue.shutdown = true;
        }
        commit.shared.work.notify_one();
        drop(commit);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(Ok(())));
    }
}
