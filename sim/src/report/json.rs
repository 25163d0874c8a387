//! The JSON report a run leaves for CI: every model, every distinct failure with its shrunk
//! case, and the command that replays it.

use serde::{Deserialize, Serialize};

use crate::explore::shrink::steps;
use crate::explore::{Failure, Findings};
use crate::report::{Origin, replay_command};
use crate::scenario::case::Case;

pub use super::coverage::PointReport;
pub use super::grid::Cell;

/// What `explore --json` writes: the run's settings and one report per model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The command line's settings, as text.
    pub seeds: String,
    /// The shard run (`--shard`), as text.
    pub shard: String,
    /// How many jobs ran the seeds.
    pub jobs: usize,
    /// The fault mode (`--faults`), as text.
    pub faults: String,
    /// The strategy (`--strategy`), as text.
    pub strategy: String,
    /// Stopped by Ctrl-C before the seeds or the time ran out.
    pub interrupted: bool,
    /// Each model's report, in the order they ran.
    pub models: Vec<ModelReport>,
}

/// One model's campaign: its verdict, what it covered and its distinct failures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// The subject's name.
    pub model: String,
    /// `pass` or `fail`.
    pub verdict: String,
    /// How many scenarios ran.
    pub scenarios: u64,
    /// How long they took, in seconds.
    pub seconds: f64,
    /// How many distinct interleavings they ran (`History::interleaving_digest`).
    pub interleavings: usize,
    /// How many (state, operation) pairs they produced.
    pub state_operation_pairs: usize,
    /// The state × operation map: each combination produced, and in how many scenarios.
    #[serde(default)]
    pub state_operations: Vec<super::grid::Cell>,
    /// Failing seeds not told apart (past the sweep's cap on failure classes).
    #[serde(default)]
    pub unclassified: u64,
    /// Each distinct failure, by first seed.
    pub failures: Vec<FailureReport>,
    /// Every coverage point of the model's catalog: required or not, how often reached.
    #[serde(default)]
    pub coverage: Vec<super::coverage::PointReport>,
}

/// One distinct failure: its invariant, its class, and the case and command that replay it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    /// The invariant's code (`I1`, `L2`, a user invariant's name).
    pub invariant: String,
    /// The violation's text with every number taken out: one class of failure.
    pub signature: String,
    /// The first failing seed of this kind, and how many failing seeds had it.
    pub seed: u64,
    /// How many failing seeds were of this class.
    pub occurrences: u64,
    /// The violation's text.
    pub detail: String,
    /// The command that replays the failure.
    pub replay: String,
    /// Steps of the shrunk case, if it was shrunk.
    pub shrunk_steps: Option<usize>,
    /// The shrunk case (or the original one), ready for `replay --decisions`.
    pub case: Case,
}

impl FailureReport {
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn new(f: &Failure, origin: &Origin, model: &str) -> Self {
        Self {
            invariant: f.invariant.code(),
            signature: f.signature.clone(),
            seed: f.seed,
            occurrences: f.occurrences,
            detail: f
                .outcome
                .violation
                .as_ref()
                .map(|v| v.detail.clone())
                .unwrap_or_default(),
            replay: replay_command(model, origin),
            shrunk_steps: f.shrunk.as_ref().map(|s| steps(&s.outcome, &s.case)),
            case: f
                .shrunk
                .as_ref()
                .map_or_else(|| f.case.clone(), |s| s.case.clone()),
        }
    }
}

impl ModelReport {
    /// The report of `f`, its coverage judged under `requirement` (the catalog's own if
    /// `None`).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn new(
        f: &Findings,
        requirement: Option<&crate::coverage::catalog::Requirement>,
        origin: impl Fn(u64) -> Origin,
    ) -> Self {
        Self {
            model: f.model.clone(),
            verdict: if f.failures.is_empty() {
                "pass"
            } else {
                "fail"
            }
            .into(),
            scenarios: f.scenarios,
            seconds: f.elapsed.as_secs_f64(),
            interleavings: f.interleavings.count() as usize,
            state_operation_pairs: f.coverage.len(),
            state_operations: super::grid::cells(&f.cells),
            unclassified: f.unclassified,
            failures: f
                .failures
                .iter()
                .map(|x| FailureReport::new(x, &origin(x.seed), &f.model))
                .collect(),
            coverage: super::coverage::points(f, requirement, &origin),
        }
    }
}

impl RunReport {
    /// The report as pretty JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report serialises");
        text.push('\n');
        text
    }

    /// A report read back from its JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a report: {e}"))
    }
}
