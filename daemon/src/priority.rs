//! Housekeeping at idle priority: a sweep uses only CPU time that serving leaves unused.
//!
//! A sweep of a million expired sessions is about half a second of one core's work. On a small
//! host, a sweeper at normal priority takes that core from the event loop or from the services
//! calling it, and every request in flight waits: with the benchmark's 16 closed-loop
//! connections, verify p99 during the sweep was 1.6–3.6× its p99 without one. Under
//! `SCHED_IDLE` the kernel preempts the sweeper as soon as a normal thread wakes on its core.
//! The sweep then takes longer on a saturated host, which is safe: an expired session never
//! verifies, swept or not.
//!
//! Two things follow from running at idle priority:
//! - A thread can drop to `SCHED_IDLE` without privilege but cannot come back without
//!   `CAP_SYS_NICE` (or a raised `RLIMIT_NICE`), so the work runs on a thread of its own that
//!   ends with it, never on a pooled thread.
//! - A preempted idle thread keeps whatever lock it holds until a CPU is free, so the work
//!   must hold locks only briefly and must not free memory in bulk (a `free` can take the
//!   allocator's lock). See `store::sessions::Sessions::sweep`.

/// Runs `work` on a new thread named `name` at `SCHED_IDLE`, and waits for it.
///
/// If the kernel refuses the policy (a seccomp filter, a non-Linux kernel), `work` still runs,
/// at normal priority.
///
/// # Panics
/// If the thread cannot be started, or `work` panics.
pub(crate) fn at_idle_priority<T: Send>(name: &str, work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, || {
                lower_to_idle();
                work()
            })
            .expect("starting a housekeeping thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread to `SCHED_IDLE`, for good; returns whether the kernel agreed.
#[cfg(target_os = "linux")]
fn lower_to_idle() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; this only sets its scheduling policy.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn lower_to_idle() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> libc::c_int {
        // SAFETY: reads the calling thread's policy.
        unsafe { libc::sched_getscheduler(0) }
    }

    /// The work runs at `SCHED_IDLE` on its own thread; the caller's policy is untouched.
    #[test]
    fn work_runs_idle_and_the_caller_does_not() {
        let before = policy();
        let (inside, name) = at_idle_priority("keyward-test", || {
            (policy(), std::thread::current().name().map(str::to_owned))
        });
        assert_eq!(inside, libc::SCHED_IDLE);
        assert_eq!(name.as_deref(), Some("keyward-test"));
        assert_eq!(policy(), before);
    }
}
