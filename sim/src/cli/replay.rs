//! The one-scenario subcommands, `replay` and `shrink`: loading the scenario a `--seed` or
//! `--decisions` names, running it, and printing what it did.

use std::path::{Path, PathBuf};

use super::UsageError;
use super::args::{Generation, Source, one_line};
use crate::explore::shrink::{
    SHRINK_BUDGET, Shrunk, regression_test, shrink as shrink_case, steps,
};
use crate::report::{Origin, replay_command, scenario_report};
use crate::subject::Subject;
use crate::{Case, Scenario};

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path).map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))
}

/// The case `--decisions FILE` holds. A file that is not one is refused with one line (never
/// read as fuzzer bytes unless `--fuzz` or `--structured` says it is a fuzz input).
fn load_case(path: &Path) -> Result<Case, UsageError> {
    let bytes = read(path)?;
    let hint = "a cargo-fuzz input replays with --fuzz (decisions_* targets) or --structured (structured_* targets)";
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        UsageError(format!(
            "{}: not a case file (not UTF-8 text); {hint}",
            path.display()
        ))
    })?;
    Case::from_json(text).map_err(|e| {
        let e = one_line(&e);
        if text.trim_start().starts_with('{') {
            UsageError(format!("{}: {e}", path.display()))
        } else {
            UsageError(format!("{}: {e}; {hint}", path.display()))
        }
    })
}

/// Runs the scenario a `--seed`/`--decisions` pair names; returns it as a case (its spec and
/// the choices the run drew), where it came from, and the outcome.
fn run_source(
    model: &dyn Subject,
    source: &Source,
    generation: &Generation,
) -> Result<(Case, Origin, crate::Outcome), UsageError> {
    if source.structured && source.decisions.is_none() {
        return Err(UsageError(
            "--structured reads a fuzz input given with --decisions".into(),
        ));
    }
    let (scenario, origin) = match (&source.seed, &source.decisions) {
        (Some(seed), _) => (
            Scenario::from_seed(&generation.settings_for(model)?, *seed),
            generation.origin(*seed),
        ),
        (None, Some(path)) => {
            // The flag stays with the file, so that the replay command a report prints works.
            let (scenario, flag) = if source.structured {
                let bytes = read(path)?;
                (crate::fuzzing::structured_scenario(&bytes), " --structured")
            } else if source.fuzz {
                (crate::fuzzing::decision_scenario(&read(path)?), " --fuzz")
            } else {
                (Scenario::from_case(&load_case(path)?), "")
            };
            (scenario, Origin::File(format!("{}{flag}", path.display())))
        }
        (None, None) => unreachable!("clap requires one of --seed and --decisions"),
    };
    let (seed, spec) = (scenario.seed, scenario.spec.clone());
    if let Some(name) = model.undeclared(&spec) {
        return Err(UsageError(format!(
            "the scenario calls `{name}`, an operation {} does not declare",
            model.name()
        )));
    }
    let outcome = scenario.run(model);
    Ok((Case::of_run(seed, &spec, &outcome), origin, outcome))
}

pub(super) fn shrunk_text(
    model: &dyn Subject,
    origin: &Origin,
    invariant: crate::Invariant,
    s: &Shrunk,
    full: bool,
) -> String {
    let n = steps(&s.outcome, &s.case);
    let mut text = format!(
        "shrunk in {} runs to {n} steps ({} operations)\n",
        s.runs,
        s.case.spec.workload.ops.len()
    );
    if full {
        let label = format!("shrunk from {}", origin.args().trim_start_matches("--"));
        text.push_str(&scenario_report(
            model.name(),
            &Origin::Unsaved(label),
            &s.case.spec,
            &s.outcome,
        ));
        text.push_str("regression test (paste into tests/):\n");
        let name = match origin {
            Origin::Seed { seed, .. } => format!("seed {seed}"),
            Origin::File(path) | Origin::Unsaved(path) => format!("case {path}"),
        };
        text.push_str(&regression_test(model, invariant, &s.case, &name));
    }
    text
}

/// `replay`: runs one scenario and prints its whole timeline; true if nothing was violated.
pub(super) fn replay(
    model: &dyn Subject,
    source: &Source,
    generation: &Generation,
    trace_out: Option<PathBuf>,
    html: Option<PathBuf>,
) -> Result<bool, UsageError> {
    let (case, origin, outcome) = run_source(model, source, generation)?;
    print!(
        "{}",
        scenario_report(model.name(), &origin, &case.spec, &outcome)
    );
    if let Some(path) = trace_out {
        let title = format!("{model} {}", origin.args());
        let json = crate::report::chrome::chrome_trace(&outcome, &title);
        std::fs::write(&path, format!("{json}\n"))
            .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(path) = html {
        super::page::write(&path, &replay_page(model, &origin, &case, &outcome))?;
    }
    Ok(outcome.violation.is_none())
}

/// `replay --html`: the one run, drawn.
fn replay_page(
    model: &dyn Subject,
    origin: &Origin,
    case: &Case,
    outcome: &crate::Outcome,
) -> crate::report::html::Page {
    let verdict = outcome.violation.as_ref().map_or_else(
        || "passes".to_string(),
        |v| format!("violates {}", v.invariant),
    );
    let heading = format!("{model} {} {verdict}", origin.args());
    let file = match &outcome.violation {
        Some(v) => format!("{model}-{}-replay.json", v.invariant.code()),
        None => format!("{model}-replay.json"),
    };
    let run = crate::report::html::container_run(
        model,
        heading,
        replay_command(model.name(), origin),
        Some((file, case)),
        &case.spec,
        outcome,
    );
    let settings = vec![
        ("model".to_string(), model.name().to_string()),
        ("scenario".into(), origin.args()),
        ("ops".into(), case.spec.workload.mix.to_string()),
        ("faults".into(), case.spec.faults.to_string()),
        ("schedule".into(), case.spec.strategy.name()),
    ];
    let title = format!("replay: {model} {}", origin.args());
    let seed = case.seed.unwrap_or(0);
    super::page::one_run_page(
        "replay",
        title,
        settings,
        (model.name(), model.about()),
        run,
        seed,
    )
}

/// `shrink`: shrinks a failing scenario and prints it as a regression test; true if the
/// scenario passes, so there is nothing to shrink.
pub(super) fn shrink(
    model: &dyn Subject,
    source: &Source,
    generation: &Generation,
    save: Option<PathBuf>,
) -> Result<bool, UsageError> {
    let (case, origin, outcome) = run_source(model, source, generation)?;
    let Some(v) = &outcome.violation else {
        print!(
            "{}",
            scenario_report(model.name(), &origin, &case.spec, &outcome)
        );
        println!("nothing to shrink: {model} passes this scenario");
        return Ok(true);
    };
    println!("{model} {}: {}", origin.args(), v.invariant);
    let shrunk = shrink_case(model, case, v.invariant, SHRINK_BUDGET);
    print!(
        "{}",
        shrunk_text(model, &origin, v.invariant, &shrunk, true)
    );
    if let Some(path) = save {
        shrunk.case.save(&path).map_err(UsageError)?;
        println!("saved: {}", path.display());
    }
    Ok(false)
}
