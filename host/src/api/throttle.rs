//! Request rate limits per API key, and a cap on how many messages of one
//! tenant run through plugins at once, so one busy or hostile tenant holds
//! at most that many worker threads. The default cap is twice the cores;
//! a tenant whose plugin runs to its deadline gets one request at a time
//! for a while. What a looping neighbour then costs others is measured by the
//! isolation benchmark (BENCHMARKS.md).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// How many requests a key may make: `per_second` on average, up to `burst`
/// at once.
#[derive(Clone, Copy, Debug)]
pub struct RatePolicy {
    pub per_second: f64,
    pub burst: f64,
}

impl Default for RatePolicy {
    fn default() -> Self {
        RatePolicy {
            per_second: 1_000.0,
            burst: 2_000.0,
        }
    }
}

/// Token bucket of one key.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Most buckets kept; past this, full (idle) buckets are dropped first.
const MAX_BUCKETS: usize = 100_000;

pub struct Throttle {
    policy: RatePolicy,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Messages of one tenant running through plugins at once.
    concurrency: usize,
    running: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Tenants with a long job (blind-spot mining) under way: one each.
    background_tenants: Arc<Mutex<HashSet<String>>>,
    /// Long jobs running at once across tenants; the others wait.
    background: Arc<Semaphore>,
    /// Where penalised tenants' requests run; started at the first.
    low_priority: std::sync::OnceLock<super::low_priority::LowPriorityPool>,
    /// Tenants resting after a long job, until when (429 meanwhile).
    background_rests: Arc<Mutex<HashMap<String, Instant>>>,
    /// Tenants whose plugins recently burnt a whole deadline, until when:
    /// their requests take every one of their slots (one at a time).
    hogs: Mutex<HashMap<String, Instant>>,
    /// Each tenant's recent plugin time, to find who takes more than a
    /// fair part of the machine while others wait.
    pub fair_share: super::fair_share::FairShare,
}

/// How long a tenant whose plugin call ran to its deadline (a loop, a
/// plugin too slow for its limits) runs one request at a time. With its
/// usual slots, such a tenant kept as many threads burning whole deadlines
/// as the machine has cores, and a healthy neighbour's p99 rose to 3.0–3.2×
/// of alone (isolation benchmark, BENCHMARKS.md).
pub const HOG_PENALTY: Duration = Duration::from_secs(10);

/// Most long jobs (blind-spot mining) running at once across tenants: one
/// core's worth, so they never take every core from messages.
pub const BACKGROUND_JOBS: usize = 1;

/// Held while a tenant's long job runs (or waits for its place).
pub struct BackgroundSlot {
    _permit: OwnedSemaphorePermit,
    _mark: TenantMark,
    started: Instant,
    rests: Arc<Mutex<HashMap<String, Instant>>>,
}

/// Every long job makes its tenant owe [`REST_FACTOR`] times its run as
/// rest, added up; the tenant may start another while it owes at most
/// [`REST_FACTOR`] × [`REST_AFTER`] (one job of 100 ms, or a few short
/// ones), else 429. So one tenant's jobs take at most a fifth of a core over
/// time, and an occasional second run right after a short one is not
/// refused. Measured: a tenant asking for mining without pause kept one core
/// busy (26 runs of about 0.6 s in 15 s) and took a healthy neighbour's p99
/// to 3.1× of alone; when only runs over 100 ms made their tenant rest, a
/// tenant with few messages mined 110 times a second in runs under it and
/// took the neighbour's p99 to 9×.
pub const REST_AFTER: Duration = Duration::from_millis(100);
pub const REST_FACTOR: u32 = 4;

impl Drop for BackgroundSlot {
    fn drop(&mut self) {
        let now = Instant::now();
        let owed = self.started.elapsed() * REST_FACTOR;
        let mut rests = self.rests.lock().unwrap_or_else(|p| p.into_inner());
        let from = rests
            .get(&self._mark.tenant)
            .copied()
            .filter(|until| *until > now)
            .unwrap_or(now);
        rests.insert(self._mark.tenant.clone(), from + owed);
    }
}

/// The tenant's "one job under way" mark; removed on drop, also when the
/// request is dropped while it waits for a place.
struct TenantMark {
    tenants: Arc<Mutex<HashSet<String>>>,
    tenant: String,
}

impl Drop for TenantMark {
    fn drop(&mut self) {
        self.tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.tenant);
    }
}

