//! The API for `cargo test`: run a subject on a story (or on generated scenarios) under a
//! strategy, and assert what it must hold or must be caught violating. A failure saves its
//! case, shrunk, to a file ([`failures_dir`]), and prints the line that replays it and its
//! timeline.

mod coverage;
mod heartbeat;
mod saved;
mod verdict;

pub use coverage::{Coverage, coverage_of};
pub use saved::failures_dir;
pub use verdict::{Finding, Verdict};

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::explore::bounded_for;
use crate::run::Outcome;
use crate::scenario::builder::Story;
use crate::scenario::case::Case;
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::spec::Strategy;
use crate::scenario::{Scenario, Settings};
use crate::subject::Subject;
use heartbeat::Heartbeat;

/// What a check runs: one story under many seeds, or generated scenarios.
pub trait Source {
    /// The scenario of `seed` under `strategy`.
    fn scenario(&self, seed: u64, strategy: Strategy) -> Scenario;

    /// The scenario of `seed` under `strategy`, for `subject` (generated scenarios draw its
    /// own operations too).
    fn scenario_for(&self, subject: &dyn Subject, seed: u64, strategy: Strategy) -> Scenario {
        let _ = subject;
        self.scenario(seed, strategy)
    }
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

    fn scenario_for(&self, subject: &dyn Subject, seed: u64, strategy: Strategy) -> Scenario {
        self.for_subject(subject).scenario(seed, strategy)
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
    CheckOptions::default().check_random(subject, source, seeds)
}

/// The same under PCT with `depth` (the number of ordering constraints a bug needs): each run
/// finds a given depth-d bug with probability at least 1/(n k^(d-1)).
pub fn check_pct<'s>(
    subject: &'s dyn Subject,
    source: &dyn Source,
    depth: u32,
    seeds: impl Into<Seeds>,
) -> Verdict<'s> {
    CheckOptions::default().check_pct(subject, source, depth, seeds)
}

/// Every schedule of `story` (up to `max_schedules`), to the first violation, by bounded
/// systematic search: the schedule of the default choices first, then every schedule one
/// choice away from it, then two, and so on ([`crate::explore::bounded`]; bound the
/// deviations with [`CheckOptions::max_deviations`]). Latencies are not drawn under dfs:
/// the arrival order of the story's operations and the answers to its calls, the order of
/// what happens in one instant, and the story's faults are.
///
/// The verdict's `exhausted` says whether every schedule ran: `assert_holds` passes a search
/// `max_schedules` cut short with a warning, `assert_exhausted` fails it. A story's schedules
/// can number in the hundreds of thousands, each a whole simulation: bound the search by time
/// with [`CheckOptions::within`], and build the harness optimised in tests
/// (`[profile.dev.package."*"] opt-level = 2`), or a search meant for seconds takes hours.
pub fn check_dfs<'s>(subject: &'s dyn Subject, story: &Story, max_schedules: u64) -> Verdict<'s> {
    CheckOptions::default().check_dfs(subject, story, max_schedules)
}

/// How a check runs, beyond what it runs: for now, a wall-clock budget.
///
/// ```
/// use std::time::Duration;
/// use lifecycle_sim::testing::CheckOptions;
/// use lifecycle_sim::{CallKind, Model, Story};
///
/// let story = Story::new()
///     .agents(["a0"])
///     .start("a0")
///     .start("a0")
///     .while_pending(CallKind::CreateSession, "a0");
/// let verdict = CheckOptions::default()
///     .within(Duration::from_secs(30))
///     .check_dfs(&Model::Owned, &story, 10_000);
/// println!("{} schedules in {:?}", verdict.runs, verdict.elapsed);
/// verdict.assert_holds(); // warns if the budget or the bound ended the search first
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct CheckOptions {
    /// Take no new seed or schedule once this much wall-clock time has passed (`None`: no
    /// budget, the default).
    pub budget: Option<Duration>,
    /// dfs: search schedules with at most this many deviations from the default choices
    /// (`None`: every schedule, the default).
    pub max_deviations: Option<u32>,
}

impl CheckOptions {
    /// Stops the check taking new seeds (or schedules) once `budget` of wall-clock time has
    /// passed since it began; the first one always runs. Each run stays deterministic (the
    /// clock decides how many runs happen, never what one does), but how many ran, and so
    /// whether a bug was reached, then depends on the machine's speed: the verdict says how
    /// many (`runs`) and whether the budget cut the check short (`out_of_time`), and
    /// `assert_holds` warns when it did.
    pub fn within(self, budget: Duration) -> Self {
        Self {
            budget: Some(budget),
            ..self
        }
    }

