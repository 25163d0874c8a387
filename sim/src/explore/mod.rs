//! Campaigns over many scenarios: seed sweeps with any strategy, hunts for one invariant, and
//! bounded systematic search of one scenario's schedules (by deviations from its defaults).

mod bounded;
mod config;
pub(crate) mod distinct;
mod hunt;
mod seeds;
pub mod shrink;
pub(crate) mod steer;

pub use bounded::{BoundedFailure, BoundedReport, bounded, bounded_for};
pub use config::SweepConfig;
pub use hunt::{Hunted, hunt, hunt_for};
pub use seeds::SeedSet;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::check::Invariant;
use crate::coverage::{Catalog, Tally};
use crate::explore::shrink::{SHRINK_BUDGET, Shrunk};
use crate::run::Outcome;
use crate::run::state_op::StateOp;
use crate::scenario::case::Case;
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::{Scenario, Settings};
use crate::schedule::PctMeasure;
use crate::subject::Subject;
use distinct::DistinctCount;

/// A distinct failure found by a sweep: the first (lowest) seed of its kind, how often its
/// kind recurred, and its shrunk form.
pub struct Failure {
    /// The invariant it violates.
    pub invariant: Invariant,
    /// The violation's text with every number taken out: failures of one class are the same
    /// bug met again, and are counted rather than shrunk again.
    pub class: String,
    /// What the shrunk case does (invariant, operations, fault families left on): distinct
    /// failures are distinct signatures.
    pub signature: String,
    /// The first (lowest) seed of its kind.
    pub seed: u64,
    /// Scenarios run up to and including this one, and the time until it was found.
    pub scenarios: u64,
    /// How long the sweep had run when it was found.
    pub after: Duration,
    /// How many failing seeds had this signature.
    pub occurrences: u64,
    /// Its case, as found.
    pub case: Case,
    /// Its run, as found.
    pub outcome: Outcome,
    /// Its shrunk form, if the sweep shrinks.
    pub shrunk: Option<Shrunk>,
}

/// What sweeping one model found.
pub struct Findings {
    /// The subject's name.
    pub model: String,
    /// Distinct failures, in seed order.
    pub failures: Vec<Failure>,
    /// How many scenarios ran.
    pub scenarios: u64,
    /// How long they took.
    pub elapsed: Duration,
    /// The sweep was stopped early (interrupted).
    pub interrupted: bool,
    /// Distinct orders in which backend calls were answered.
    pub interleavings: DistinctCount,
    /// Each (agent state, operation) pair issued, and in how many scenarios.
    pub coverage: BTreeMap<StateOp, u64>,
    /// The state × operation map: each cell, and in how many scenarios it was produced.
    pub cells: BTreeMap<crate::run::state_op::Key, u64>,
    /// Each coverage point reached, in how many scenarios, and the first seed that did.
    pub points: Tally,
    /// The subject's catalog: what the points mean, which are required.
    pub catalog: Catalog,
    /// For the PCT bound: what the scenarios measured.
    pub pct: PctSummary,
    /// Failing seeds not told apart: met once [`MAX_CLASSES`] classes were known, each is
    /// counted here instead of being shrunk and classified.
    pub unclassified: u64,
}

/// The most failure classes a sweep tells apart; a night's run keeps no more.
pub const MAX_CLASSES: usize = 10_000;

/// The PCT bound's inputs over a sweep: the most threads (n) and steps (k) a scenario had,
/// the largest k change points were drawn over, and how many scenarios took more steps than
/// their estimate (whose tails change points could not reach).
#[derive(Clone, Copy, Debug, Default)]
pub struct PctSummary {
    /// The most threads (n) a scenario had.
    pub threads: u32,
    /// The most steps (k) a scenario took.
    pub steps: u32,
    /// The largest k change points were drawn over.
    pub estimate: u32,
    /// How many scenarios took more steps than their estimate.
    pub over_estimate: u64,
}