impl Throttle {
    pub fn new(policy: RatePolicy, concurrency: usize) -> Throttle {
        Throttle {
            policy,
            buckets: Mutex::new(HashMap::new()),
            concurrency: concurrency.max(1),
            running: Mutex::new(HashMap::new()),
            background_tenants: Arc::new(Mutex::new(HashSet::new())),
            background: Arc::new(Semaphore::new(BACKGROUND_JOBS)),
            hogs: Mutex::new(HashMap::new()),
            background_rests: Arc::new(Mutex::new(HashMap::new())),
            low_priority: std::sync::OnceLock::new(),
            fair_share: super::fair_share::FairShare::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// The low-priority threads for penalised tenants' requests.
    pub fn low_priority(&self) -> &super::low_priority::LowPriorityPool {
        self.low_priority
            .get_or_init(super::low_priority::LowPriorityPool::start)
    }

    /// Defaults: [`RatePolicy::default`] and
    /// [`Throttle::default_tenant_concurrency`].
    pub fn with_defaults() -> Throttle {
        Throttle::new(
            RatePolicy::default(),
            Throttle::default_tenant_concurrency(),
        )
    }

    /// Messages of one tenant in plugins at once unless `serve
    /// --tenant-concurrency` says otherwise: twice the cores. With as many as
    /// the cores, about 10% of the machine sat idle at 64 connections while
    /// one message handed its slot to the next (2,050–2,706 msg/s); with
    /// twice, 3,105–3,147. What kept it at the cores, a looping tenant
    /// taking every core, is now the hog penalty's job (one at a time): the
    /// healthy neighbour's p99 stays within 2.8× of alone (BENCHMARKS.md).
    pub fn default_tenant_concurrency() -> usize {
        2 * std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Take one request from the bucket of `key_id` (a key's hash, never the
    /// key), or say how long to wait.
    pub fn admit(&self, key_id: &str) -> Result<(), ApiError> {
        self.admit_costing(key_id, 1.0)
    }

    /// Admit a request that costs `cost` requests' worth of the key's rate
    /// (something cheap to ask for and worth more than a read, such as a
    /// chat visitor's token).
    pub fn admit_costing(&self, key_id: &str, cost: f64) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.contains_key(key_id) {
            // Keys replaced by rotation leave buckets behind; idle ones go.
            if buckets.len() >= MAX_BUCKETS {
                let policy = self.policy;
                buckets.retain(|_, b| refill(b, now, policy) < policy.burst);
            }
            let fresh = Bucket {
                tokens: self.policy.burst,
                at: now,
            };
            buckets.insert(key_id.to_string(), fresh);
        }
        let bucket = buckets.get_mut(key_id).expect("inserted above");
        let tokens = refill(bucket, now, self.policy);
        bucket.at = now;
        if tokens >= cost {
            bucket.tokens = tokens - cost;
            Ok(())
        } else {
            bucket.tokens = tokens;
            let wait = (cost - tokens) / self.policy.per_second;
            Err(ApiError::TooManyRequests {
                retry_after: Duration::from_secs_f64(wait).as_secs().max(1),
            })
        }
    }

    /// Wait for a slot to run one of `tenant`'s messages; the slot is freed
    /// when the permit drops. A tenant marked with [`Throttle::hogged`]
    /// takes all its slots at once, so its requests run one at a time.
    pub async fn run_slot(&self, tenant: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running
                .entry(tenant.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.concurrency)))
                .clone()
        };
        let permits = if self.is_hogging(tenant) {
            self.concurrency as u32
        } else {
            1
        };
        semaphore
            .acquire_many_owned(permits)
            .await
            .expect("the semaphore is never closed")
    }

    /// `tenant`'s plugin ran to its deadline: one request at a time until
    /// `until` (`Instant::now() + HOG_PENALTY` from the API).
    pub fn hogged(&self, tenant: &str, until: Instant) {
        self.hogs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.to_string(), until);
    }

    /// Whether `tenant` is penalised now ([`Throttle::hogged`]).
    pub fn is_hogging(&self, tenant: &str) -> bool {
        let mut hogs = self.hogs.lock().unwrap_or_else(|p| p.into_inner());
        match hogs.get(tenant) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                hogs.remove(tenant);
                false
            }
            None => false,
        }
    }
}

impl Throttle {
    /// A place for one of `tenant`'s long jobs: refused (409) while the
    /// tenant already has one under way, refused (429) while it rests after
    /// a long one ([`REST_AFTER`]), else waits for a free place.
    pub async fn background_slot(&self, tenant: &str) -> Result<BackgroundSlot, ApiError> {
        {
            let mut rests = self
                .background_rests
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let allowed = now + REST_AFTER * REST_FACTOR;
            match rests.get(tenant) {
                Some(until) if *until > allowed => {
                    return Err(ApiError::TooManyRequests {
                        retry_after: (*until - allowed).as_secs().max(1),
                    });
                }
                Some(until) if *until <= now => {
                    rests.remove(tenant);
                }
                _ => {}
            }
        }
        if !self
            .background_tenants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.to_string())
        {
            return Err(ApiError::Conflict(
                "a mining run of this tenant is already under way; try again when it ends".into(),
            ));
        }
        // Marked first, so that a second request is refused, not queued.
        let mark = TenantMark {
            tenants: self.background_tenants.clone(),
            tenant: tenant.to_string(),
        };
        let permit = self
            .background
            .clone()
            .acquire_owned()
            .await
            .expect("the background semaphore is never closed");
        Ok(BackgroundSlot {
            _permit: permit,
            _mark: mark,
            started: Instant::now(),
            rests: self.background_rests.clone(),
        })
    }
}

