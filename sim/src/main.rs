//! `lifecycle-sim`: explore seeds for lifecycle bugs, replay or shrink one, list the models.
//!
//! Exit codes: 0 nothing violated, 1 a violation was found, 2 bad usage or input.

use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lifecycle_sim::explore::{DfsReport, Findings, Found, Hunted, dfs, hunt, sweep};
use lifecycle_sim::faults::FaultConfig;
use lifecycle_sim::report::{Origin, replay_command, scenario_report};
use lifecycle_sim::schedule::{PCT_STEPS, pct_bound};
use lifecycle_sim::shrink::{SHRINK_BUDGET, Shrunk, regression_test, shrink, steps};
use lifecycle_sim::{Case, FaultMode, Model, Scenario, Settings, Strategy};

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
    /// Run many scenarios on every model (or one) and report what each violates.
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
        #[command(flatten)]
        generation: Generation,
        /// Keep going after a model's first violation, to find every invariant it breaks.
        #[arg(long)]
        keep_going: bool,
        /// Report failures as found, without shrinking them.
        #[arg(long)]
        no_shrink: bool,
        /// Save every failure (shrunk unless --no-shrink) as a case file in this directory.
        #[arg(long, value_name = "DIR")]
        save_failures: Option<PathBuf>,
        /// dfs: the most schedules to run before giving up on exhausting the tree.
        #[arg(long, default_value_t = 100_000)]
        max_schedules: u64,
    },
    /// Run one scenario (a seed, or a saved case) and print its whole timeline.
    Replay {
        #[arg(long, value_enum)]
        model: Model,
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
        #[arg(long, value_enum)]
        model: Model,
        #[command(flatten)]
        source: Source,
        #[command(flatten)]
        generation: Generation,
        /// Also save the shrunk case here.
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
    },
    /// Hunt one invariant on one model in independent campaigns (different base seeds), and
    /// report how many scenarios each took to find it: a strategy's bug-finding power.
    Hunt {
        #[arg(long, value_enum)]
        model: Model,
        /// The invariant to find, such as I1.
        #[arg(long, value_parser = parse_invariant)]
        invariant: lifecycle_sim::Invariant,
        #[command(flatten)]
        generation: Generation,
        /// How many campaigns; campaign i starts at seed i * 1_000_000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        campaigns: u64,
        /// The most scenarios a campaign may run.
        #[arg(long, default_value_t = 100_000)]
        max: u64,
        /// What each campaign runs: generated scenarios, or the late-restart #1341 scenario
        /// (a0, a1, a2 start together, a0 restarts at 30 ms) under many seeds.
        #[arg(long, value_enum, default_value_t = HuntScenario::Generated)]
        scenario: HuntScenario,
    },
    /// List the models and what each is.
    Models,
}

fn parse_invariant(text: &str) -> Result<lifecycle_sim::Invariant, String> {
    lifecycle_sim::Invariant::parse(text)
        .ok_or_else(|| format!("`{text}` is not an invariant (I1..I8, L1)"))
}

/// How scenarios are generated from seeds.
#[derive(Args, Clone)]
struct Generation {
    /// Which faults the backend injects.
    #[arg(long, value_enum, default_value_t = FaultChoice::Swarm)]
    faults: FaultChoice,
    /// How the answers to concurrent backend calls are ordered.
    #[arg(long, value_enum, default_value_t = StrategyChoice::Random)]
    strategy: StrategyChoice,
    /// PCT depth d: the number of ordering constraints a bug needs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    depth: u32,
}

#[derive(Args, Clone)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("origin").required(true).args(["seed", "decisions"])))]
struct Source {
    /// A generated scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// A saved case file (JSON, from --save-failures or shrink --save), or a cargo-fuzz input
    /// (raw bytes, such as a crash artifact).
    #[arg(long, value_name = "FILE")]
    decisions: Option<PathBuf>,
    /// Read a fuzz input as the structured target's (workload from `arbitrary`) rather than
    /// the decision-stream target's.
    #[arg(long, requires = "decisions")]
    structured: bool,
}

