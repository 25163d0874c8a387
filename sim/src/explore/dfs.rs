//! Bounded exhaustive search: every schedule of one scenario, depth first over its decision
//! tree.

use std::collections::BTreeMap;

use crate::run::Outcome;
use crate::scenario::Scenario;
use crate::scenario::case::Case;
use crate::scenario::spec::ScenarioSpec;
use crate::subject::Subject;

/// What a bounded exhaustive search covered.
pub struct DfsReport {
    /// How many schedules ran.
    pub schedules: u64,
    /// Every schedule of the scenario was run.
    pub exhausted: bool,
    /// The first failing schedule, if any.
    pub failure: Option<(Case, Outcome)>,
}

/// Enumerates the decision tree of `spec` (which should use the dfs strategy, so that every
/// decision is a scheduling choice) depth first, up to `max_schedules` runs.
pub fn dfs(model: &dyn Subject, spec: &ScenarioSpec, max_schedules: u64) -> DfsReport {
    let mut ran = 0;
    dfs_for(
        model,
        spec,
        |outcome| outcome.violation.is_some(),
        || {
            ran += 1;
            ran <= max_schedules
        },
    )
}

/// The same search, stopping at the first schedule `found` accepts, or before any schedule
/// `more` refuses (a budget).
pub fn dfs_for(
    model: &dyn Subject,
    spec: &ScenarioSpec,
    found: impl Fn(&Outcome) -> bool,
    mut more: impl FnMut() -> bool,
) -> DfsReport {
    let mut prefix: Vec<u32> = Vec::new();
    let mut schedules = 0;
    loop {
        if !more() {
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
            reaches: BTreeMap::new(),
        };
        let outcome = Scenario::from_case(&case).run(model);
        schedules += 1;
        if found(&outcome) {
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
