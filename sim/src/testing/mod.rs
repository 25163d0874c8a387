//! The API for `cargo test`: run a subject on a story (or on generated scenarios) under a
//! strategy, and assert what it must hold or must be caught violating. A failure prints its
//! timeline, shrunk, with the case file that replays it.

mod coverage;

pub use coverage::{Coverage, coverage_of};

use std::fmt::Write as _;
use std::ops::Range;

use crate::check::{Invariant, Violation};
use crate::explore::dfs;
use crate::explore::shrink::{SHRINK_BUDGET, shrink};
use crate::report::{Origin, scenario_report};
use crate::run::Outcome;
use crate::scenario::builder::Story;
use crate::scenario::case::Case;
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::spec::Strategy;
use crate::scenario::{Scenario, Settings};
use crate::subject::Subject;

/// What a check runs: one story under many seeds, or generated scenarios.
pub trait Source {
    /// The scenario of `seed` under `strategy`.
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario;
}

impl Source for Story {
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario {
        Scenario::with_spec(seed, self.spec_with(strategy))
    }
}

impl Source for ScenarioSpec {
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario {
        let spec = ScenarioSpec {
            strategy,
            ..self.clone()
        };
        Scenario::with_spec(seed, spec)
    }
}

impl Source for Settings {
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario {
        let settings = Settings {
            strategy,
            ..self.clone()
        };
        Scenario::from_seed(&settings, seed)
    }
}

/// A failing run: where it came from, the case that replays it, and what it did.
pub struct Finding {
    /// The seed it was drawn from (`None` for a dfs schedule).
    pub seed: Option<u64>,
    /// The case that replays it.
    pub case: Case,
    /// What it did.
    pub outcome: Outcome,
}

impl Finding {
    /// What it violated.
    pub fn violation(&self) -> &Violation {
        self.outcome
            .violation
            .as_ref()
            .expect("a finding violates something")
    }

    /// The invariant it violated.
    pub fn invariant(&self) -> Invariant {
        self.violation().invariant
    }

    /// The timeline, and the case file that replays it.
    pub fn report(&self, subject: &str) -> String {
        let origin = Origin::Unsaved(
            self.seed
                .map_or_else(|| "a schedule".to_string(), |s| format!("seed {s}")),
        );
        let mut text = scenario_report(subject, &origin, &self.case.spec, &self.outcome);
        let _ = write!(
            text,
            "the case (save it as a .json file; `replay --decisions FILE` or `lifecycle_sim::replay` runs it):\n{}",
            self.case.to_json()
        );
        text
    }
}

/// What a check found: how many runs it made, and the first failing one.
#[must_use = "a verdict asserts nothing until it is asserted on"]
pub struct Verdict<'s> {
    subject: &'s dyn Subject,
    /// How many runs it made.
    pub runs: u64,
    /// dfs: every schedule was run.
    pub exhausted: Option<bool>,
    /// The scenario's operations (by index) that no run issued: a `while_pending` aimed at a
    /// call that never came, so the race it names was never reached.
    pub never_issued: Vec<usize>,
    /// The first failing run, if any.
    pub finding: Option<Finding>,
}

impl Verdict<'_> {
    /// What the first failing run violated, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.finding.as_ref().map(Finding::violation)
    }

    /// Panics, with the failure shrunk and its whole timeline, if any run violated anything,
    /// or if an operation of the scenario never arrived in any run (the race it aims at was
    /// never reached, so holding proves nothing about it).
    pub fn assert_holds(self) {
        let Some(found) = self.finding else {
            assert!(
                self.never_issued.is_empty(),
                "{}: operation(s) {:?} of the scenario never arrived in {} run(s): the call they wait for was never in flight",
                self.subject.name(),
                self.never_issued,
                self.runs
            );
            return;
        };
        let invariant = found.invariant();
        let shrunk = shrink(self.subject, found.case.clone(), invariant, SHRINK_BUDGET);
        let small = Finding {
            seed: found.seed,
            case: shrunk.case,
            outcome: shrunk.outcome,
        };
        panic!(
            "{} violates {invariant} after {} run(s); shrunk in {} runs:\n{}",
            self.subject.name(),
            self.runs,
            shrunk.runs,
            small.report(self.subject.name())
        );
    }

    /// The finding, which must violate `invariant`; panics (with the timeline of whatever
    /// else happened) if nothing did, or something else did.
    pub fn expect_violation(self, invariant: Invariant) -> Finding {
        let name = self.subject.name();
        match self.finding {
            Some(found) if found.invariant() == invariant => found,
            Some(found) => panic!(
                "{name} was expected to violate {invariant}, but violated {} first:\n{}",
                found.invariant(),
                found.report(name)
            ),
            None => panic!(
                "{name} was expected to violate {invariant}, but held in {} run(s)",
                self.runs
            ),
        }
    }
}

