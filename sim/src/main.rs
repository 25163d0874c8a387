//! `lifecycle-sim`: the harness's CLI on the built-in subjects (the three historical models
//! and the production manager).

// A scenario allocates many small, short-lived values (calls, replies, snapshots) on every
// event; mimalloc makes the runner about a tenth faster than the system allocator (`bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Piped into `head`, the runner ends quietly as other command-line tools do, instead of
    // panicking when stdout closes.
    #[cfg(unix)]
    // SAFETY: restoring the default action of a signal, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    lifecycle_sim::cli::main_with(lifecycle_sim::Model::subjects())
}
