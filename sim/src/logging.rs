//! `RUST_LOG` output stamped with simulated time, so log lines line up with timelines.

use std::cell::Cell;
use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

thread_local! {
    /// The simulated millisecond of the step running on this thread (one simulation a thread).
    static SIM_NOW_MS: Cell<u64> = const { Cell::new(0) };
}

/// Called by the driver before each step.
pub fn set_sim_now(ms: u64) {
    SIM_NOW_MS.with(|now| now.set(ms));
}

// Only the CLI sets up logging.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
struct SimTime;

impl FormatTime for SimTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{:>6}ms", SIM_NOW_MS.with(Cell::get))
    }
}

/// Logs to stderr, filtered by `RUST_LOG`, each line stamped with simulated time.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_timer(SimTime)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
