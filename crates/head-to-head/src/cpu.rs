//! CPU time, the currency of the head-to-head (the machine is shared: wall time lies about
//! the simulated contenders' cost, and says nothing of the real-time one's cores).

use std::time::Duration;

fn clock(id: libc::clockid_t) -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; both clocks exist on Linux.
    let ok = unsafe { libc::clock_gettime(id, &mut t) } == 0;
    assert!(ok, "clock_gettime failed");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// CPU time this thread has used.
pub fn thread() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time the whole process has used (every thread).
pub fn process() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}
