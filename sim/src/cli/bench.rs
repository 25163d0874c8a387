//! `lifecycle-sim bench`: the harness's speed and bug-finding power, measured side by side in
//! one run (these machines are shared and noisy, so only ratios within a run mean much).

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::check::Invariant;
use crate::explore::{Hunted, SeedSet, SweepConfig, bounded, hunt, sweep};
use crate::scenario::catalog::late_restart;
use crate::scenario::spec::{CLOCKWORK_VERSION, STEPPING_VERSION, Strategy, Timing};
use crate::scenario::workload::WorkloadShape;
use crate::scenario::{Scenario, Settings};
use crate::subject::Model;

/// The scenario shape the throughput is measured on: 3 agents, 20 operations, under the
/// harness version `version` (2: a turmoil step a millisecond; 3: time jumps).
fn bench_settings(version: u32) -> Settings {
    Settings {
        version,
        shape: WorkloadShape {
            min_agents: 3,
            max_agents: 3,
            min_ops: 20,
            max_ops: 20,
            ..WorkloadShape::default()
        },
        ..Settings::default()
    }
}

/// Scenarios/s of `model` on one thread for about `seconds`, and the mean simulated steps (ms)
/// a scenario took.
fn throughput(model: Model, version: u32, seconds: f64) -> (f64, f64) {
    let settings = bench_settings(version);
    let began = Instant::now();
    let (mut runs, mut steps) = (0u64, 0u128);
    while began.elapsed().as_secs_f64() < seconds {
        let outcome = Scenario::from_seed(&settings, runs).run(&model);
        steps += outcome.elapsed.as_millis();
        runs += 1;
    }
    (
        runs as f64 / began.elapsed().as_secs_f64(),
        steps as f64 / runs as f64,
    )
}

/// The same on `jobs` threads, through the nightly runner's sweep.
fn parallel_throughput(model: Model, version: u32, seconds: f64, jobs: usize) -> f64 {
    let stop = AtomicBool::new(false);
    let config = SweepConfig {
        seeds: SeedSet::all(None),
        budget: Duration::from_secs_f64(seconds),
        jobs,
        fail_fast: false,
        shrink: false,
        stop: &stop,
        steer: false,
        until_covered: false,
    };
    let f = sweep(&model, &bench_settings(version), &config, |_| {}, |_| {});
    f.rate()
}

/// Scenarios/s of `owned` under `version` with the real timing constants, and the mean
/// simulated milliseconds a scenario took (at least one scenario, however long it takes).
fn real_constants(version: u32, seconds: f64) -> (f64, f64) {
    let settings = Settings {
        timing: Timing::real(),
        ..bench_settings(version)
    };
    let began = Instant::now();
    let (mut runs, mut ms) = (0u64, 0u128);
    while runs == 0 || began.elapsed().as_secs_f64() < seconds {
        let outcome = Scenario::from_seed(&settings, runs).run(&Model::Owned);
        ms += outcome.elapsed.as_millis();
        runs += 1;
    }
    (
        runs as f64 / began.elapsed().as_secs_f64(),
        ms as f64 / runs as f64,
    )
}

/// Bare turmoil: one host whose software waits forever, stepped `steps` ticks: the ceiling of
/// any harness built on turmoil for a scenario that long.
fn bare_turmoil(steps: u64, seconds: f64) -> f64 {
    let began = Instant::now();
    let mut runs = 0u64;
    while began.elapsed().as_secs_f64() < seconds {
        let mut sim = turmoil::Builder::new()
            .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .rng_seed(runs)
            .tick_duration(Duration::from_millis(1))
            .simulation_duration(Duration::from_secs(24 * 3600))
            .build();
        sim.host("container", || async {
            std::future::pending::<()>().await;
            Ok(())
        });
        for _ in 0..steps {
            sim.step().expect("an idle host cannot fail");
        }
        runs += 1;
    }
    runs as f64 / began.elapsed().as_secs_f64()
}

pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Median scenarios and median seconds to find #1341 (late-restart, legacy, I1) over
/// `campaigns` campaigns.
fn hunt_1341(strategy: Strategy, campaigns: u64) -> (f64, f64, u64) {
    let spec = late_restart(strategy);
    let (mut counts, mut times, mut found) = (Vec::new(), Vec::new(), 0);
    for campaign in 0..campaigns {
        let began = Instant::now();
        let n = hunt(
            &Model::Legacy,
            &Hunted::Fixed(&spec),
            campaign * 1_000_000,
            100_000,
            Invariant::I1,
        );
        times.push(began.elapsed().as_secs_f64());
        found += u64::from(n.is_some());
        counts.push(n.unwrap_or(100_000) as f64);
    }
    (median(counts), median(times), found)
}

