//! The process's use of glibc's allocator: fewer arenas, and freed memory handed back.
//!
//! glibc gives threads up to eight arenas per core and keeps what they free for reuse, so a
//! burst (a million sessions issued, a sweep of a million) leaves resident memory that nothing
//! will use again soon. keywardd caps the arenas at start and trims after every sweep.

/// glibc malloc arenas keywardd may use. With the default, issuing a million sessions left
/// about 70 MiB more resident (BENCHMARKS.md); mimalloc was tried and held twice as much.
const ARENAS: libc::c_int = 2;

/// Caps the allocator's arenas. Call first thing in `main`, before any thread exists.
pub fn limit_arenas() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter, and no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Returns free memory at the top of and inside the heap to the OS.
pub(crate) fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free pages; it is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}
