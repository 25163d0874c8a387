//! Campaigns over many scenarios: seed sweeps with any strategy, hunts for one invariant, and
//! bounded exhaustive search (dfs) of one scenario's schedules.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::case::Case;
use crate::check::Invariant;
use crate::history::What;
use crate::models::Model;
use crate::run::{Outcome, ScenarioSpec};
use crate::scenario::{Scenario, Settings};

/// A violation found by a sweep.
pub struct Found {
    pub invariant: Invariant,
    pub seed: u64,
    /// Scenarios run up to and including this one, and the time that took.
    pub scenarios: u64,
    pub after: Duration,
    pub case: Case,
    pub outcome: Outcome,
}

/// What sweeping one model found.
pub struct Findings {
    pub model: Model,
    /// The first violation of each invariant, in the order found.
    pub found: Vec<Found>,
    pub scenarios: u64,
    pub elapsed: Duration,
    /// Distinct orders in which backend calls were answered.
    pub interleavings: BTreeSet<u64>,
    /// Distinct (agent state, operation) pairs issued.
    pub coverage: BTreeSet<String>,
    /// For the PCT bound: the most operations and answered calls any scenario had.
    pub max_ops: u32,
    pub max_calls: u32,
}

impl Findings {
    pub fn first(&self) -> Option<&Found> {
        self.found.first()
    }

    pub fn rate(&self) -> f64 {
        self.scenarios as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sweeps seeds (a range, or from 0 until `budget` runs out); stops at the first violation
/// unless `keep_going`, which goes on to the first violation of every invariant. `on_found`
/// sees each new finding as it is made.
pub fn sweep(
    model: Model,
    settings: &Settings,
    seeds: Option<Range<u64>>,
    budget: Duration,
    keep_going: bool,
    mut on_found: impl FnMut(&Found),
) -> Findings {
    let began = Instant::now();
    let mut f = Findings {
        model,
        found: Vec::new(),
        scenarios: 0,
        elapsed: Duration::ZERO,
        interleavings: BTreeSet::new(),
        coverage: BTreeSet::new(),
        max_ops: 0,
        max_calls: 0,
    };
    for seed in seeds.clone().unwrap_or(0..u64::MAX) {
        if seeds.is_none() && began.elapsed() >= budget {
            break;
        }
        let scenario = Scenario::from_seed(settings, seed);
        let spec = scenario.spec.clone();
        let mut outcome = scenario.run(model);
        f.scenarios += 1;
        f.interleavings
            .insert(outcome.history.interleaving_digest());
        f.coverage.append(&mut outcome.coverage);
        f.max_ops = f.max_ops.max(spec.workload.ops.len() as u32);
        f.max_calls = f.max_calls.max(answered_calls(&outcome));
        let Some(v) = &outcome.violation else {
            continue;
        };
        if f.found.iter().any(|found| found.invariant == v.invariant) {
            continue;
        }
        let found = Found {
            invariant: v.invariant,
            seed,
            scenarios: f.scenarios,
            after: began.elapsed(),
            case: Case::of_run(Some(seed), &spec, &outcome),
            outcome,
        };
        on_found(&found);
        f.found.push(found);
        if !keep_going {
            break;
        }
    }
    f.elapsed = began.elapsed();
    f
}

fn answered_calls(outcome: &Outcome) -> u32 {
    outcome
        .history
        .events
        .iter()
        .filter(|e| matches!(e.what, What::CallReturned { .. }))
        .count() as u32
}

/// What a hunt runs: generated scenarios, or one fixed scenario under many seeds.
pub enum Hunted<'a> {
    Generated(&'a Settings),
    Fixed(&'a ScenarioSpec),
}

/// Runs seeds from `first_seed` until `model` violates `target`; the number of scenarios that
/// took, or `None` within `max` scenarios.
pub fn hunt(
    model: Model,
    hunted: &Hunted,
    first_seed: u64,
    max: u64,
    target: Invariant,
) -> Option<u64> {
    (0..max).find_map(|i| {
        let seed = first_seed + i;
        let scenario = match hunted {
            Hunted::Generated(settings) => Scenario::from_seed(settings, seed),
            Hunted::Fixed(spec) => Scenario::with_spec(seed, (*spec).clone()),
        };
        let outcome = scenario.run(model);
        outcome
            .violation
            .is_some_and(|v| v.invariant == target)
            .then_some(i + 1)
    })
}

/// What a bounded exhaustive search covered.
pub struct DfsReport {
    pub schedules: u64,
    /// Every schedule of the scenario was run.
    pub exhausted: bool,
    /// The first failing schedule, if any.
    pub failure: Option<(Case, Outcome)>,
}

/// Enumerates the decision tree of `spec` (which should use the dfs strategy, so that every
/// decision is a scheduling choice) depth first, up to `max_schedules` runs.
pub fn dfs(model: Model, spec: &ScenarioSpec, max_schedules: u64) -> DfsReport {
    let mut prefix: Vec<u32> = Vec::new();
    let mut schedules = 0;
    loop {
        if schedules >= max_schedules {
            return DfsReport {
                schedules,
                exhausted: false,
                failure: None,
            };
        }
        let case = Case {
            seed: None,
            spec: spec.clone(),
            decisions: prefix.clone(),
            expect: BTreeMap::new(),
        };
        let outcome = case.run(model);
        schedules += 1;
        if outcome.violation.is_some() {
            let case = Case {
                decisions: outcome.choices(),
                ..case
            };
            return DfsReport {
                schedules,
                exhausted: false,
                failure: Some((case, outcome)),
            };
        }
        // Backtrack: the deepest draw with an untried branch takes its next branch.
        let Some(i) = outcome.draws.iter().rposition(|d| d.choice + 1 < d.bound) else {
            return DfsReport {
                schedules,
                exhausted: true,
                failure: None,
            };
        };
        prefix = outcome.draws[..i].iter().map(|d| d.choice).collect();
        prefix.push(outcome.draws[i].choice + 1);
    }
}