impl PctSummary {
    pub(crate) fn add(&mut self, m: PctMeasure) {
        self.threads = self.threads.max(m.threads);
        self.steps = self.steps.max(m.steps);
        self.estimate = self.estimate.max(m.estimate);
        self.over_estimate += u64::from(m.steps > m.estimate);
    }
}

impl Findings {
    /// The first distinct failure, if any.
    pub fn first(&self) -> Option<&Failure> {
        self.failures.first()
    }

    /// Scenarios per second.
    pub fn rate(&self) -> f64 {
        self.scenarios as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress of a sweep, for a progress bar or periodic lines.
pub struct Progress {
    /// Scenarios run so far.
    pub scenarios: u64,
    /// Distinct failures found so far.
    pub failures: usize,
    /// Time since the sweep began.
    pub elapsed: Duration,
}

/// The violation's text with numbers taken out (`s3 of a0 ... op#2` -> `s# of a# ... op##`).
fn class_of(invariant: Invariant, detail: &str) -> String {
    let mut class = format!("{} ", invariant.code());
    let mut in_number = false;
    for c in detail.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                class.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            class.push(c);
        }
    }
    class
}

/// What a shrunk case does, for telling distinct failures apart.
fn signature_of(invariant: Invariant, case: &Case) -> String {
    let ops: Vec<&str> = case
        .spec
        .workload
        .ops
        .iter()
        .map(|op| op.kind.name())
        .collect();
    format!(
        "{} [{}] faults: {}",
        invariant.code(),
        ops.join(" "),
        case.spec.faults
    )
}

/// What a worker sends the collector of one scenario: the metrics, and the whole run only if
/// it failed (a passing run is dropped where it ran, so the collector stays light).
struct Ran {
    seed: u64,
    digest: u64,
    coverage: BTreeSet<StateOp>,
    points: BTreeSet<&'static str>,
    swarm: steer::Swarm,
    pct: Option<PctMeasure>,
    failed: Option<Box<(ScenarioSpec, Outcome)>>,
}

impl Ran {
    fn of(seed: u64, spec: ScenarioSpec, mut outcome: Outcome) -> Self {
        Self {
            seed,
            digest: outcome.history.interleaving_digest(),
            coverage: std::mem::take(&mut outcome.coverage),
            points: std::mem::take(&mut outcome.points),
            swarm: steer::Swarm {
                faults: spec.faults,
                mix: spec.workload.mix,
            },
            pct: outcome.pct,
            failed: outcome
                .violation
                .is_some()
                .then(|| Box::new((spec, outcome))),
        }
    }
}

