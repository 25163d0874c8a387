//! The command-line runner: explore seeds for lifecycle bugs, replay or shrink one, hunt one
//! invariant, list the subjects, on any set of subjects ([`main_with`]).
//!
//! Exit codes: 0 nothing violated, 1 a violation was found, 2 bad usage or input.

pub mod bench;
mod stress;

use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::explore::shrink::{SHRINK_BUDGET, Shrunk, regression_test, shrink, steps};
use crate::explore::{
    DfsReport, Failure, Findings, Hunted, Progress, SeedSet, SweepConfig, dfs, hunt, sweep,
};
use crate::report::json::{ModelReport, RunReport};
use crate::report::{Origin, replay_command, scenario_report};
use crate::subject::{Subject, find};
use crate::world::faults::FaultConfig;
use crate::world::schedule::pct_bound;
use crate::{Case, FaultMode, Scenario, Settings, Strategy};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

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
        /// Write a JUnit XML report (one test case per model) here.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Save every failure (shrunk unless --no-shrink) as a case file in this directory.
        #[arg(long, value_name = "DIR")]
        save_failures: Option<PathBuf>,
        /// dfs: the most schedules to run before giving up on exhausting the tree.
        #[arg(long, default_value_t = 100_000)]
        max_schedules: u64,
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
    /// Hunt one invariant on one model in independent campaigns (different base seeds), and
    /// report how many scenarios each took to find it: a strategy's bug-finding power.
    Hunt {
        /// The model (see `models`).
        #[arg(long)]
        model: String,
        /// The invariant to find, such as I1.
        #[arg(long, value_parser = parse_invariant)]
        invariant: crate::Invariant,
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
    },
    /// List the models and what each is.
    Models,
}

