//! Who is taking more than a fair part of the machine. Each message charges
//! its tenant the time its plugins ran; the charges decay with a half-life of
//! a second, so an account reads as the tenant's recent plugin time per
//! second, in cores. A tenant over [`HEAVY_SHARE`] of the cores while another
//! tenant is also at work is *heavy*: its messages run on the low-priority
//! threads (`low_priority.rs`), so it takes the cores the others leave.
//!
//! Why: a neighbour sending only messages of the largest size, all within
//! their limits (no timeout, so no hog penalty), kept its slots (twice the
//! cores) busy with plugin work and took the healthy tenant's p50 to 2.3x and
//! p99 to 2.8x of alone (isolation benchmark). A tenant alone on the server
//! is never heavy: with nobody to make room for, it keeps every slot at
//! normal priority (the load benchmark's single tenant).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Part of the machine's cores one tenant may keep busy with plugin work
/// while others are at work, before its messages run at low priority.
pub const HEAVY_SHARE: f64 = 0.5;

/// How fast a charge fades: after this long it counts half.
const HALF_LIFE: Duration = Duration::from_secs(1);

/// Others' plugin time below this many cores is nobody at work (a health
/// probe, a rare message): no reason to lower anyone's priority.
const OTHERS_AT_WORK: f64 = 0.005;

/// Accounts kept before faded ones are dropped.
const MAX_ACCOUNTS: usize = 10_000;

pub struct FairShare {
    cores: f64,
    accounts: Mutex<Accounts>,
}

#[derive(Default)]
struct Accounts {
    tenants: HashMap<String, Decaying>,
    /// Every tenant's charges together, decayed the same way.
    total: Decaying,
}

/// A sum of charges that halves every [`HALF_LIFE`].
#[derive(Clone, Copy, Default)]
struct Decaying {
    seconds: f64,
    at: Option<Instant>,
}

impl Decaying {
    fn at(self, now: Instant) -> f64 {
        match self.at {
            Some(at) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                self.seconds * 0.5f64.powf(elapsed / HALF_LIFE.as_secs_f64())
            }
            None => 0.0,
        }
    }

    fn add(&mut self, seconds: f64, now: Instant) {
        self.seconds = self.at(now) + seconds;
        self.at = Some(now);
    }
}

/// A decayed sum of charges as a rate: with a steady rate r, the sum tends
/// to r * HALF_LIFE / ln 2.
fn rate(seconds: f64) -> f64 {
    seconds * std::f64::consts::LN_2 / HALF_LIFE.as_secs_f64()
}

impl FairShare {
    pub fn new(cores: usize) -> FairShare {
        FairShare {
            cores: cores.max(1) as f64,
            accounts: Mutex::new(Accounts::default()),
        }
    }

    /// `tenant`'s plugins ran for `spent`.
    pub fn charge(&self, tenant: &str, spent: Duration) {
        self.charge_at(tenant, spent, Instant::now());
    }

    /// Whether `tenant` is heavy now (module doc).
    pub fn is_heavy(&self, tenant: &str) -> bool {
        self.is_heavy_at(tenant, Instant::now())
    }

    fn charge_at(&self, tenant: &str, spent: Duration, now: Instant) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if !accounts.tenants.contains_key(tenant) && accounts.tenants.len() >= MAX_ACCOUNTS {
            accounts
                .tenants
                .retain(|_, a| rate(a.at(now)) >= OTHERS_AT_WORK);
        }
        let seconds = spent.as_secs_f64();
        accounts
            .tenants
            .entry(tenant.to_string())
            .or_default()
            .add(seconds, now);
        accounts.total.add(seconds, now);
    }

    fn is_heavy_at(&self, tenant: &str, now: Instant) -> bool {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let Some(own) = accounts.tenants.get(tenant) else {
            return false;
        };
        let own = rate(own.at(now));
        let others = rate(accounts.total.at(now)) - own;
        own > HEAVY_SHARE * self.cores && others >= OTHERS_AT_WORK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Charge each tenant its cores of plugin time per second for
    /// `seconds` seconds, in 10 ms steps in time order, ending at `end`.
    fn busy(share: &FairShare, tenants: &[(&str, f64)], seconds: u64, end: Instant) {
        let steps = seconds * 100;
        for step in 0..steps {
            let at = end - Duration::from_millis(10 * (steps - 1 - step));
            for (tenant, cores) in tenants {
                share.charge_at(tenant, Duration::from_secs_f64(cores / 100.0), at);
            }
        }
    }

    #[test]
    fn a_tenant_alone_is_never_heavy_however_busy() {
        let share = FairShare::new(2);
        let now = Instant::now() + Duration::from_secs(60);
        busy(&share, &[("big", 2.0)], 5, now);
        assert!(!share.is_heavy_at("big", now));
        assert!(!share.is_heavy_at("unknown", now));
    }

    #[test]
    fn over_half_the_cores_beside_a_working_tenant_is_heavy_at_the_boundary() {
        let now = Instant::now() + Duration::from_secs(60);
        let run = |per_second: f64| {
            let share = FairShare::new(2);
            busy(&share, &[("big", per_second), ("small", 0.05)], 10, now);
            share.is_heavy_at("big", now)
        };
        // The threshold is one core of two; steady rates read within a percent.
        assert!(run(1.05), "just over half the machine");
        assert!(!run(0.95), "just under");
        let share = FairShare::new(2);
        busy(&share, &[("big", 1.5), ("small", 0.05)], 10, now);
        assert!(!share.is_heavy_at("small", now), "the small tenant is not");
        // Three seconds after it stops, its account has faded under the line.
        assert!(!share.is_heavy_at("big", now + Duration::from_secs(3)));
    }

    #[test]
    fn a_neighbour_that_stopped_working_long_ago_does_not_count() {
        let share = FairShare::new(2);
        let now = Instant::now() + Duration::from_secs(60);
        busy(&share, &[("small", 0.05)], 1, now - Duration::from_secs(20));
        busy(&share, &[("big", 1.5)], 10, now);
        assert!(!share.is_heavy_at("big", now));
    }
}