/// Which seeds a check runs: `n` is `0..n`, or any range.
pub struct Seeds(pub Range<u64>);

impl From<u64> for Seeds {
    fn from(n: u64) -> Self {
        Self(0..n)
    }
}

impl From<Range<u64>> for Seeds {
    fn from(range: Range<u64>) -> Self {
        Self(range)
    }
}

/// Runs `source` on `subject` under `seeds` (`500` is seeds `0..500`, or give a range) with
/// random latencies, up to the first violation.
pub fn check_random<'s>(
    subject: &'s dyn Subject,
    source: &dyn Source,
    seeds: impl Into<Seeds>,
) -> Verdict<'s> {
    check_seeds(subject, source, Strategy::Random, seeds.into())
}

/// The same under PCT with `depth` (the number of ordering constraints a bug needs): each run
/// finds a given depth-d bug with probability at least 1/(n k^(d-1)).
pub fn check_pct<'s>(
    subject: &'s dyn Subject,
    source: &dyn Source,
    depth: u32,
    seeds: impl Into<Seeds>,
) -> Verdict<'s> {
    check_seeds(subject, source, Strategy::Pct { depth }, seeds.into())
}

/// Every schedule of `story`, depth first (up to `max_schedules`), to the first violation.
/// Latencies are not drawn under dfs: the arrival order of the story's operations and
/// the answers to its calls, and the order of what happens in one instant, are.
pub fn check_dfs<'s>(subject: &'s dyn Subject, story: &Story, max_schedules: u64) -> Verdict<'s> {
    let report = dfs(subject, &story.spec_with(Strategy::Dfs), max_schedules);
    Verdict {
        subject,
        runs: report.schedules,
        exhausted: Some(report.exhausted),
        never_issued: Vec::new(),
        finding: report.failure.map(|(case, outcome)| Finding {
            seed: None,
            case,
            outcome,
        }),
    }
}

/// Replays a saved case on `subject`, exactly.
pub fn replay(subject: &dyn Subject, case: &Case) -> Outcome {
    Scenario::from_case(case).run(subject)
}

/// Runs one scenario of `source`, the one of `seed`, with random latencies.
pub fn run_once(subject: &dyn Subject, source: &dyn Source, seed: u64) -> Outcome {
    source.scenario(seed, Strategy::Random).run(subject)
}

fn check_seeds<'s>(
    subject: &'s dyn Subject,
    source: &dyn Source,
    strategy: Strategy,
    seeds: Seeds,
) -> Verdict<'s> {
    let mut runs = 0;
    let mut never: Option<Vec<usize>> = None;
    for seed in seeds.0 {
        let scenario = source.scenario(seed, strategy);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(subject);
        runs += 1;
        // The operations no run has issued yet (a `while_pending` whose call never came).
        let ops = never.get_or_insert_with(|| outcome.never_issued.clone());
        ops.retain(|op| outcome.never_issued.contains(op));
        if outcome.violation.is_some() {
            return Verdict {
                subject,
                runs,
                exhausted: None,
                never_issued: Vec::new(),
                finding: Some(Finding {
                    seed: Some(seed),
                    case: Case::of_run(Some(seed), &spec, &outcome),
                    outcome,
                }),
            };
        }
    }
    Verdict {
        subject,
        runs,
        exhausted: None,
        never_issued: never.unwrap_or_default(),
        finding: None,
    }
}
