//! `lifecycle-sim`: explore seeds for lifecycle bugs, replay one, list the models.
//!
//! Exit codes: 0 nothing violated, 1 a violation was found, 2 bad usage or input.

use std::io::Write as _;
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::report::scenario_report;
use lifecycle_sim::{FaultMode, Model, Scenario, Settings};

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

#[derive(Subcommand)]
enum Command {
    /// Run many seeds on one model or all, and report the first violation of each.
    Explore {
        /// The model to explore; every model if omitted.
        #[arg(long, value_enum, default_value_t = ModelChoice::All)]
        model: ModelChoice,
        /// A seed range `A..B` (B excluded). Without it, seeds from 0 for `--time`.
        #[arg(long, value_parser = parse_seeds, conflicts_with = "time")]
        seeds: Option<Range<u64>>,
        /// A time budget per model, such as `30s` or `5m`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
        time: Duration,
        /// Which faults the backend injects.
        #[arg(long, value_enum, default_value_t = FaultChoice::Swarm)]
        faults: FaultChoice,
    },
    /// Run one seed and print its whole timeline.
    Replay {
        #[arg(long, value_enum)]
        model: Model,
        #[arg(long)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = FaultChoice::Swarm)]
        faults: FaultChoice,
    },
    /// List the models and what each is.
    Models,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModelChoice {
    All,
    Legacy,
    Owned,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FaultChoice {
    /// Each seed switches a random subset of fault families on.
    Swarm,
    /// Every fault family on for every seed.
    All,
    /// No faults: only latency and interleaving.
    None,
}

fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let (start, end) = text.split_once("..").ok_or_else(|| {
        format!("`{text}` is not a seed range; write it as START..END, such as 0..1000")
    })?;
    let number = |s: &str| {
        s.trim().parse::<u64>().map_err(|_| {
            format!(
                "`{s}` in `{text}` is not a seed (a whole number from 0 to {})",
                u64::MAX
            )
        })
    };
    let (start, end) = (number(start)?, number(end)?);
    if start >= end {
        return Err(format!(
            "seed range {start}..{end} is empty: END must be greater than START"
        ));
    }
    Ok(start..end)
}

/// Usage errors on one line, so CI logs and scripts show the whole of it.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("For more information") && !l.starts_with("Usage:")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn settings(faults: FaultChoice) -> Settings {
    Settings {
        faults: match faults {
            FaultChoice::Swarm => FaultMode::Swarm,
            FaultChoice::All => FaultMode::Fixed(FaultConfig::all()),
            FaultChoice::None => FaultMode::Fixed(FaultConfig::none()),
        },
        ..Settings::default()
    }
}

/// Runs seeds until one fails, the range ends, or the budget runs out.
fn explore(model: Model, settings: &Settings, seeds: Option<Range<u64>>, budget: Duration) -> bool {
    let began = Instant::now();
    let range = seeds.clone().unwrap_or(0..u64::MAX);
    let mut ran: u64 = 0;
    for seed in range {
        if seeds.is_none() && began.elapsed() >= budget {
            break;
        }
        let scenario = Scenario::from_seed(settings, seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(model);
        ran += 1;
        if let Some(v) = &outcome.violation {
            let secs = began.elapsed().as_secs_f64();
            print!("{}", scenario_report(model, seed, &spec, &outcome));
            println!(
                "{model}: {} found at seed {seed} after {ran} scenarios, {secs:.2} s ({:.0} scenarios/s)",
                v.invariant,
                ran as f64 / secs.max(1e-9)
            );
            return false;
        }
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "{model}: no violation in {ran} scenarios, {secs:.2} s, {:.0} scenarios/s",
        ran as f64 / secs.max(1e-9)
    );
    true
}

fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    let clean = match cli.command {
        Command::Explore {
            model,
            seeds,
            time,
            faults,
        } => {
            let models: Vec<Model> = match model {
                ModelChoice::All => Model::ALL.to_vec(),
                ModelChoice::Legacy => vec![Model::Legacy],
                ModelChoice::Owned => vec![Model::Owned],
            };
            let settings = settings(faults);
            let mut clean = true;
            for model in models {
                clean &= explore(model, &settings, seeds.clone(), time);
            }
            clean
        }
        Command::Replay {
            model,
            seed,
            faults,
        } => {
            let scenario = Scenario::from_seed(&settings(faults), seed);
            let spec = scenario.spec.clone();
            let outcome = scenario.run(model);
            print!("{}", scenario_report(model, seed, &spec, &outcome));
            outcome.violation.is_none()
        }
        Command::Models => {
            for model in Model::ALL {
                println!("{:<8} {}", model.name(), model.about());
            }
            true
        }
    };
    let _ = std::io::stdout().flush();
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
