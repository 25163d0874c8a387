//! The command-line runner: explore seeds for lifecycle bugs, replay or shrink one, hunt one
//! invariant, list the subjects, on any set of subjects ([`main_with`]).
//!
//! Exit codes: 0 nothing violated, 1 a violation was found, 2 bad usage or input.

pub mod bench;
mod memory;
mod stress;

mod args;
mod commands;
mod coverage;
mod coverage_bench;
mod explore;
mod merge;
mod point_hunt;
mod progress;
mod system;

use std::io::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::subject::{Subject, find};
use args::{
    Generation, HuntScenario, Source, default_jobs, one_line, parse_invariant, parse_seeds,
    parse_shard,
};
use clap::{Parser, Subcommand};
use explore::{ExploreArgs, INTERRUPTED, explore};

#[derive(Parser)]
#[command(
    name = "lifecycle-sim",
    version,
    about = "Deterministic simulation testing for the agent lifecycle manager"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum World {
    Container,
    System,
}

#[derive(Subcommand)]
enum Command {
    /// Run many scenarios on every model (or one) and report what each violates.
    Explore {
        /// `container`: the manager alone, its operations delivered by the harness; `system`:
        /// the town and the container over turmoil's network (the `system` command's sweep).
        #[arg(long, value_enum, default_value_t = World::Container)]
        world: World,
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
        /// dfs: the most schedules to run before giving up on exhausting the tree.
        #[arg(long, default_value_t = 100_000)]
        max_schedules: u64,
        /// dfs: the scenario whose schedules to enumerate, a case file (its agents,
        /// operations, faults and timing; its choices are ignored). Without it, the #1341
        /// two-start scenario.
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
    /// strategy and with a real-time stress test. Prints a markdown table.
    Bench {
        /// How long each throughput measurement runs.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
        time: Duration,
        /// Threads for the parallel throughput measurement.
        #[arg(long, default_value_t = default_jobs(), value_parser = clap::value_parser!(u64).range(1..=1024))]
        jobs: u64,
        /// The cap on the real-time stress test.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        stress_cap: Duration,
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

/// A user mistake: printed as one line, exit 2.
pub(super) struct UsageError(pub(super) String);

/// The subject called `name`, or a usage error that lists them.
fn subject<'a>(
    subjects: &'a [Box<dyn Subject>],
    name: &str,
) -> Result<&'a dyn Subject, UsageError> {
    find(subjects, name).ok_or_else(|| {
        let names: Vec<&str> = subjects.iter().map(|s| s.name()).collect();
        UsageError(format!(
            "no model called `{name}`; the models are: {}",
            names.join(", ")
        ))
    })
}

fn run(cli: Cli, subjects: &[Box<dyn Subject>]) -> Result<bool, UsageError> {
    match cli.command {
        Command::Explore {
            world: World::System,
            policy,
            model,
            seeds,
            time,
            generation,
            jobs,
            shard,
            report,
            junit,
            save_failures,
            fail_fast,
            ..
        } => {
            let unsupported = [
                ("--shard", shard.is_some()),
                ("--report", report.is_some()),
                ("--junit", junit.is_some()),
                ("--save-failures", save_failures.is_some()),
                ("--fail-fast", fail_fast),
            ];
            if let Some((flag, _)) = unsupported.iter().find(|(_, given)| *given) {
                return Err(UsageError(format!(
                    "{flag} is not available with --world system yet; `system --seed N --shrink --save FILE` saves a case"
                )));
            }
            let models: Vec<&dyn Subject> = if model == "all" {
                subjects.iter().map(|s| s.as_ref()).collect()
            } else {
                vec![subject(subjects, &model)?]
            };
            let args =
                system::SystemArgs::sweep(policy, model, seeds, time, jobs, generation.faults);
            system::system(args, models)
        }
        Command::Explore {
            model,
            seeds,
            time,
            generation,
            fail_fast,
            no_shrink,
            jobs,
            shard,
            report,
            junit,
            save_failures,
            max_schedules,
            scenario,
            grid,
            coverage,
            require_coverage,
            steer,
            ..
        } => {
            let models: Vec<&dyn Subject> = if model == "all" {
                subjects.iter().map(|s| s.as_ref()).collect()
            } else {
                vec![subject(subjects, &model)?]
            };
            let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed));
            let args = ExploreArgs {
                models,
                subjects,
                seeds,
                shard,
                time,
                jobs: jobs as usize,
                fail_fast,
                shrink: !no_shrink,
                save_failures,
                report,
                grid,
                coverage,
                require_coverage,
                steer,
                junit,
                max_schedules,
                dfs_scenario: scenario,
            };
            explore(args, &generation)
        }
        Command::Replay {
            model,
            source,
            generation,
            trace_out,
        } => {
            let model = subject(subjects, &model)?;
            commands::replay(model, &source, &generation, trace_out)
        }
        Command::Shrink {
            model,
            source,
            generation,
            save,
        } => {
            let model = subject(subjects, &model)?;
            commands::shrink(model, &source, &generation, save)
        }
        Command::Hunt {
            model,
            invariant,
            point,
            save,
            generation,
            campaigns,
            max,
            scenario,
        } => {
            let model = subject(subjects, &model)?;
            match (invariant, point) {
                (Some(invariant), _) => {
                    let invariant = parse_invariant(model, &invariant)?;
                    commands::hunt(model, invariant, &generation, campaigns, max, scenario)
                }
                (None, point) => {
                    let hunt = point_hunt::PointHunt {
                        model,
                        subjects,
                        point: point.unwrap_or_default(),
                        campaigns,
                        max,
                        scenario,
                        save,
                    };
                    point_hunt::hunt_point(hunt, &generation)
                }
            }
        }
        Command::Bench {
            coverage: Some(campaigns),
            jobs,
            ..
        } => {
            println!("lifecycle-sim bench --coverage {campaigns} (jobs {jobs})");
            print!(
                "{}",
                coverage_bench::coverage_table(campaigns, 200_000, jobs as usize)
            );
            Ok(true)
        }
        Command::Bench {
            time,
            jobs,
            stress_cap,
            memory,
            ..
        } => {
            println!(
                "lifecycle-sim bench (time {}, jobs {jobs})",
                humantime::format_duration(time)
            );
            print!(
                "{}",
                crate::cli::bench::run_bench(time.as_secs_f64(), jobs as usize, stress_cap)
            );
            if let Some(scenarios) = memory {
                print!("{}", memory::memory_report(scenarios, jobs as usize));
            }
            Ok(true)
        }
        Command::System(args) => {
            let models: Vec<&dyn Subject> = if args.model() == "all" {
                subjects.iter().map(|s| s.as_ref()).collect()
            } else {
                vec![subject(subjects, args.model())?]
            };
            system::system(args, models)
        }
        Command::Merge {
            reports,
            report,
            junit,
            require_coverage,
        } => merge::merge(merge::MergeArgs {
            reports,
            report,
            junit,
            require_coverage,
        }),
        Command::Points { model } => {
            coverage::list(subject(subjects, &model)?);
            Ok(true)
        }
        Command::Models => {
            for model in subjects {
                println!("{:<12} {}", model.name(), model.about());
            }
            Ok(true)
        }
    }
}

/// Runs the CLI on `subjects`: `explore --model all` sweeps each of them, and `--model NAME`
/// picks one by its name. A crate with a manager of its own builds its runner with this.
pub fn main_with(subjects: Vec<Box<dyn Subject>>) -> ExitCode {
    crate::report::set_program(program());
    if std::env::var_os("RUST_LOG").is_some() {
        crate::logging::init();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    let code = match run(cli, &subjects) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(UsageError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    };
    let _ = std::io::stdout().flush();
    code
}

/// How to run this binary again, for the replay commands reports print.
fn program() -> String {
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()));
    match name.as_deref() {
        Some("lifecycle-sim") | None => "cargo run --release -p lifecycle-sim --".to_string(),
        Some(bin) => format!("cargo run --release --bin {bin} --"),
    }
}