/// Sweeps the seeds of `config` on `jobs` threads. Results are taken in seed order, so what it
/// finds does not depend on `jobs`. It keeps going after failures (one report per distinct
/// failure) unless `fail_fast`.
pub fn sweep(
    model: &dyn Subject,
    settings: &Settings,
    config: &SweepConfig,
    mut on_failure: impl FnMut(&Failure),
    mut on_progress: impl FnMut(&Progress),
) -> Findings {
    let began = Instant::now();
    let settings = &settings.for_subject(model);
    let mut f = Findings {
        model: model.name().to_string(),
        failures: Vec::new(),
        scenarios: 0,
        elapsed: Duration::ZERO,
        interrupted: false,
        interleavings: DistinctCount::default(),
        coverage: BTreeMap::new(),
        cells: BTreeMap::new(),
        points: Tally::default(),
        catalog: model.catalog(),
        pct: PctSummary::default(),
        unclassified: 0,
    };
    let next = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let steering = config.steer.then(steer::Steering::default);
    let required = f.catalog.required();
    let (tx, rx) = mpsc::channel::<(u64, Ran)>();
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            let tx = tx.clone();
            let (next, done, steering) = (&next, &done, &steering);
            scope.spawn(move || {
                let stopping = || {
                    done.load(Ordering::Relaxed)
                        || config.stop.load(Ordering::Relaxed)
                        || (config.seeds.range.is_none() && began.elapsed() >= config.budget)
                };
                loop {
                    if stopping() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(seed) = config.seeds.nth(i) else {
                        return;
                    };
                    let scenario = match steering {
                        Some(steering) => match steering.scenario(settings, i, seed, stopping) {
                            Some(scenario) => scenario,
                            None => return,
                        },
                        None => Scenario::from_seed(settings, seed),
                    };
                    let spec = scenario.spec.clone();
                    let outcome = scenario.run(model);
                    if tx.send((i, Ran::of(seed, spec, outcome))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        // Take results in seed order, whatever order the workers finish in.
        let mut pending: BTreeMap<u64, Ran> = BTreeMap::new();
        let mut expected = 0u64;
        let mut classes: BTreeMap<String, usize> = BTreeMap::new();
        let mut last_progress = Instant::now();
        for (i, ran) in rx {
            pending.insert(i, ran);
            while let Some(mut ran) = pending.remove(&expected) {
                let seed = ran.seed;
                expected += 1;
                if done.load(Ordering::Relaxed) {
                    continue;
                }
                f.scenarios += 1;
                f.interleavings.add(ran.digest);
                let cells: BTreeSet<_> =
                    ran.coverage.iter().map(crate::run::state_op::key).collect();
                for cell in cells {
                    *f.cells.entry(cell).or_default() += 1;
                }
                for pair in std::mem::take(&mut ran.coverage) {
                    *f.coverage.entry(pair).or_default() += 1;
                }
                f.points.add(seed, &ran.points);
                if let Some(steering) = &steering {
                    steering.record(expected - 1, ran.swarm, &ran.points);
                }
                if config.until_covered && f.points.unreached(required.iter().copied()).is_empty() {
                    done.store(true, Ordering::Relaxed);
                }
                if let Some(m) = ran.pct {
                    f.pct.add(m);
                }
                if let Some((spec, outcome)) = ran.failed.map(|failed| *failed)
                    && let Some(v) = outcome.violation.clone()
                {
                    let class = class_of(v.invariant, &v.detail);
                    match classes.get(&class) {
                        Some(&known) => f.failures[known].occurrences += 1,
                        None if classes.len() >= MAX_CLASSES => f.unclassified += 1,
                        None => {
                            let case = Case::of_run(Some(seed), &spec, &outcome);
                            let shrunk = config.shrink.then(|| {
                                crate::explore::shrink::shrink(
                                    model,
                                    case.clone(),
                                    v.invariant,
                                    SHRINK_BUDGET,
                                )
                            });
                            let signature = signature_of(
                                v.invariant,
                                shrunk.as_ref().map_or(&case, |s| &s.case),
                            );
                            if let Some(same) =
                                f.failures.iter().position(|x| x.signature == signature)
                            {
                                classes.insert(class, same);
                                f.failures[same].occurrences += 1;
                            } else {
                                let failure = Failure {
                                    invariant: v.invariant,
                                    class: class.clone(),
                                    signature,
                                    seed,
                                    scenarios: f.scenarios,
                                    after: began.elapsed(),
                                    occurrences: 1,
                                    case,
                                    outcome,
                                    shrunk,
                                };
                                on_failure(&failure);
                                classes.insert(class, f.failures.len());
                                f.failures.push(failure);
                            }
                            if config.fail_fast {
                                done.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
                if last_progress.elapsed() >= Duration::from_millis(200) {
                    last_progress = Instant::now();
                    on_progress(&Progress {
                        scenarios: f.scenarios,
                        failures: f.failures.len(),
                        elapsed: began.elapsed(),
                    });
                }
            }
        }
    });
    f.interrupted = config.stop.load(Ordering::Relaxed);
    f.elapsed = began.elapsed();
    f
}
