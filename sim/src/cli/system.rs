//! `lifecycle-sim system`: the whole system over turmoil's network, each town policy against
//! each container model: a findings table, or one scenario's timeline with `--seed`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::UsageError;
use super::args::{FaultChoice, default_jobs, parse_seeds};
use super::system_one::{shrink_and_save, tell};
use crate::report::program;
use crate::subject::Subject;
use crate::system::saved::SystemCase;
use crate::system::scenario::{Families, SystemSpec};
use crate::system::scene::SystemOutcome;
use crate::system::town::TownPolicy;

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum SystemFaults {
    /// Every fault family on during the chaos: the backend's faults, partitions, holds,
    /// failed connections, an eviction, and stops by the town.
    All,
    /// Each seed turns each family on or off (swarm testing).
    Swarm,
    /// The system's families only (network, eviction, stops), on a faultless backend: what
    /// the town and the network do to a container, apart from its own backend's faults.
    System,
    /// No faults: only the network's latency.
    None,
}

#[derive(Args)]
pub(super) struct SystemArgs {
    /// `all`, or one town policy: leave-working (#1358), rollback (#2061 as proposed),
    /// fenced (ours).
    #[arg(long, default_value = "all")]
    policy: String,
    /// `all`, or one container model (see `models`).
    #[arg(long, default_value = "all")]
    model: String,
    /// A seed range `A..B`; without it, seeds from 0 until `--time` runs out, per pair.
    #[arg(long, value_parser = parse_seeds)]
    pub(super) seeds: Option<Range<u64>>,
    /// The time budget per (policy, model) pair, such as `30s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub(super) time: Duration,
    #[arg(long, value_enum, default_value_t = SystemFaults::All)]
    faults: SystemFaults,
    /// Threads.
    #[arg(long, default_value_t = default_jobs(), value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(super) jobs: u64,
    /// Run this one scenario and print its timeline (needs one policy and one model).
    #[arg(long)]
    seed: Option<u64>,
    /// With --seed: shrink a failing scenario (fewer agents, partitions and fault families)
    /// while the same invariant fails, and print the smallest.
    #[arg(long, requires = "seed")]
    shrink: bool,
    /// With --shrink: save the shrunk scenario as a case file, with every model's verdict.
    #[arg(long, value_name = "FILE", requires = "shrink")]
    pub(super) save: Option<PathBuf>,
    /// Run a saved system case (its policy is in it) on one model and print its timeline.
    #[arg(long, value_name = "FILE", conflicts_with = "seed")]
    case: Option<PathBuf>,
    /// With --seed or --case: also write the run as Chrome trace-event JSON (open it in
    /// Perfetto): a track for the town's host, the container, the network, each agent and
    /// each session.
    #[arg(long, value_name = "FILE")]
    pub(super) trace_out: Option<PathBuf>,
    /// Write the sweep (or, with --seed or --case, the one run) as one self-contained HTML
    /// page here: each pair's failures, the first failing run of each as swimlanes.
    #[arg(long, value_name = "FILE")]
    pub(super) html: Option<PathBuf>,
}

fn policies(name: &str) -> Result<Vec<TownPolicy>, UsageError> {
    if name == "all" {
        return Ok(TownPolicy::ALL.to_vec());
    }
    TownPolicy::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .map(|p| vec![p])
        .ok_or_else(|| {
            let names: Vec<&str> = TownPolicy::ALL.iter().map(|p| p.name()).collect();
            UsageError(format!(
                "no town policy called `{name}`; the policies are: {}",
                names.join(", ")
            ))
        })
}

impl SystemArgs {
    /// The sweep `explore --world system` asks for.
    pub(super) fn sweep(
        policy: String,
        model: String,
        seeds: Option<Range<u64>>,
        time: Duration,
        jobs: u64,
        faults: FaultChoice,
    ) -> Self {
        Self {
            policy,
            model,
            seeds,
            time,
            faults: match faults {
                FaultChoice::All => SystemFaults::All,
                FaultChoice::Swarm => SystemFaults::Swarm,
                FaultChoice::None => SystemFaults::None,
            },
            jobs,
            seed: None,
            shrink: false,
            save: None,
            case: None,
            trace_out: None,
            html: None,
        }
    }

    pub(super) fn model(&self) -> &str {
        &self.model
    }

    pub(super) fn families(&self) -> Families {
        match self.faults {
            SystemFaults::All => Families::All,
            SystemFaults::Swarm => Families::Swarm,
            SystemFaults::System => Families::System,
            SystemFaults::None => Families::None,
        }
    }

    pub(super) fn replay_command(&self, policy: TownPolicy, model: &str, seed: u64) -> String {
        let faults = match self.faults {
            SystemFaults::All => "",
            SystemFaults::Swarm => " --faults swarm",
            SystemFaults::System => " --faults system",
            SystemFaults::None => " --faults none",
        };
        format!(
            "{} system --policy {} --model {model} --seed {seed}{faults}",
            program(),
            policy.name()
        )
    }
}

/// How often a long sweep says how far it got (on stderr).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What one (policy, model) pair found.
pub(super) struct Found {
    pub(super) scenarios: u64,
    failing: u64,
    /// Each invariant violated: in how many scenarios, and the first seed.
    pub(super) by_invariant: BTreeMap<String, (u64, u64)>,
    pub(super) first: Option<(u64, SystemOutcome)>,
    pub(super) seconds: f64,
}

