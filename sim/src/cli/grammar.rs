//! The command line's grammar: every subcommand and flag, as clap derives it.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{Generation, HuntScenario, Source, default_jobs, parse_seeds, parse_shard};
use super::system;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "lifecycle-sim",
    version,
    about = "Deterministic simulation testing for the agent lifecycle manager"
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum WorldChoice {
    Container,
    System,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run many scenarios on every model (or one) and report what each violates.
    Explore {
        /// `container`: the manager alone, its operations delivered by the harness; `system`:
        /// the town and the container over turmoil's network (the `system` command's sweep).
        #[arg(long, value_enum, default_value_t = WorldChoice::Container)]
        world: WorldChoice,
        /// With `--world system`: `all`, or one town policy.
        #[arg(long, default_value = "all")]
        policy: String,
        /// `all`, or one model (see `models`).
        #[arg(long, default_value = "all")]
        model: String,
        /// A seed range `A..B` (B excluded). Without it, seeds from 0 until `--time` runs out.
        #[arg(long, value_parser = parse_seeds, conflicts_with = "time")]
        seeds: Option<Range<u64>>,
        /// The time budget per model, such as `30s` or `5m`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
        time: Duration,
        #[command(flatten)]
        generation: Generation,
        /// Stop each model at its first violation (by default a run goes on and reports every
        /// distinct failure).
        #[arg(long)]
        fail_fast: bool,
        /// Print every failure in full, the historical models' expected ones too (by default a
        /// sweep of every model prints the summary, then the unexpected failures).
        #[arg(long, short)]
        verbose: bool,
        /// Report failures as found, without shrinking them.
        #[arg(long)]
        no_shrink: bool,
        /// Worker threads, one simulation each; what a seed range finds does not depend on it.
        #[arg(long, default_value_t = default_jobs(), value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: u64,
        /// Run only shard K of N (the seeds equal to K mod N), for N machines.
        #[arg(long, value_parser = parse_shard, value_name = "K/N")]
        shard: Option<(u64, u64)>,
        /// Write a JSON report of the run here.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Print each model's state × operation map: in how many scenarios an operation met
        /// each status of its agent's record and each of its backend calls in flight.
        #[arg(long)]
        grid: bool,
        /// Write a JUnit XML report (one test case per model, one per required coverage
        /// point) here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the campaign as one self-contained HTML page here: settings, failure
        /// classes, each finding's timeline as swimlanes, coverage, the state × operation map.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Print every coverage point of each model: required or not, in how many scenarios
        /// reached, the first seed that reached it.
        #[arg(long)]
        coverage: bool,
        /// Fail (exit 1) unless every required coverage point was reached: the model's
        /// catalog (the points of its code, the required world points), or with FILE the
        /// points it lists, one a line (`point` or `model: point`).
        #[arg(long, value_name = "FILE", num_args = 0..=1)]
        require_coverage: Option<Option<PathBuf>>,
        /// Steer each round of 256 scenarios toward the swarm configurations (fault families,
        /// operation kinds) whose scenarios reached rare coverage points. A steered seed
        /// replays from its case (`--save-failures`), not from `--seed`.
        #[arg(long)]
        steer: bool,
        /// Save every failure (shrunk unless --no-shrink) as a case file in this directory.
        #[arg(long, value_name = "DIR")]
        save_failures: Option<PathBuf>,
        /// dfs: the most schedules the bounded search runs.
        #[arg(long, default_value_t = 100_000)]
        max_schedules: u64,
        /// dfs: search only schedules with at most K deviations from the default choices
        /// (every bound up to K, then stop; default: no bound).
        #[arg(long, value_name = "K", default_value_t = u32::MAX, hide_default_value = true)]
        max_deviations: u32,
        /// dfs: search for a violation of this invariant (I1..I8, L1..L6, panic): a schedule
        /// that violates another one first is passed over.
        #[arg(long, value_name = "INVARIANT")]
        invariant: Option<String>,
        /// dfs: the scenario whose schedules to search, a case file (its agents, operations,
        /// faults and timing; its choices and its version are ignored: the search runs under
        /// this harness). Without it, the #1341 two-start scenario.
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
    },
    /// Run one scenario (a seed, or a saved case) and print its whole timeline.
    Replay {
        /// The model (see `models`).
        #[arg(long)]
        model: String,
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        generation: Generation,
        /// Also write the run as Chrome trace-event JSON (open it in Perfetto).
        #[arg(long, value_name = "FILE")]
        trace_out: Option<PathBuf>,
        /// Also write the run as one self-contained HTML page: its timeline as swimlanes.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Shrink a failing scenario to a minimal one and print it as a regression test.
    Shrink {
        /// The model (see `models`).
        #[arg(long)]
        model: String,
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        generation: Generation,
        /// Also save the shrunk case here.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Hunt one invariant (or one coverage point) on one model in independent campaigns
    /// (different base seeds), and report how many scenarios each took to find it: a
    /// strategy's bug-finding power.
    Hunt {
        /// The model (see `models`).
        #[arg(long)]
        model: String,
        /// The invariant to find, such as I1 (or one of the model's own, by its name).
        #[arg(long, required_unless_present = "point", conflicts_with = "point")]
        invariant: Option<String>,
        /// A coverage point to reach instead (see `points --model M`).
        #[arg(long)]
        point: Option<String>,
        /// With --point: save the first scenario that reached it (from seed 0), shrunk, as a
        /// case that must keep reaching it with the same verdict.
        #[arg(long, value_name = "FILE", requires = "point")]
        save: Option<PathBuf>,
        #[command(flatten)]
        generation: Generation,
        /// How many campaigns; campaign i starts at seed i * 1_000_000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        campaigns: u64,
        /// The most scenarios a campaign may run.
        #[arg(long, default_value_t = 100_000)]
        max: u64,
        /// What each campaign runs: generated scenarios, or the late-restart #1341 scenario
        /// (a0, a1, a2 start together, a0 restarts at 35 ms) under many seeds.
        #[arg(long, value_enum, default_value_t = HuntScenario::Generated)]
        scenario: HuntScenario,
        /// Write the hunt as one self-contained HTML page here: its campaigns, and the first
        /// finding, shrunk, as swimlanes.
        #[arg(long, value_name = "FILE", conflicts_with = "point")]
        html: Option<PathBuf>,
    },
    /// Merge the JSON reports of a sweep split over machines (`explore --shard K/N --report
    /// F`) into one: failures and coverage as if one machine had run every seed.
    Merge {
        /// The shards' reports.
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        /// Write the merged JSON report here.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Write the merged JUnit XML report here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write the merged campaign as one self-contained HTML page here, the shards side
        /// by side, each finding replayed from its case and drawn.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Fail (exit 1) unless every point the shards required was reached by one of them.
        #[arg(long)]
        require_coverage: bool,
    },
    /// List a model's coverage points: what each means, and whether a campaign must reach it.
    Points {
        /// The model (see `models`).
        #[arg(long)]
        model: String,
    },
    /// Measure the harness: throughput against bare turmoil, and time to find #1341 per
    /// strategy. Prints a markdown table. (Other tools on the same races: `cargo bench -p
    /// head-to-head`.)
    Bench {
        /// How long each throughput measurement runs.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
        time: Duration,
        /// Threads for the parallel throughput measurement.
        #[arg(long, default_value_t = default_jobs(), value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: u64,
        /// Also sweep this many scenarios and report resident memory after 100,000 of them
        /// and at the end (1000000 takes about 12 minutes on 2 cores).
        #[arg(long, value_name = "SCENARIOS")]
        memory: Option<u64>,
        /// Only the coverage table: scenarios until every required point is reached, per
        /// model, random vs pct vs steered, over this many campaigns.
        #[arg(long, value_name = "CAMPAIGNS", value_parser = clap::value_parser!(u64).range(1..=1000))]
        coverage: Option<u64>,
    },
    /// The whole system over turmoil's network: the town's control plane (each dispatch
    /// policy) against the container's control server (each model); a findings table, or one
    /// scenario's timeline with --seed
    System(system::SystemArgs),
    /// List the models and what each is.
    Models,
}
