//! Housekeeping at idle priority: a sweep uses only CPU time that serving leaves unused.
//!
//! A sweep of a million expired sessions is most of a second of one core's work. On a small
//! host, a sweeper thread at normal priority takes that core from the event loop or from the
//! services calling it, and every request in flight waits for it. Under `SCHED_IDLE` the
//! kernel preempts the sweeper as soon as any normal thread wakes on its core, so requests
//! never queue behind it. The sweep then takes longer on a saturated host, which is safe: an
//! expired session never verifies, swept or not.
//!
//! Any thread may lower its own policy, so this needs no privilege. The sweeper's critical
//! sections are kept short (see `store::sessions`), since a preempted thread holding a lock
//! would make the event loop wait for it.

/// While alive, the calling thread runs under `SCHED_IDLE`; dropping it restores the policy
/// the thread had. Threads of the blocking pool are reused, so the restore matters.
#[must_use = "the thread is at idle priority only while the guard lives"]
pub(crate) struct IdlePriority {
    previous: Option<(libc::c_int, libc::sched_param)>,
}

impl IdlePriority {
    /// Moves the calling thread to `SCHED_IDLE`. If the kernel refuses (as under a seccomp
    /// filter or a non-Linux kernel), the thread keeps its priority and the guard does nothing.
    pub(crate) fn enter() -> IdlePriority {
        IdlePriority {
            previous: enter_idle(),
        }
    }
}

impl Drop for IdlePriority {
    fn drop(&mut self) {
        if let Some((policy, param)) = self.previous {
            // SAFETY: pid 0 is the calling thread; `param` was read from it.
            unsafe {
                libc::sched_setscheduler(0, policy, &param);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn enter_idle() -> Option<(libc::c_int, libc::sched_param)> {
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; both calls only read or set its scheduling policy.
    unsafe {
        let policy = libc::sched_getscheduler(0);
        if policy < 0 || libc::sched_getparam(0, &mut param) != 0 {
            return None;
        }
        let idle = libc::sched_param { sched_priority: 0 };
        (libc::sched_setscheduler(0, libc::SCHED_IDLE, &idle) == 0).then_some((policy, param))
    }
}

#[cfg(not(target_os = "linux"))]
fn enter_idle() -> Option<(libc::c_int, libc::sched_param)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard sets `SCHED_IDLE` and puts the thread's own policy back.
    #[test]
    fn idle_while_held_then_restored() {
        std::thread::spawn(|| {
            // SAFETY: reads the calling thread's policy.
            let policy = || unsafe { libc::sched_getscheduler(0) };
            let before = policy();
            {
                let _idle = IdlePriority::enter();
                assert_eq!(policy(), libc::SCHED_IDLE);
            }
            assert_eq!(policy(), before);
        })
        .join()
        .unwrap();
    }
}
