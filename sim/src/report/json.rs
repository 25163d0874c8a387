//! The JSON report a run leaves for CI: every model, every distinct failure with its shrunk
//! case, and the command that replays it.

use serde::{Deserialize, Serialize};

use crate::explore::shrink::steps;
use crate::explore::{Failure, Findings};
use crate::report::{Origin, replay_command};
use crate::scenario::case::Case;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The command line's settings, as text.
    pub seeds: String,
    pub shard: String,
    pub jobs: usize,
    pub faults: String,
    pub strategy: String,
    /// Stopped by Ctrl-C before the seeds or the time ran out.
    pub interrupted: bool,
    pub models: Vec<ModelReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    pub model: String,
    /// `pass` or `fail`.
    pub verdict: String,
    pub scenarios: u64,
    pub seconds: f64,
    pub interleavings: usize,
    pub state_operation_pairs: usize,
    /// The state × operation map: each combination produced, and in how many scenarios.
    #[serde(default)]
    pub state_operations: Vec<super::grid::Cell>,
    /// Failing seeds not told apart (past the sweep's cap on failure classes).
    #[serde(default)]
    pub unclassified: u64,
    pub failures: Vec<FailureReport>,
    /// Every coverage point of the model's catalog: required or not, how often reached.
    #[serde(default)]
    pub coverage: Vec<super::coverage::PointReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailureReport {
    pub invariant: String,
    pub signature: String,
    /// The first failing seed of this kind, and how many failing seeds had it.
    pub seed: u64,
    pub occurrences: u64,
    pub detail: String,
    pub replay: String,
    /// Steps of the shrunk case, if it was shrunk.
    pub shrunk_steps: Option<usize>,
    /// The shrunk case (or the original one), ready for `replay --decisions`.
    pub case: Case,
}

impl FailureReport {
    pub fn new(f: &Failure, origin: &Origin, model: &str) -> Self {
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
    pub fn new(
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
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report serialises");
        text.push('\n');
        text
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a report: {e}"))
    }
}