/// Runs every measurement and returns the results as a markdown table.
pub fn run_bench(seconds: f64, jobs: usize) -> String {
    let mut out = String::new();
    let (rate, steps) = throughput(Model::Owned, STEPPING_VERSION, seconds);
    let (jump_rate, jump_steps) = throughput(Model::Owned, CLOCKWORK_VERSION, seconds);
    let (legacy_rate, _) = throughput(Model::Legacy, STEPPING_VERSION, seconds);
    let (legacy_jump_rate, _) = throughput(Model::Legacy, CLOCKWORK_VERSION, seconds);
    let ceiling = bare_turmoil(steps.round() as u64, seconds);
    // The sweep also counts interleavings and coverage: its speed-up is against itself on one
    // thread.
    let parallel = parallel_throughput(Model::Owned, STEPPING_VERSION, seconds, jobs);
    let serial = parallel_throughput(Model::Owned, STEPPING_VERSION, seconds, 1);
    let jump_parallel = parallel_throughput(Model::Owned, CLOCKWORK_VERSION, seconds, jobs);
    let jump_serial = parallel_throughput(Model::Owned, CLOCKWORK_VERSION, seconds, 1);
    writeln!(out, "| measure | result |").unwrap();
    writeln!(out, "| --- | --- |").unwrap();
    writeln!(out, "| millisecond steps (version 2), `owned`, 3 agents x 20 operations, swarm faults, 1 thread | {rate:.0} scenarios/s per core ({steps:.0} simulated ms a scenario) |").unwrap();
    writeln!(
        out,
        "| millisecond steps, `legacy`, same shape, 1 thread | {legacy_rate:.0} scenarios/s |"
    )
    .unwrap();
    writeln!(out, "| bare turmoil, 1 idle host stepped {:.0} ticks (the ceiling of millisecond steps) | {ceiling:.0} scenarios/s |", steps.round()).unwrap();
    writeln!(
        out,
        "| millisecond steps / bare turmoil | {:.0} % |",
        100.0 * rate / ceiling
    )
    .unwrap();
    writeln!(out, "| millisecond steps, `owned`, a sweep on {jobs} threads (`--jobs {jobs}`) | {parallel:.0} scenarios/s ({:.2}x the sweep on one thread) |", parallel / serial).unwrap();
    writeln!(out, "| time jumps (version 3, the default), `owned`, same shape, 1 thread | {jump_rate:.0} scenarios/s per core ({jump_steps:.0} simulated ms a scenario): **{:.1}x** the millisecond steps |", jump_rate / rate).unwrap();
    writeln!(out, "| time jumps, `legacy`, same shape, 1 thread | {legacy_jump_rate:.0} scenarios/s ({:.1}x) |", legacy_jump_rate / legacy_rate).unwrap();
    writeln!(out, "| time jumps, `owned`, a sweep on {jobs} threads | {jump_parallel:.0} scenarios/s ({:.2}x the sweep on one thread; {:.1}x the millisecond steps) |", jump_parallel / jump_serial, jump_parallel / parallel).unwrap();
    let (real_rate, real_ms) = real_constants(CLOCKWORK_VERSION, seconds);
    let (real_step_rate, _) = real_constants(STEPPING_VERSION, seconds);
    writeln!(out, "| time jumps, `owned`, real constants (60 s call timeout, 120 s idle, latency up to 2 s), 1 thread | {real_rate:.0} scenarios/s ({:.0} simulated s a scenario) |", real_ms / 1000.0).unwrap();
    writeln!(out, "| millisecond steps, `owned`, the same real constants, 1 thread | {real_step_rate:.2} scenarios/s: time jumps are **{:.0}x** |", real_rate / real_step_rate).unwrap();

    let campaigns = 20;
    let mut rows = Vec::new();
    for strategy in [Strategy::Random, Strategy::Pct { depth: 3 }] {
        let (scenarios, secs, found) = hunt_1341(strategy, campaigns);
        rows.push((strategy.name(), scenarios, secs, found));
    }
    let dfs_began = Instant::now();
    let report = bounded(
        &Model::Legacy,
        &late_restart(Strategy::Dfs),
        u32::MAX,
        100_000,
    );
    let dfs_secs = dfs_began.elapsed().as_secs_f64();
    for (name, scenarios, secs, found) in &rows {
        writeln!(out, "| #1341 (late-restart, `legacy` I1), {name}: median of {campaigns} campaigns | {scenarios} scenarios, {:.2} ms (found in {found}/{campaigns}) |", secs * 1000.0).unwrap();
    }
    writeln!(
        out,
        "| #1341 (late-restart, `legacy` I1), dfs (deterministic: one search) | {} schedules, {:.2} ms ({}) |",
        report.schedules(),
        dfs_secs * 1000.0,
        if report.failure.is_some() { "found" } else { "not found" }
    )
    .unwrap();
    out
}
