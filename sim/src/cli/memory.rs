//! `bench --memory N`: resident memory of a long sweep, read after 100,000 scenarios and after
//! N, to show that a night's run keeps what it learns in bounded memory.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::explore::{SeedSet, SweepConfig, sweep};
use crate::scenario::FaultMode;
use crate::scenario::Settings;
use crate::scenario::faults::FaultConfig;
use crate::subject::Model;

/// Where the first reading is taken.
const FIRST_READING: u64 = 100_000;

/// This process's resident set, in KiB (Linux; `None` elsewhere).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_string(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// Sweeps `scenarios` all-fault seeds of `owned` (which passes them, so nothing but the
/// metrics accumulates) and reports resident memory after the first 100,000 and at the end.
pub fn memory_report(scenarios: u64, jobs: usize) -> String {
    let stop = AtomicBool::new(false);
    let config = SweepConfig {
        seeds: SeedSet::all(Some(0..scenarios)),
        budget: Duration::MAX,
        jobs,
        fail_fast: false,
        shrink: false,
        stop: &stop,
        steer: false,
        until_covered: false,
    };
    let settings = Settings {
        faults: FaultMode::Fixed(FaultConfig::all()),
        ..Settings::default()
    };
    let before = resident_kib();
    let mut first = None;
    let f = sweep(
        &Model::Owned,
        &settings,
        &config,
        |_| {},
        |p| {
            if first.is_none() && p.scenarios >= FIRST_READING {
                first = Some((p.scenarios, resident_kib()));
            }
        },
    );
    let last = resident_kib();
    let mut out = String::from("\n## Memory\n\n| scenarios | resident memory |\n| --- | --- |\n");
    out.push_str(&format!("| 0 (before the sweep) | {} |\n", mib(before)));
    if let Some((n, kib)) = first {
        out.push_str(&format!("| {n} | {} |\n", mib(kib)));
    }
    out.push_str(&format!("| {} | {} |\n", f.scenarios, mib(last)));
    out.push_str(&format!(
        "\n`owned`, every fault family on, {jobs} jobs: {} distinct interleavings ({}), {:.0} scenarios/s.\n",
        f.interleavings.count(),
        if f.interleavings.is_exact() { "exact" } else { "estimated by the sketch" },
        f.rate()
    ));
    out
}
