//! `lifecycle-sim`: explore seeds for lifecycle bugs, replay one, list the models.
//!
//! Exit codes: 0 nothing violated, 1 a violation was found, 2 bad usage or input.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::PossibleValuesParser;
use clap::{Parser, Subcommand, ValueEnum};
use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::report::{replay_command, scenario_report};
use lifecycle_sim::{FaultMode, Invariant, Model, Scenario, Settings};

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
    /// Run many seeds on every model (or one) and print what each violates.
    Explore {
        /// `all`, or one model (see `lifecycle-sim models`).
        #[arg(long, default_value = "all", value_parser = model_choice())]
        model: String,
        /// A seed range `A..B` (B excluded). Without it, seeds from 0 until `--time` runs out.
        #[arg(long, value_parser = parse_seeds, conflicts_with = "time")]
        seeds: Option<Range<u64>>,
        /// The time budget per model, such as `30s` or `5m`.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
        time: Duration,
        /// Which faults the backend injects.
        #[arg(long, value_enum, default_value_t = FaultChoice::Swarm)]
        faults: FaultChoice,
        /// Keep going after a model's first violation, to find every invariant it breaks.
        #[arg(long)]
        keep_going: bool,
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

fn model_choice() -> PossibleValuesParser {
    let mut names = vec!["all"];
    names.extend(Model::ALL.map(Model::name));
    PossibleValuesParser::new(names)
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FaultChoice {
    /// Each seed switches a random subset of fault families (and operation kinds) on.
    Swarm,
    /// Every fault family on for every seed.
    All,
    /// No faults: only latency and interleaving.
    None,
}

impl FaultChoice {
    fn flag(self) -> &'static str {
        match self {
            Self::Swarm => "",
            Self::All => " --faults all",
            Self::None => " --faults none",
        }
    }
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

/// What exploring one model found.
struct Findings {
    model: Model,
    /// The first violation: invariant, seed, scenarios run and time taken until it.
    first: Option<(Invariant, u64, u64, Duration)>,
    /// The first seed of every invariant violated (with --keep-going).
    all: BTreeMap<Invariant, u64>,
    scenarios: u64,
    elapsed: Duration,
}

/// Runs seeds until the range ends or the budget runs out; stops at the first violation
/// unless `keep_going`. Prints each new violation as it is found.
fn explore(
    model: Model,
    settings: &Settings,
    seeds: Option<Range<u64>>,
    budget: Duration,
    keep_going: bool,
    full_reports: bool,
    faults: FaultChoice,
) -> Findings {
    let began = Instant::now();
    let mut found = Findings {
        model,
        first: None,
        all: BTreeMap::new(),
        scenarios: 0,
        elapsed: Duration::ZERO,
    };
    for seed in seeds.clone().unwrap_or(0..u64::MAX) {
        if seeds.is_none() && began.elapsed() >= budget {
            break;
        }
        let scenario = Scenario::from_seed(settings, seed);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(model);
        found.scenarios += 1;
        let Some(v) = &outcome.violation else {
            continue;
        };
        if found.all.contains_key(&v.invariant) {
            continue;
        }
        found.all.insert(v.invariant, seed);
        found
            .first
            .get_or_insert((v.invariant, seed, found.scenarios, began.elapsed()));
        if full_reports {
            print!("{}", scenario_report(model, seed, &spec, &outcome));
            println!();
        } else {
            println!("{model}: {} at seed {seed}: {}", v.invariant, v.detail);
            println!("  replay: {}{}", replay_command(model, seed), faults.flag());
        }
        if !keep_going {
            break;
        }
    }
    found.elapsed = began.elapsed();
    found
}

fn rate(scenarios: u64, elapsed: Duration) -> f64 {
    scenarios as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn print_table(findings: &[Findings]) {
    println!(
        "{:<12} {:<8} {:<30} {:>8} {:>10} {:>13} {:>12}",
        "model", "verdict", "first violated", "seed", "scenarios", "time to find", "scenarios/s"
    );
    for f in findings {
        let (verdict, first, seed, time) = match f.first {
            Some((inv, seed, _, t)) => (
                "FAIL",
                inv.to_string(),
                seed.to_string(),
                format!("{:.2} s", t.as_secs_f64()),
            ),
            None => ("pass", "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<12} {:<8} {:<30} {:>8} {:>10} {:>13} {:>12.0}",
            f.model.name(),
            verdict,
            first,
            seed,
            f.scenarios,
            time,
            rate(f.scenarios, f.elapsed)
        );
        if f.all.len() > 1 {
            let also: Vec<String> = f
                .all
                .iter()
                .map(|(inv, seed)| format!("{} (seed {seed})", inv.code()))
                .collect();
            println!("{:<12} violated: {}", "", also.join(", "));
        }
    }
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
            keep_going,
        } => {
            let models: Vec<Model> = match Model::ALL.into_iter().find(|m| m.name() == model) {
                Some(one) => vec![one],
                None => Model::ALL.to_vec(),
            };
            let single = models.len() == 1;
            let settings = settings(faults);
            let findings: Vec<Findings> = models
                .into_iter()
                .map(|m| {
                    explore(
                        m,
                        &settings,
                        seeds.clone(),
                        time,
                        keep_going,
                        single,
                        faults,
                    )
                })
                .collect();
            if single && !keep_going {
                let f = &findings[0];
                let secs = f.elapsed.as_secs_f64();
                match f.first {
                    Some((inv, seed, ran, _)) => println!(
                        "{}: {inv} found at seed {seed} after {ran} scenarios, {secs:.2} s ({:.0} scenarios/s)",
                        f.model,
                        rate(f.scenarios, f.elapsed)
                    ),
                    None => println!(
                        "{}: no violation in {} scenarios, {secs:.2} s, {:.0} scenarios/s",
                        f.model,
                        f.scenarios,
                        rate(f.scenarios, f.elapsed)
                    ),
                }
            } else {
                print_table(&findings);
            }
            findings.iter().all(|f| f.first.is_none())
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
                println!("{:<12} {}", model.name(), model.about());
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