fn refill(bucket: &Bucket, now: Instant, policy: RatePolicy) -> f64 {
    let elapsed = now.duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * policy.per_second).min(policy.burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hogging_tenant_runs_one_request_at_a_time_until_its_penalty_ends() {
        let throttle = Throttle::new(RatePolicy::default(), 2);
        let waits = |t: &'static str| {
            let fut = throttle.run_slot(t);
            async move {
                tokio::time::timeout(Duration::from_millis(50), fut)
                    .await
                    .ok()
            }
        };
        // Unmarked: two at once.
        let a = waits("noisy").await.expect("first slot");
        let b = waits("noisy").await.expect("second slot");
        drop((a, b));
        throttle.hogged("noisy", Instant::now() + Duration::from_secs(60));
        let only = waits("noisy").await.expect("one request runs");
        assert!(waits("noisy").await.is_none(), "the second waits");
        // Another tenant is not affected.
        let other = waits("healthy").await.expect("slot");
        let other2 = waits("healthy").await.expect("second slot");
        drop((only, other, other2));
        // The penalty over: two at once again.
        throttle.hogged("noisy", Instant::now());
        let a = waits("noisy").await.expect("first slot");
        let b = waits("noisy").await.expect("second slot again");
        drop((a, b));
    }

    #[test]
    fn a_key_gets_its_burst_then_waits_and_other_keys_are_unaffected() {
        let throttle = Throttle::new(
            RatePolicy {
                per_second: 1.0,
                burst: 3.0,
            },
            1,
        );
        for _ in 0..3 {
            throttle.admit("a").unwrap();
        }
        match throttle.admit("a") {
            Err(ApiError::TooManyRequests { retry_after }) => assert_eq!(retry_after, 1),
            other => panic!("expected 429, got {other:?}"),
        }
        throttle.admit("b").unwrap();
    }

    #[tokio::test]
    async fn one_long_job_per_tenant_and_few_across_tenants() {
        let throttle = Throttle::with_defaults();
        let first = throttle.background_slot("a").await.unwrap();
        // The same tenant again: refused at once, not queued.
        assert!(matches!(
            throttle.background_slot("a").await,
            Err(ApiError::Conflict(_))
        ));
        // Another tenant waits for the one place...
        let waiting =
            tokio::time::timeout(Duration::from_millis(50), throttle.background_slot("b")).await;
        assert!(waiting.is_err(), "only {BACKGROUND_JOBS} job runs at once");
        // ...and its request, dropped while waiting, left no mark behind.
        drop(first);
        let b = throttle.background_slot("b").await.unwrap();
        drop(b);
        let again = throttle.background_slot("a").await;
        assert!(again.is_ok(), "a's first run ended: it may run again");
    }

    #[tokio::test]
    async fn a_long_job_over_the_bound_makes_its_tenant_rest_a_short_one_does_not() {
        let throttle = Throttle::with_defaults();
        // Well under the bound: no rest.
        let short = throttle.background_slot("a").await.unwrap();
        drop(short);
        let next = throttle.background_slot("a").await;
        assert!(next.is_ok(), "a short run leaves no rest");
        drop(next);
        // Over it: 429 with a Retry-After, for that tenant only.
        let long = throttle.background_slot("a").await.unwrap();
        std::thread::sleep(REST_AFTER + Duration::from_millis(20));
        drop(long);
        match throttle.background_slot("a").await {
            Err(ApiError::TooManyRequests { retry_after }) => assert!(retry_after >= 1),
            Err(other) => panic!("expected 429, got {other:?}"),
            Ok(_) => panic!("expected 429, got a slot"),
        }
        assert!(
            throttle.background_slot("b").await.is_ok(),
            "b does not rest"
        );
    }

    /// The defect: only runs over the bound made their tenant rest, so a
    /// tenant with few messages mined 110 times a second in short runs.
    #[tokio::test]
    async fn short_jobs_back_to_back_add_up_to_a_rest() {
        let throttle = Throttle::with_defaults();
        let job = REST_AFTER / 4;
        let mut allowed = 0;
        loop {
            match throttle.background_slot("a").await {
                Ok(slot) => {
                    std::thread::sleep(job);
                    drop(slot);
                    allowed += 1;
                }
                Err(ApiError::TooManyRequests { .. }) => break,
                Err(other) => panic!("expected 429, got {other:?}"),
            }
            assert!(allowed <= 10, "never made to rest");
        }
        // Each 25 ms job adds 100 ms owed and 25 ms passes: about five fit
        // under the 400 ms a tenant may owe; a second right after a first did.
        assert!((2..=8).contains(&allowed), "{allowed}");
    }
}
