//! `bench --coverage`: for each model, how many scenarios each strategy takes until every
//! required coverage point was reached (plain random, pct, and random steered toward rare
//! points), over independent campaigns. Prints a markdown table for BENCHMARKS.md.

use std::fmt::Write as _;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::explore::{SeedSet, SweepConfig, sweep};
use crate::scenario::Settings;
use crate::scenario::spec::Strategy;
use crate::subject::{Model, Subject};

/// One strategy's campaigns on one model: scenarios to full coverage, `None` past `max`.
fn campaigns(
    model: Model,
    strategy: Strategy,
    steer: bool,
    campaigns: u64,
    max: u64,
    jobs: usize,
) -> Vec<Option<u64>> {
    let settings = Settings {
        strategy,
        ..Settings::default()
    };
    let stop = AtomicBool::new(false);
    (0..campaigns)
        .map(|c| {
            let start = c * 1_000_000;
            let config = SweepConfig {
                seeds: SeedSet::all(Some(start..start + max)),
                budget: Duration::MAX,
                jobs,
                fail_fast: false,
                shrink: false,
                stop: &stop,
                steer,
                until_covered: true,
            };
            let f = sweep(&model, &settings, &config, |_| {}, |_| {});
            let covered = f.points.unreached(f.catalog.required()).is_empty();
            covered.then_some(f.scenarios)
        })
        .collect()
}

/// The median (a campaign that never got there counts as `max`), and how many got there.
fn summary(taken: &[Option<u64>], max: u64) -> String {
    let mut counts: Vec<u64> = taken.iter().map(|t| t.unwrap_or(max)).collect();
    counts.sort_unstable();
    let median = counts[counts.len() / 2];
    let reached = taken.iter().filter(|t| t.is_some()).count();
    let (lo, hi) = (counts[0], counts[counts.len() - 1]);
    format!("{median} ({lo}-{hi}; {reached}/{})", taken.len())
}

pub(super) fn coverage_table(campaign_count: u64, max: u64, jobs: usize) -> String {
    let began = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nScenarios until every required coverage point was reached: median ({campaign_count} campaigns, campaign c from seed c * 1,000,000; min-max; campaigns that got there within {max})\n"
    );
    let _ = writeln!(out, "| model | random | pct (depth 3) | random, steered |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    for model in Model::ALL {
        let random = campaigns(model, Strategy::Random, false, campaign_count, max, jobs);
        let pct = campaigns(
            model,
            Strategy::Pct { depth: 3 },
            false,
            campaign_count,
            max,
            jobs,
        );
        let steered = campaigns(model, Strategy::Random, true, campaign_count, max, jobs);
        let _ = writeln!(
            out,
            "| {} ({} points) | {} | {} | {} |",
            model.name(),
            model.catalog().required().len(),
            summary(&random, max),
            summary(&pct, max),
            summary(&steered, max)
        );
    }
    let _ = writeln!(out, "\n({:.1} s)", began.elapsed().as_secs_f64());
    out
}
