//! `explore --strategy dfs`: the bounded systematic search of one scenario on each model,
//! and its report.

use std::path::Path;
use std::sync::atomic::Ordering;

use super::UsageError;
use super::explore::{INTERRUPTED, save_case};
use super::replay::shrunk_text;
use crate::ScenarioSpec;
use crate::explore::shrink::{SHRINK_BUDGET, shrink};
use crate::explore::{BoundedFailure, bounded_for};
use crate::report::{Origin, scenario_report};
use crate::subject::Subject;

/// What the bounded search of `explore --strategy dfs` runs.
pub(super) struct Search<'a> {
    pub(super) spec: &'a ScenarioSpec,
    /// Which scenario it is, for the report.
    pub(super) label: &'a str,
    pub(super) max_deviations: u32,
    pub(super) max_schedules: u64,
    pub(super) shrink: bool,
    /// The invariant searched for (`None`: any).
    pub(super) invariant: Option<&'a str>,
}

/// The bounded search of one scenario on each model: "no violation within bound k (N
/// schedules)", or the first failing schedule, its deviations, shrunk and saved like a
/// sweep's.
pub(super) fn explore_dfs(
    models: &[&dyn Subject],
    subjects: &[Box<dyn Subject>],
    search: &Search,
    save_failures: Option<&Path>,
) -> Result<bool, UsageError> {
    let mut clean = true;
    for &model in models {
        let wanted = match search.invariant {
            Some(text) => Some(super::args::parse_invariant(model, text)?),
            None => None,
        };
        // "no violation", or "no I3" when hunting one.
        let none = wanted.map_or_else(|| "violation".to_string(), |i| i.code());
        let began = std::time::Instant::now();
        let mut ran = 0;
        let report = bounded_for(
            model,
            search.spec,
            search.max_deviations,
            |outcome| {
                outcome
                    .violation
                    .as_ref()
                    .is_some_and(|v| wanted.is_none_or(|i| v.invariant == i))
            },
            || {
                ran += 1;
                ran <= search.max_schedules && !INTERRUPTED.load(Ordering::Relaxed)
            },
        );
        let secs = began.elapsed().as_secs_f64();
        let label = search.label;
        let (summary, complete, within, schedules, exhausted) = (
            report.summary(),
            report.complete,
            report.schedules_within_bound(),
            report.schedules(),
            report.exhausted,
        );
        let Some(BoundedFailure {
            case,
            outcome,
            deviations,
        }) = report.failure
        else {
            let cut = if exhausted {
                ""
            } else if complete == Some(search.max_deviations) {
                "; --max-deviations ended the search"
            } else {
                "; --max-schedules ended the search"
            };
            println!(
                "{model}: bounded search of {label}: no {none}{}{summary}{cut}; {secs:.2} s",
                if exhausted { "; " } else { " " }
            );
            continue;
        };
        clean = false;
        let v = outcome.violation.as_ref().expect("a failure");
        let invariant = v.invariant;
        let before = complete.map_or_else(String::new, |k| {
            format!("; no {none} within bound {k} ({within} schedules)")
        });
        println!(
            "{model}: bounded search of {label}: {invariant} at {deviations} deviation(s), schedule {schedules} of the search{before}; {secs:.2} s"
        );
        let origin = Origin::Unsaved(format!(
            "found by the bounded search at {deviations} deviation(s)"
        ));
        print!(
            "{}",
            scenario_report(model.name(), &origin, &case.spec, &outcome)
        );
        let case = if search.shrink {
            let shrunk = shrink(model, case, invariant, SHRINK_BUDGET);
            print!("{}", shrunk_text(model, &origin, invariant, &shrunk, true));
            shrunk.case
        } else {
            case
        };
        if let Some(dir) = save_failures {
            let name = format!("{}-{}-dfs.json", model.name(), invariant.code());
            let path = save_case(dir, model, subjects, invariant, &case, &name)?;
            println!("saved: {}", path.display());
        }
    }
    Ok(clean)
}