fn model_choice() -> PossibleValuesParser {
    let mut names = vec!["all"];
    names.extend(Model::ALL.map(Model::name));
    PossibleValuesParser::new(names)
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HuntScenario {
    Generated,
    LateRestart,
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StrategyChoice {
    /// Random latency for every call.
    Random,
    /// Probabilistic Concurrency Testing with --depth.
    Pct,
    /// Bounded exhaustive search of the #1341 two-start scenario.
    Dfs,
}

impl Generation {
    fn strategy(&self) -> Strategy {
        match self.strategy {
            StrategyChoice::Random => Strategy::Random,
            StrategyChoice::Pct => Strategy::Pct { depth: self.depth },
            StrategyChoice::Dfs => Strategy::Dfs,
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            faults: match self.faults {
                FaultChoice::Swarm => FaultMode::Swarm,
                FaultChoice::All => FaultMode::Fixed(FaultConfig::all()),
                FaultChoice::None => FaultMode::Fixed(FaultConfig::none()),
            },
            strategy: self.strategy(),
            ..Settings::default()
        }
    }

    /// The flags that reproduce this generation in a replay command.
    fn flags(&self) -> String {
        let mut flags = String::new();
        match self.faults {
            FaultChoice::Swarm => {}
            FaultChoice::All => flags.push_str(" --faults all"),
            FaultChoice::None => flags.push_str(" --faults none"),
        }
        match self.strategy {
            StrategyChoice::Random => {}
            StrategyChoice::Pct => {
                flags.push_str(&format!(" --strategy pct --depth {}", self.depth))
            }
            StrategyChoice::Dfs => flags.push_str(" --strategy dfs"),
        }
        flags
    }

    fn origin(&self, seed: u64) -> Origin {
        Origin::Seed {
            seed,
            flags: self.flags(),
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

/// A user mistake: printed as one line, exit 2.
struct UsageError(String);

/// What `--decisions FILE` holds: a case (JSON), or a fuzz input (any other bytes).
enum Loaded {
    Case(Case),
    FuzzInput(Vec<u8>),
}

fn load_file(path: &Path) -> Result<Loaded, UsageError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim_start().starts_with('{') => Case::from_json(text)
            .map(Loaded::Case)
            .map_err(|e| UsageError(format!("{}: {e}", path.display()))),
        _ => Ok(Loaded::FuzzInput(bytes)),
    }
}

/// Runs the scenario a `--seed`/`--decisions` pair names; returns it as a case (its spec and
/// the choices the run drew), where it came from, and the outcome.
fn run_source(
    model: Model,
    source: &Source,
    generation: &Generation,
) -> Result<(Case, Origin, lifecycle_sim::Outcome), UsageError> {
    if source.structured && source.decisions.is_none() {
        return Err(UsageError(
            "--structured reads a fuzz input given with --decisions".into(),
        ));
    }
    let (scenario, origin) = match (&source.seed, &source.decisions) {
        (Some(seed), _) => (
            Scenario::from_seed(&generation.settings(), *seed),
            generation.origin(*seed),
        ),
        (None, Some(path)) => {
            let origin = Origin::File(path.display().to_string());
            let scenario = match load_file(path)? {
                Loaded::Case(case) => Scenario::from_case(&case),
                Loaded::FuzzInput(bytes) if source.structured => {
                    lifecycle_sim::fuzzing::structured_scenario(&bytes)
                }
                Loaded::FuzzInput(bytes) => lifecycle_sim::fuzzing::decision_scenario(&bytes),
            };
            (scenario, origin)
        }
        (None, None) => unreachable!("clap requires one of --seed and --decisions"),
    };
    let (seed, spec) = (scenario.seed, scenario.spec.clone());
    let outcome = scenario.run(model);
    Ok((Case::of_run(seed, &spec, &outcome), origin, outcome))
}

fn print_shrunk(
    model: Model,
    origin: &Origin,
    found_invariant: lifecycle_sim::Invariant,
    s: &Shrunk,
    full: bool,
) {
    let n = steps(&s.outcome, &s.case);
    println!(
        "shrunk in {} runs to {n} steps ({} operations)",
        s.runs,
        s.case.spec.workload.ops.len()
    );
    if full {
        let label = format!("shrunk from {}", origin.args().trim_start_matches("--"));
        print!(
            "{}",
            scenario_report(model, &Origin::Unsaved(label), &s.case.spec, &s.outcome)
        );
        println!("regression test (paste into tests/):");
        let name = match origin {
            Origin::Seed { seed, .. } => format!("seed {seed}"),
            Origin::File(path) | Origin::Unsaved(path) => format!("case {path}"),
        };
        print!(
            "{}",
            regression_test(model, found_invariant, &s.case, &name)
        );
    }
}

fn save_case(dir: &Path, model: Model, found: &Found, case: &Case) -> Result<PathBuf, UsageError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;
    let mut case = case.clone();
    case.expect
        .insert(model.name().into(), found.invariant.code());
    let owned = case.run(Model::Owned);
    case.expect
        .insert(Model::Owned.name().into(), Case::verdict(&owned));
    let path = dir.join(format!(
        "{}-{}-seed{}.json",
        model.name(),
        found.invariant.code(),
        found.seed
    ));
    case.save(&path).map_err(UsageError)?;
    Ok(path)
}

fn print_table(findings: &[Findings]) {
    println!(
        "{:<12} {:<8} {:<30} {:>8} {:>10} {:>13} {:>12}",
        "model", "verdict", "first violated", "seed", "scenarios", "time to find", "scenarios/s"
    );
    for f in findings {
        let (verdict, first, seed, time) = match f.first() {
            Some(found) => (
                "FAIL",
                found.invariant.to_string(),
                found.seed.to_string(),
                format!("{:.2} s", found.after.as_secs_f64()),
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
            f.rate()
        );
        if f.found.len() > 1 {
            let all: Vec<String> = f
                .found
                .iter()
                .map(|found| format!("{} (seed {})", found.invariant.code(), found.seed))
                .collect();
            println!("{:<12} violated: {}", "", all.join(", "));
        }
    }
}

fn print_metrics(f: &Findings, strategy: Strategy) {
    println!(
        "{}: {} distinct interleavings, {} (state, operation) pairs, {:.0} scenarios/s",
        f.model,
        f.interleavings.len(),
        f.coverage.len(),
        f.rate()
    );
    if let Strategy::Pct { depth } = strategy {
        let bound = pct_bound(f.max_ops, PCT_STEPS, depth);
        println!(
            "{}: pct depth {depth}: each scenario finds a given depth-{depth} bug with probability >= 1/(n*k^(d-1)) = 1/({}*{}^{}) = {bound:.2e} (n = most operations, k = {PCT_STEPS} steps)",
            f.model,
            f.max_ops,
            PCT_STEPS,
            depth - 1
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn explore(
    models: Vec<Model>,
    seeds: Option<Range<u64>>,
    time: Duration,
    generation: &Generation,
    keep_going: bool,
    no_shrink: bool,
    save_failures: Option<&Path>,
    max_schedules: u64,
) -> Result<bool, UsageError> {
    let single = models.len() == 1;
    if generation.strategy == StrategyChoice::Dfs {
        let spec = lifecycle_sim::catalog::two_starts(Strategy::Dfs);
        let mut clean = true;
        for model in models {
            let DfsReport {
                schedules,
                exhausted,
                failure,
            } = dfs(model, &spec, max_schedules);
            let verdict = if exhausted {
                format!("exhausted: all {schedules} schedules")
            } else {
                format!("{schedules} schedules, not exhausted")
            };
            match failure {
                None => println!("{model}: dfs of the two-start scenario: no violation; {verdict}"),
                Some((case, outcome)) => {
                    clean = false;
                    let v = outcome.violation.as_ref().expect("a failure");
                    println!(
                        "{model}: dfs of the two-start scenario: {} after {schedules} schedules",
                        v.invariant
                    );
                    let origin = Origin::Unsaved("found by dfs".into());
                    print!("{}", scenario_report(model, &origin, &case.spec, &outcome));
                    if let Some(dir) = save_failures {
                        let path =
                            dir.join(format!("{}-{}-dfs.json", model.name(), v.invariant.code()));
                        std::fs::create_dir_all(dir)
                            .and_then(|()| std::fs::write(&path, case.to_json()))
                            .map_err(|e| {
                                UsageError(format!("cannot write {}: {e}", path.display()))
                            })?;
                        println!("saved: {}", path.display());
                    }
                }
            }
        }
        return Ok(clean);
    }
    let settings = generation.settings();
    let mut all = Vec::new();
    for model in models {
        let mut saved: Result<(), UsageError> = Ok(());
        let findings = sweep(model, &settings, seeds.clone(), time, keep_going, |found| {
            let origin = generation.origin(found.seed);
            if single {
                print!(
                    "{}",
                    scenario_report(model, &origin, &found.case.spec, &found.outcome)
                );
            } else {
                println!(
                    "{model}: {} at seed {}: {}",
                    found.invariant,
                    found.seed,
                    found
                        .outcome
                        .violation
                        .as_ref()
                        .map(|v| v.detail.as_str())
                        .unwrap_or("")
                );
                println!("  replay: {}", replay_command(model, &origin));
            }
            let case = if no_shrink {
                found.case.clone()
            } else {
                let shrunk = shrink(model, found.case.clone(), found.invariant, SHRINK_BUDGET);
                print_shrunk(model, &origin, found.invariant, &shrunk, single);
                shrunk.case
            };
            if let Some(dir) = save_failures
                && saved.is_ok()
            {
                match save_case(dir, model, found, &case) {
                    Ok(path) => println!("saved: {}", path.display()),
                    Err(e) => saved = Err(e),
                }
            }
            println!();
        });
        saved?;
        all.push(findings);
    }
    if single && !keep_going {
        let f = &all[0];
        let secs = f.elapsed.as_secs_f64();
        match f.first() {
            Some(found) => println!(
                "{}: {} found at seed {} after {} scenarios, {secs:.2} s ({:.0} scenarios/s)",
                f.model,
                found.invariant,
                found.seed,
                found.scenarios,
                f.rate()
            ),
            None => println!(
                "{}: no violation in {} scenarios, {secs:.2} s, {:.0} scenarios/s",
                f.model,
                f.scenarios,
                f.rate()
            ),
        }
    } else {
        print_table(&all);
    }
    for f in &all {
        print_metrics(f, generation.strategy());
    }
    Ok(all.iter().all(|f| f.found.is_empty()))
}

fn run(cli: Cli) -> Result<bool, UsageError> {
    match cli.command {
        Command::Explore {
            model,
            seeds,
            time,
            generation,
            keep_going,
            no_shrink,
            save_failures,
            max_schedules,
        } => {
            let models: Vec<Model> = match Model::ALL.into_iter().find(|m| m.name() == model) {
                Some(one) => vec![one],
                None => Model::ALL.to_vec(),
            };
            explore(
                models,
                seeds,
                time,
                &generation,
                keep_going,
                no_shrink,
                save_failures.as_deref(),
                max_schedules,
            )
        }
        Command::Replay {
            model,
            source,
            generation,
            trace_out,
        } => {
            let (case, origin, outcome) = run_source(model, &source, &generation)?;
            print!("{}", scenario_report(model, &origin, &case.spec, &outcome));
            if let Some(path) = trace_out {
                let title = format!("{model} {}", origin.args());
                let json = lifecycle_sim::trace::chrome_trace(&outcome, &title);
                std::fs::write(&path, format!("{json}\n"))
                    .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?;
            }
            Ok(outcome.violation.is_none())
        }
        Command::Shrink {
            model,
            source,
            generation,
            save,
        } => {
            let (case, origin, outcome) = run_source(model, &source, &generation)?;
            let Some(v) = &outcome.violation else {
                print!("{}", scenario_report(model, &origin, &case.spec, &outcome));
                println!("nothing to shrink: {model} passes this scenario");
                return Ok(true);
            };
            println!("{model} {}: {}", origin.args(), v.invariant);
            let shrunk = shrink(model, case, v.invariant, SHRINK_BUDGET);
            print_shrunk(model, &origin, v.invariant, &shrunk, true);
            if let Some(path) = save {
                shrunk.case.save(&path).map_err(UsageError)?;
                println!("saved: {}", path.display());
            }
            Ok(false)
        }
        Command::Hunt {
            model,
            invariant,
            generation,
            campaigns,
            max,
            scenario,
        } => {
            let settings = generation.settings();
            let late = lifecycle_sim::catalog::late_restart(generation.strategy());
            let hunted = match scenario {
                HuntScenario::Generated => Hunted::Generated(&settings),
                HuntScenario::LateRestart => Hunted::Fixed(&late),
            };
            let began = std::time::Instant::now();
            let mut taken: Vec<Option<u64>> = Vec::new();
            for campaign in 0..campaigns {
                let found = hunt(model, &hunted, campaign * 1_000_000, max, invariant);
                let shown = found.map_or_else(|| format!("not within {max}"), |n| n.to_string());
                println!(
                    "campaign {campaign:>3} (seeds from {:>10}): {shown}",
                    campaign * 1_000_000
                );
                taken.push(found);
            }
            // Campaigns that never found it count as the most scenarios allowed.
            let mut counts: Vec<u64> = taken.iter().map(|t| t.unwrap_or(max)).collect();
            counts.sort_unstable();
            let median = if counts.len() % 2 == 1 {
                counts[counts.len() / 2] as f64
            } else {
                (counts[counts.len() / 2 - 1] + counts[counts.len() / 2]) as f64 / 2.0
            };
            let found = taken.iter().filter(|t| t.is_some()).count();
            println!(
                "{model} {invariant} with {}: found in {found} of {campaigns} campaigns; median {median} scenarios; {:.2} s",
                generation.strategy().name(),
                began.elapsed().as_secs_f64()
            );
            Ok(found == 0)
        }
        Command::Models => {
            for model in Model::ALL {
                println!("{:<12} {}", model.name(), model.about());
            }
            Ok(true)
        }
    }
}

fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        lifecycle_sim::logging::init();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    let code = match run(cli) {
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
