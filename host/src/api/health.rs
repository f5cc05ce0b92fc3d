//! `/healthz`: whether the server can still acknowledge writes. It takes no
//! storage call and no lock a request holds, so it answers while the store
//! is saturated; it reports the flusher's state and checks that the blocking
//! pool, where every storage call and plugin run happens, still takes work.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::AppState;
use crate::durability::FlushHealth;

/// A flush (or a write waiting for one) older than this means the store is
/// stuck: `/healthz` answers 503. A healthy flush of a busy server's batch
/// takes milliseconds; ten seconds is far past any disk hiccup worth waiting
/// out, and soon enough for a load balancer to take the host out.
pub const FLUSH_STALL_BOUND: Duration = Duration::from_secs(10);

/// How long a no-op may wait for a blocking-pool thread before the pool
/// counts as starved (503).
pub const BLOCKING_POOL_BOUND: Duration = Duration::from_secs(2);

#[derive(Serialize)]
pub struct Health {
    /// `ok`, `store-stalled` or `blocking-pool-starved`.
    status: &'static str,
    store: FlushHealth,
    /// Time a no-op waited for a blocking-pool thread.
    blocking_pool_wait_us: Option<u64>,
}

/// The verdict: a flush stuck for more than [`FLUSH_STALL_BOUND`] (exactly
/// the bound is still healthy), or a blocking pool that did not start a no-op
/// within [`BLOCKING_POOL_BOUND`] (`None`), is unhealthy.
fn status(store: &FlushHealth, blocking_pool_wait_us: Option<u64>) -> &'static str {
    if store.stuck_ms > FLUSH_STALL_BOUND.as_millis() as u64 {
        "store-stalled"
    } else if blocking_pool_wait_us.is_none() {
        "blocking-pool-starved"
    } else {
        "ok"
    }
}

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store = state.app.storage.flush_health();
    let asked = Instant::now();
    let pool = tokio::time::timeout(
        BLOCKING_POOL_BOUND,
        tokio::task::spawn_blocking(move || asked.elapsed()),
    )
    .await;
    let blocking_pool_wait_us = match pool {
        Ok(Ok(waited)) => Some(waited.as_micros() as u64),
        _ => None,
    };
    let status = status(&store, blocking_pool_wait_us);
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(Health {
            status,
            store,
            blocking_pool_wait_us,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuck_for(ms: u64) -> FlushHealth {
        FlushHealth {
            durability: "group-commit",
            waiting: 3,
            stuck_ms: ms,
            since_last_flush_ms: ms,
            flushes: 10,
            mean_batch: 2.0,
            last_error: None,
        }
    }

    #[test]
    fn a_flush_stuck_past_the_bound_is_unhealthy_and_at_the_bound_is_not() {
        let bound = FLUSH_STALL_BOUND.as_millis() as u64;
        assert_eq!(status(&stuck_for(bound), Some(50)), "ok");
        assert_eq!(status(&stuck_for(bound + 1), Some(50)), "store-stalled");
        assert_eq!(status(&stuck_for(0), None), "blocking-pool-starved");
        // A stuck store is named first: it is the cause a pool waits on.
        assert_eq!(status(&stuck_for(bound + 1), None), "store-stalled");
    }
}