fn default_jobs() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u64)
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard; write it as K/N, such as 0/4"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| format!("`{k}` in `{text}` is not a shard number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` in `{text}` is not a shard count"))?;
    if n == 0 || k >= n {
        return Err(format!(
            "shard {k}/{n} does not exist: K must be below N, and N above 0"
        ));
    }
    Ok((k, n))
}

fn parse_invariant(text: &str) -> Result<crate::Invariant, String> {
    crate::Invariant::parse(text)
        .ok_or_else(|| format!("`{text}` is not an invariant (I1..I8, L1, L2, panic)"))
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HuntScenario {
    Generated,
    LateRestart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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
    Case(Box<Case>),
    FuzzInput(Vec<u8>),
}

fn load_file(path: &Path) -> Result<Loaded, UsageError> {
    let bytes = std::fs::read(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.trim_start().starts_with('{') => Case::from_json(text)
            .map(|case| Loaded::Case(Box::new(case)))
            .map_err(|e| UsageError(format!("{}: {e}", path.display()))),
        _ => Ok(Loaded::FuzzInput(bytes)),
    }
}

/// Runs the scenario a `--seed`/`--decisions` pair names; returns it as a case (its spec and
/// the choices the run drew), where it came from, and the outcome.
fn run_source(
    model: &dyn Subject,
    source: &Source,
    generation: &Generation,
) -> Result<(Case, Origin, crate::Outcome), UsageError> {
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
                    crate::fuzzing::structured_scenario(&bytes)
                }
                Loaded::FuzzInput(bytes) => crate::fuzzing::decision_scenario(&bytes),
            };
            (scenario, origin)
        }
        (None, None) => unreachable!("clap requires one of --seed and --decisions"),
    };
    let (seed, spec) = (scenario.seed, scenario.spec.clone());
    let outcome = scenario.run(model);
    Ok((Case::of_run(seed, &spec, &outcome), origin, outcome))
}

fn shrunk_text(
    model: &dyn Subject,
    origin: &Origin,
    invariant: crate::Invariant,
    s: &Shrunk,
    full: bool,
) -> String {
    let n = steps(&s.outcome, &s.case);
    let mut text = format!(
        "shrunk in {} runs to {n} steps ({} operations)\n",
        s.runs,
        s.case.spec.workload.ops.len()
    );
    if full {
        let label = format!("shrunk from {}", origin.args().trim_start_matches("--"));
        text.push_str(&scenario_report(
            model.name(),
            &Origin::Unsaved(label),
            &s.case.spec,
            &s.outcome,
        ));
        text.push_str("regression test (paste into tests/):\n");
        let name = match origin {
            Origin::Seed { seed, .. } => format!("seed {seed}"),
            Origin::File(path) | Origin::Unsaved(path) => format!("case {path}"),
        };
        text.push_str(&regression_test(model, invariant, &s.case, &name));
    }
    text
}

fn save_case(
    dir: &Path,
    model: &dyn Subject,
    subjects: &[Box<dyn Subject>],
    found: &Failure,
    case: &Case,
) -> Result<PathBuf, UsageError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;
    let mut case = case.clone();
    case.expect
        .insert(model.name().into(), found.invariant.code());
    // What every other subject makes of it, so that the store holds them all to it.
    for other in subjects.iter().filter(|s| s.name() != model.name()) {
        let outcome = Scenario::from_case(&case).run(other.as_ref());
        case.expect
            .insert(other.name().into(), Case::verdict(&outcome));
    }
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
            f.model,
            verdict,
            first,
            seed,
            f.scenarios,
            time,
            f.rate()
        );
        if f.failures.len() > 1 {
            let all: Vec<String> = f
                .failures
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
        let p = f.pct;
        let k = p.estimate.max(p.steps);
        let bound = pct_bound(p.threads, k, depth);
        println!(
            "{}: pct depth {depth}: each scenario finds a given depth-{depth} bug with probability >= 1/(n*k^(d-1)) = 1/({}*{k}^{}) = {bound:.2e}",
            f.model,
            p.threads,
            depth - 1
        );
        println!(
            "{}:   n = {} threads, the most any scenario had (the client, each operation, each task of the manager's own that called the backend); k = {k}: the most steps measured was {}, and change points were drawn over each scenario's estimate (at most {}), which {} of {} scenarios exceeded",
            f.model, p.threads, p.steps, p.estimate, p.over_estimate, f.scenarios
        );
    }
}

/// What `explore` was asked to do.
struct ExploreArgs<'a> {
    models: Vec<&'a dyn Subject>,
    /// Every subject the CLI knows, for the verdicts a saved case records.
    subjects: &'a [Box<dyn Subject>],
    seeds: Option<Range<u64>>,
    shard: Option<(u64, u64)>,
    time: Duration,
    jobs: usize,
    fail_fast: bool,
    shrink: bool,
    save_failures: Option<PathBuf>,
    report: Option<PathBuf>,
    junit: Option<PathBuf>,
    max_schedules: u64,
}

/// Set by Ctrl-C: explore stops taking seeds, reports what ran, and writes its files.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn explore_dfs(
    models: &[&dyn Subject],
    max_schedules: u64,
    save_failures: Option<&Path>,
) -> Result<bool, UsageError> {
    let spec = crate::scenario::catalog::two_starts(Strategy::Dfs);
    let mut clean = true;
    for &model in models {
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
        let Some((case, outcome)) = failure else {
            println!("{model}: dfs of the two-start scenario: no violation; {verdict}");
            continue;
        };
        clean = false;
        let v = outcome.violation.as_ref().expect("a failure");
        println!(
            "{model}: dfs of the two-start scenario: {} after {schedules} schedules",
            v.invariant
        );
        let origin = Origin::Unsaved("found by dfs".into());
        print!(
            "{}",
            scenario_report(model.name(), &origin, &case.spec, &outcome)
        );
        if let Some(dir) = save_failures {
            let path = dir.join(format!("{}-{}-dfs.json", model.name(), v.invariant.code()));
            std::fs::create_dir_all(dir)
                .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;
            case.save(&path).map_err(UsageError)?;
            println!("saved: {}", path.display());
        }
    }
    Ok(clean)
}

/// A progress bar on a terminal; a plain line every 10 s otherwise.
struct ProgressView {
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl ProgressView {
    fn new(model: &dyn Subject) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(model.name().to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
        }
    }

    fn update(&mut self, model: &dyn Subject, p: &Progress) {
        let rate = p.scenarios as f64 / p.elapsed.as_secs_f64().max(1e-9);
        let text = format!(
            "{} scenarios, {rate:.0}/s, {} failures",
            p.scenarios, p.failures
        );
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None if self.last_line.elapsed() >= Duration::from_secs(10) => {
                self.last_line = Instant::now();
                eprintln!("{model}: {text}, {:.0} s", p.elapsed.as_secs_f64());
            }
            None => {}
        }
    }

    fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print!("{text}")),
            None => print!("{text}"),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn explore(a: ExploreArgs, generation: &Generation) -> Result<bool, UsageError> {
    // A report that cannot be written is found out now, not after an 8-hour run.
    for path in a.report.iter().chain(&a.junit) {
        write_file(path, "")?;
    }
    if generation.strategy == StrategyChoice::Dfs {
        return explore_dfs(&a.models, a.max_schedules, a.save_failures.as_deref());
    }
    let single = a.models.len() == 1;
    let settings = generation.settings();
    let seeds = SeedSet {
        range: a.seeds.clone(),
        shard: a.shard.unwrap_or((0, 1)),
    };
    let config = SweepConfig {
        seeds,
        budget: a.time,
        jobs: a.jobs,
        fail_fast: a.fail_fast,
        shrink: a.shrink,
        stop: &INTERRUPTED,
    };
    let mut all = Vec::new();
    for &model in &a.models {
        if INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        // Both callbacks write to the terminal through the one progress view.
        let view = std::cell::RefCell::new(ProgressView::new(model));
        let mut saved: Result<(), UsageError> = Ok(());
        let mut reported = 0;
        let findings = sweep(
            model,
            &settings,
            &config,
            |failure| {
                let origin = generation.origin(failure.seed);
                let mut text = String::new();
                if single && reported == 0 {
                    text.push_str(&scenario_report(
                        model.name(),
                        &origin,
                        &failure.case.spec,
                        &failure.outcome,
                    ));
                    if let Some(s) = &failure.shrunk {
                        text.push_str(&shrunk_text(model, &origin, failure.invariant, s, true));
                    }
                } else {
                    let detail = failure
                        .outcome
                        .violation
                        .as_ref()
                        .map_or("", |v| v.detail.as_str());
                    text.push_str(&format!(
                        "{model}: {} at seed {}: {detail}\n",
                        failure.invariant, failure.seed
                    ));
                    text.push_str(&format!(
                        "  replay: {}\n",
                        replay_command(model.name(), &origin)
                    ));
                    if let Some(s) = &failure.shrunk {
                        text.push_str(&format!(
                            "  {}",
                            shrunk_text(model, &origin, failure.invariant, s, false)
                        ));
                    }
                }
                reported += 1;
                if let Some(dir) = &a.save_failures
                    && saved.is_ok()
                {
                    let case = failure.shrunk.as_ref().map_or(&failure.case, |s| &s.case);
                    match save_case(dir, model, a.subjects, failure, case) {
                        Ok(path) => text.push_str(&format!("saved: {}\n", path.display())),
                        Err(e) => saved = Err(e),
                    }
                }
                text.push('\n');
                view.borrow().println(&text);
            },
            |progress| view.borrow_mut().update(model, progress),
        );
        view.into_inner().finish();
        saved?;
        all.push(findings);
    }
    let interrupted = INTERRUPTED.load(Ordering::Relaxed);
    if interrupted {
        println!("interrupted: reporting what ran");
    }
    if single && a.fail_fast {
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
    } else if single && all[0].failures.is_empty() {
        let f = &all[0];
        println!(
            "{}: no violation in {} scenarios, {:.2} s, {:.0} scenarios/s",
            f.model,
            f.scenarios,
            f.elapsed.as_secs_f64(),
            f.rate()
        );
    } else {
        print_table(&all);
    }
    for f in &all {
        print_metrics(f, generation.strategy());
    }
    let run_report = RunReport {
        seeds: a.seeds.as_ref().map_or_else(
            || format!("from 0 for {}", humantime::format_duration(a.time)),
            |r| format!("{}..{}", r.start, r.end),
        ),
        shard: a
            .shard
            .map_or_else(|| "0/1".into(), |(k, n)| format!("{k}/{n}")),
        jobs: a.jobs,
        faults: format!("{:?}", generation.faults).to_lowercase(),
        strategy: generation.strategy().name(),
        interrupted,
        models: all
            .iter()
            .map(|f| ModelReport::new(f, |seed| generation.origin(seed)))
            .collect(),
    };
    if let Some(path) = &a.report {
        write_file(path, &run_report.to_json())?;
    }
    if let Some(path) = &a.junit {
        write_file(path, &run_report.junit())?;
    }
    Ok(all.iter().all(|f| f.failures.is_empty()))
}

fn write_file(path: &Path, text: &str) -> Result<(), UsageError> {
    std::fs::write(path, text)
        .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))
}

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
                junit,
                max_schedules,
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
            let (case, origin, outcome) = run_source(model, &source, &generation)?;
            print!(
                "{}",
                scenario_report(model.name(), &origin, &case.spec, &outcome)
            );
            if let Some(path) = trace_out {
                let title = format!("{model} {}", origin.args());
                let json = crate::report::chrome::chrome_trace(&outcome, &title);
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
            let model = subject(subjects, &model)?;
            let (case, origin, outcome) = run_source(model, &source, &generation)?;
            let Some(v) = &outcome.violation else {
                print!(
                    "{}",
                    scenario_report(model.name(), &origin, &case.spec, &outcome)
                );
                println!("nothing to shrink: {model} passes this scenario");
                return Ok(true);
            };
            println!("{model} {}: {}", origin.args(), v.invariant);
            let shrunk = shrink(model, case, v.invariant, SHRINK_BUDGET);
            print!(
                "{}",
                shrunk_text(model, &origin, v.invariant, &shrunk, true)
            );
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
            let model = subject(subjects, &model)?;
            let settings = generation.settings();
            let late = crate::scenario::catalog::late_restart(generation.strategy());
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
        Command::Bench {
            time,
            jobs,
            stress_cap,
        } => {
            println!(
                "lifecycle-sim bench (time {}, jobs {jobs})",
                humantime::format_duration(time)
            );
            print!(
                "{}",
                crate::cli::bench::run_bench(time.as_secs_f64(), jobs as usize, stress_cap)
            );
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
