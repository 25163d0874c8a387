//! The command-line runner: explore seeds for lifecycle bugs, replay or shrink one, hunt one
//! invariant, list the subjects, on any set of subjects ([`main_with`]).
//!
//! Exit codes: 0 nothing violated, 1 a violation was found, 2 bad usage or input.

pub mod bench;
mod memory;

mod args;
mod coverage;
mod coverage_bench;
mod explore;
mod findings;
mod grammar;
mod hunt;
mod merge;
mod page;
mod point_hunt;
mod progress_bar;
mod replay;
mod search;
mod system;
mod system_one;
mod system_page;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use crate::subject::{Subject, find};
use args::{one_line, parse_invariant};
use clap::Parser;
use explore::{ExploreArgs, INTERRUPTED, explore};
use grammar::{Cli, Command, WorldChoice};

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
            world: WorldChoice::System,
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
            coverage,
            require_coverage,
            steer,
            grid,
            html,
            ..
        } => {
            let unsupported = [
                ("--shard", shard.is_some()),
                ("--report", report.is_some()),
                ("--junit", junit.is_some()),
                ("--save-failures", save_failures.is_some()),
                ("--fail-fast", fail_fast),
                ("--coverage", coverage),
                ("--require-coverage", require_coverage.is_some()),
                ("--steer", steer),
                ("--grid", grid),
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
            let mut args =
                system::SystemArgs::sweep(policy, model, seeds, time, jobs, generation.faults);
            args.html = html;
            system::system(args, models)
        }
        Command::Explore {
            model,
            seeds,
            time,
            generation,
            fail_fast,
            verbose,
            no_shrink,
            jobs,
            shard,
            report,
            junit,
            save_failures,
            max_schedules,
            max_deviations,
            invariant,
            scenario,
            grid,
            coverage,
            require_coverage,
            steer,
            html,
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
                verbose,
                shrink: !no_shrink,
                save_failures,
                report,
                grid,
                coverage,
                require_coverage,
                steer,
                junit,
                html,
                max_schedules,
                max_deviations,
                dfs_invariant: invariant,
                dfs_scenario: scenario,
            };
            explore(args, &generation)
        }
        Command::Replay {
            model,
            source,
            generation,
            trace_out,
            html,
        } => {
            let model = subject(subjects, &model)?;
            replay::replay(model, &source, &generation, trace_out, html)
        }
        Command::Shrink {
            model,
            source,
            generation,
            save,
        } => {
            let model = subject(subjects, &model)?;
            replay::shrink(model, &source, &generation, save)
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
            html,
        } => {
            let model = subject(subjects, &model)?;
            match (invariant, point) {
                (Some(invariant), _) => {
                    let invariant = parse_invariant(model, &invariant)?;
                    let hunt = hunt::Hunt {
                        model,
                        invariant,
                        campaigns,
                        max,
                        scenario,
                        html,
                    };
                    hunt::hunt(hunt, &generation)
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
            time, jobs, memory, ..
        } => {
            println!(
                "lifecycle-sim bench (time {}, jobs {jobs})",
                humantime::format_duration(time)
            );
            print!(
                "{}",
                crate::cli::bench::run_bench(time.as_secs_f64(), jobs as usize)
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
            html,
            require_coverage,
        } => merge::merge(
            merge::MergeArgs {
                reports,
                report,
                junit,
                html,
                require_coverage,
            },
            &subjects.iter().map(|s| s.as_ref()).collect::<Vec<_>>(),
        ),
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
