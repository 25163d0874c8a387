//! The page's parts from what the commands have: a run's outcome, or a model's JSON report
//! (whose findings are replayed from their cases to draw them).

use std::time::Duration;

use agent_lifecycle::AgentId;

use super::{Broke, Class, Run, SubjectPart, timeline};
use crate::check::{Invariant, Violation};
use crate::report::grid::heat_map;
use crate::report::json::ModelReport;
use crate::report::premises;
use crate::run::Outcome;
use crate::scenario::case::Case;
use crate::scenario::names::agent_name;
use crate::scenario::spec::ScenarioSpec;
use crate::subject::Subject;
use crate::world::history::History;

/// What a run is told from.
pub(crate) struct Told<'a> {
    pub(crate) heading: String,
    pub(crate) replay: String,
    /// The workload's agents.
    pub(crate) agents: Vec<AgentId>,
    pub(crate) history: &'a History,
    pub(crate) elapsed: Duration,
    pub(crate) violation: Option<&'a Violation>,
    pub(crate) rests_on: Vec<String>,
    pub(crate) code: Vec<(String, String)>,
    /// The case file to offer (its name, the case).
    pub(crate) case: Option<(String, &'a Case)>,
}

/// A run told in full.
pub(crate) fn run_of(t: Told) -> Run {
    Run {
        heading: t.heading,
        violation: t.violation.map(|v| Broke {
            invariant: v.invariant.code(),
            title: v.invariant.title().into(),
            statement: v.invariant.statement().into(),
            detail: v.detail.clone(),
        }),
        replay: t.replay,
        case: t.case.map(|(name, case)| (name, case.to_json())),
        rests_on: t.rests_on,
        code: t.code,
        timeline: timeline(&t.agents, t.history, t.elapsed, t.violation),
        text: t.history.timeline(),
    }
}

/// A container scenario's agents, by name.
pub(crate) fn agents_of(spec: &ScenarioSpec) -> Vec<AgentId> {
    (0..spec.workload.workdirs.len())
        .map(|a| AgentId::new(&agent_name(a as u8)))
        .collect()
}

/// The subject's own code a run went through: each point it reached that its catalog
/// declares, with what the point means (the historical models' are named after the real
/// code's functions and steps).
pub(crate) fn code_reached(subject: &dyn Subject, outcome: &Outcome) -> Vec<(String, String)> {
    let catalog = subject.catalog();
    outcome
        .points
        .iter()
        .filter_map(|p| {
            catalog
                .about(p)
                .map(|about| (p.to_string(), about.to_string()))
        })
        .collect()
}

/// A container scenario of `subject` told in full.
pub(crate) fn container_run(
    subject: &dyn Subject,
    heading: String,
    replay: String,
    case: Option<(String, &Case)>,
    spec: &ScenarioSpec,
    outcome: &Outcome,
) -> Run {
    run_of(Told {
        heading,
        replay,
        agents: agents_of(spec),
        history: &outcome.history,
        elapsed: outcome.elapsed,
        violation: outcome.violation.as_ref(),
        rests_on: if outcome.violation.is_some() {
            premises(subject.name(), spec, outcome)
                .into_iter()
                .map(String::from)
                .collect()
        } else {
            Vec::new()
        },
        code: code_reached(subject, outcome),
        case,
    })
}

/// The title of an invariant by its code, as a report keeps it.
fn title_of(code: &str) -> String {
    Invariant::parse(code).map_or_else(
        || "the subject's own invariant".into(),
        |i| i.title().into(),
    )
}

/// A model's campaign from its JSON report. Each finding is replayed from its case on
/// `subject` to draw it; without the subject (a report of a manager this binary does not
/// know) the findings are listed, not drawn.
pub(crate) fn subject_of_report(
    report: &ModelReport,
    subject: Option<&dyn Subject>,
) -> SubjectPart {
    let mut runs = Vec::new();
    let mut classes = Vec::new();
    for f in &report.failures {
        let drawn = subject
            .filter(|s| s.undeclared(&f.case.spec).is_none())
            .map(|s| {
                let outcome = crate::Scenario::from_case(&f.case).run(s);
                let shrunk = f
                    .shrunk_steps
                    .map_or_else(|| "not shrunk".into(), |n| format!("shrunk to {n} steps"));
                let heading = format!(
                    "{} {} at seed {}, {shrunk}; {} failing seed(s) of this class",
                    f.invariant,
                    title_of(&f.invariant),
                    f.seed,
                    f.occurrences
                );
                let file = format!("{}-{}-seed{}.json", report.model, f.invariant, f.seed);
                container_run(
                    s,
                    heading,
                    f.replay.clone(),
                    Some((file, &f.case)),
                    &f.case.spec,
                    &outcome,
                )
            });
        classes.push(Class {
            invariant: f.invariant.clone(),
            title: title_of(&f.invariant),
            signature: f.signature.clone(),
            occurrences: f.occurrences,
            seed: f.seed,
            run: drawn.is_some().then_some(runs.len()),
        });
        runs.extend(drawn);
    }
    SubjectPart {
        name: report.model.clone(),
        about: subject.map_or_else(String::new, |s| s.about().to_string()),
        verdict: report.verdict.clone(),
        scenarios: report.scenarios,
        seconds: report.seconds,
        per_second: rate(report.scenarios, report.seconds),
        unclassified: report.unclassified,
        classes,
        runs,
        coverage: report.coverage.clone(),
        heat: (!report.state_operations.is_empty()).then(|| heat_map(&report.state_operations)),
    }
}

/// Scenarios a second, 0 for no time.
pub(crate) fn rate(scenarios: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        scenarios as f64 / seconds
    } else {
        0.0
    }
}