fn sweep(args: &SystemArgs, policy: TownPolicy, model: &dyn Subject) -> Found {
    let families = args.families();
    let range = args.seeds.clone().unwrap_or(0..u64::MAX);
    let began = Instant::now();
    let next = Mutex::new(range.start);
    let shown = Mutex::new(Instant::now());
    let found = Mutex::new(Found {
        scenarios: 0,
        failing: 0,
        by_invariant: BTreeMap::new(),
        first: None,
        seconds: 0.0,
    });
    std::thread::scope(|scope| {
        for _ in 0..args.jobs {
            scope.spawn(|| {
                loop {
                    let seed = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        let out_of_time = args.seeds.is_none() && began.elapsed() >= args.time;
                        if *n >= range.end || out_of_time {
                            return;
                        }
                        *n += 1;
                        *n - 1
                    };
                    let spec = SystemSpec::from_seed(seed, policy, families);
                    let Some(outcome) = model.run_system(&spec, seed) else {
                        return;
                    };
                    let mut f = found.lock().unwrap_or_else(|p| p.into_inner());
                    f.scenarios += 1;
                    let mut last = shown.lock().unwrap_or_else(|p| p.into_inner());
                    if last.elapsed() >= PROGRESS_EVERY {
                        *last = Instant::now();
                        let secs = began.elapsed().as_secs_f64();
                        eprintln!(
                            "{} x {}: {} scenarios, {:.0}/s, {} failing, {secs:.0} s",
                            policy.name(),
                            model.name(),
                            f.scenarios,
                            f.scenarios as f64 / secs,
                            f.failing
                        );
                    }
                    drop(last);
                    if let Some(v) = &outcome.violation {
                        f.failing += 1;
                        let seen = f
                            .by_invariant
                            .entry(v.invariant.code())
                            .or_insert((0, seed));
                        seen.0 += 1;
                        seen.1 = seen.1.min(seed);
                        if f.first.as_ref().is_none_or(|(s, _)| seed < *s) {
                            f.first = Some((seed, outcome));
                        }
                    }
                }
            });
        }
    });
    let mut found = found.into_inner().unwrap_or_else(|p| p.into_inner());
    found.seconds = began.elapsed().as_secs_f64();
    found
}

pub(super) fn system(args: SystemArgs, models: Vec<&dyn Subject>) -> Result<bool, UsageError> {
    let policies = policies(&args.policy)?;
    if let Some(path) = &args.case {
        let &[model] = models.as_slice() else {
            return Err(UsageError(
                "--case runs on one model: name it with --model".into(),
            ));
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let case = SystemCase::from_json(&text)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        return tell(model, &case.spec, case.seed, &args);
    }
    if let Some(seed) = args.seed {
        let (&[policy], &[model]) = (policies.as_slice(), models.as_slice()) else {
            return Err(UsageError(
                "--seed runs one scenario: name one --policy and one --model".into(),
            ));
        };
        let spec = SystemSpec::from_seed(seed, policy, args.families());
        if args.shrink {
            return shrink_and_save(&args, model, &spec, seed);
        }
        return tell(model, &spec, seed, &args);
    }
    if args.trace_out.is_some() {
        return Err(UsageError(
            "--trace-out writes one scenario's trace: give --seed or --case".into(),
        ));
    }
    println!(
        "{:<14} {:<12} {:<8} {:<42} {:>6} {:>9} {:>8}",
        "policy", "model", "verdict", "first violated", "seed", "scenarios", "failing"
    );
    if let Some(path) = &args.html {
        super::explore::write_file(path, "")?;
    }
    let mut clean = true;
    let mut replays = Vec::new();
    let mut parts = Vec::new();
    for &policy in &policies {
        for &model in &models {
            let f = sweep(&args, policy, model);
            let (verdict, first, seed) = match &f.first {
                Some((seed, o)) => {
                    let v = o.violation.as_ref().expect("a failing outcome");
                    let each: Vec<String> = f
                        .by_invariant
                        .iter()
                        .map(|(code, (n, first))| format!("{code} {n} (first seed {first})"))
                        .collect();
                    replays.push(format!(
                        "{} x {}: {} at seed {seed}: {}\n  replay: {}\n  failing by invariant: {}",
                        policy.name(),
                        model.name(),
                        v.invariant.code(),
                        v.detail,
                        args.replay_command(policy, model.name(), *seed),
                        each.join(", ")
                    ));
                    ("FAIL", v.invariant.to_string(), seed.to_string())
                }
                None => ("pass", "-".to_string(), "-".to_string()),
            };
            clean &= f.first.is_none();
            println!(
                "{:<14} {:<12} {:<8} {:<42} {:>6} {:>9} {:>8}  ({:.1} s)",
                policy.name(),
                model.name(),
                verdict,
                first,
                seed,
                f.scenarios,
                f.failing,
                f.seconds
            );
            if args.html.is_some() {
                parts.push(super::system_page::pair(&args, policy, model, &f));
            }
        }
    }
    if let Some(path) = &args.html {
        let page = super::system_page::sweep(&args, parts);
        super::page::write(path, &page)?;
    }
    for line in replays {
        println!("\n{line}");
    }
    Ok(clean)
}