    /// Bounds a dfs check to the schedules at most `k` deviations from the default choices:
    /// a passing check then says "no violation within bound k", and [`Verdict::bound`] how
    /// many schedules that took.
    pub fn max_deviations(self, k: u32) -> Self {
        Self {
            max_deviations: Some(k),
            ..self
        }
    }

    /// [`check_random`] under these options.
    pub fn check_random<'s>(
        self,
        subject: &'s dyn Subject,
        source: &dyn Source,
        seeds: impl Into<Seeds>,
    ) -> Verdict<'s> {
        self.check_seeds(subject, source, Strategy::Random, seeds.into())
    }

    /// [`check_pct`] under these options.
    pub fn check_pct<'s>(
        self,
        subject: &'s dyn Subject,
        source: &dyn Source,
        depth: u32,
        seeds: impl Into<Seeds>,
    ) -> Verdict<'s> {
        self.check_seeds(subject, source, Strategy::Pct { depth }, seeds.into())
    }

    /// [`check_dfs`] under these options.
    pub fn check_dfs<'s>(
        self,
        subject: &'s dyn Subject,
        story: &Story,
        max_schedules: u64,
    ) -> Verdict<'s> {
        let began = Instant::now();
        let (mut ran, mut out_of_time) = (0, false);
        let mut beat = Heartbeat::stderr(
            format!("check_dfs on {}", subject.name()),
            self.budget.is_some(),
        );
        let report = bounded_for(
            subject,
            &story.spec_with(Strategy::Dfs),
            self.max_deviations.unwrap_or(u32::MAX),
            |outcome| outcome.violation.is_some(),
            || {
                beat.tick(ran);
                out_of_time = ran > 0 && self.spent(began);
                ran += 1;
                ran <= max_schedules && !out_of_time
            },
        );
        Verdict {
            subject,
            runs: report.schedules(),
            exhausted: Some(report.exhausted),
            never_issued: Vec::new(),
            bound: report
                .complete
                .map(|k| (k, report.schedules_within_bound())),
            max_deviations: self.max_deviations,
            finding: report.failure.map(|f| Finding {
                seed: None,
                case: f.case,
                outcome: f.outcome,
            }),
            out_of_time,
            elapsed: began.elapsed(),
            asked: max_schedules,
        }
    }

    /// Whether the budget is spent.
    fn spent(self, began: Instant) -> bool {
        self.budget.is_some_and(|budget| began.elapsed() >= budget)
    }

    fn check_seeds<'s>(
        self,
        subject: &'s dyn Subject,
        source: &dyn Source,
        strategy: Strategy,
        seeds: Seeds,
    ) -> Verdict<'s> {
        let began = Instant::now();
        let asked = seeds.0.end.saturating_sub(seeds.0.start);
        let mut verdict = Verdict {
            subject,
            runs: 0,
            exhausted: None,
            never_issued: Vec::new(),
            finding: None,
            out_of_time: false,
            elapsed: Duration::ZERO,
            asked,
            bound: None,
            max_deviations: None,
        };
        let mut never: Option<Vec<usize>> = None;
        let mut beat = Heartbeat::stderr(
            format!("check_{} on {}", strategy.name(), subject.name()),
            self.budget.is_some(),
        );
        for seed in seeds.0 {
            beat.tick(verdict.runs);
            if verdict.runs > 0 && self.spent(began) {
                verdict.out_of_time = true;
                break;
            }
            let scenario = source.scenario_for(subject, seed, strategy);
            let spec = scenario.spec.clone();
            let outcome = scenario.run(subject);
            verdict.runs += 1;
            // The operations no run has issued yet (a `while_pending` whose call never came).
            let ops = never.get_or_insert_with(|| outcome.never_issued.clone());
            ops.retain(|op| outcome.never_issued.contains(op));
            if outcome.violation.is_some() {
                verdict.finding = Some(Finding {
                    seed: Some(seed),
                    case: Case::of_run(Some(seed), &spec, &outcome),
                    outcome,
                });
                verdict.elapsed = began.elapsed();
                return verdict;
            }
        }
        verdict.never_issued = never.unwrap_or_default();
        verdict.elapsed = began.elapsed();
        verdict
    }
}

/// Replays a saved case on `subject`, exactly.
pub fn replay(subject: &dyn Subject, case: &Case) -> Outcome {
    Scenario::from_case(case).run(subject)
}

/// Runs one scenario of `source`, the one of `seed`, with random latencies.
pub fn run_once(subject: &dyn Subject, source: &dyn Source, seed: u64) -> Outcome {
    source
        .scenario_for(subject, seed, Strategy::Random)
        .run(subject)
}
