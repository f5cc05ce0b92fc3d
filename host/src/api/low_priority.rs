//! Threads of the lowest scheduling priority for the requests of tenants
//! penalised for plugins that ran to their deadline (`throttle.rs`).

use std::sync::{Arc, Mutex};

/// Threads of the lowest scheduling priority (nice 19) for the requests of
/// penalised tenants (`Throttle::hogged`): a plugin that loops to its
/// deadline then takes a core only when nobody else wants it. One request at
/// a time alone left a healthy neighbour's p99 at 2.2-3.4x of alone: the
/// scheduler split a core between the healthy message and the 50 ms burn.
/// A separate pool because an unprivileged thread cannot raise its priority
/// back (`setpriority` needs CAP_SYS_NICE to lower a nice value).
pub struct LowPriorityPool {
    jobs: Mutex<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
}

/// Threads in the low-priority pool: a penalised tenant runs one request at
/// a time, so more would idle.
const LOW_PRIORITY_THREADS: usize = 2;

impl LowPriorityPool {
    pub fn start() -> LowPriorityPool {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..LOW_PRIORITY_THREADS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("sy-low-{i}"))
                .spawn(move || {
                    lower_own_priority();
                    loop {
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => break, // the pool was dropped
                        }
                    }
                })
                .expect("a low-priority thread starts");
        }
        LowPriorityPool {
            jobs: Mutex::new(tx),
        }
    }

    /// Run `f` on a low-priority thread and wait for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let _ = tx.send(f());
        });
        if self
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .is_err()
        {
            return None;
        }
        rx.await.ok()
    }
}

/// Nice 19 for the calling thread (Linux: per thread). Best effort: where it
/// is refused the pool still runs, at normal priority.
fn lower_own_priority() {
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, 19) != 0 {
            tracing::warn!("could not lower the low-priority pool's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_at_the_lowest_priority_and_return_their_result() {
        let pool = LowPriorityPool::start();
        let nice = pool
            .run(|| {
                // SAFETY: reads the calling thread's own priority.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::getpriority(libc::PRIO_PROCESS, tid)
                }
            })
            .await;
        assert_eq!(nice, Some(19));
        assert_eq!(pool.run(|| 6 * 7).await, Some(42));
    }
}
