//! What `explore` prints and demands of coverage: a line per model (with `--coverage`, a
//! table of every point), and with `--require-coverage` the required points never reached.

use std::path::Path;

use super::UsageError;
use crate::coverage::catalog::Requirement;
use crate::report::coverage::PointReport;
use crate::report::json::ModelReport;
use crate::subject::Subject;

/// The requirement `--require-coverage` names: the catalogs' own (no file), or a file's list,
/// checked against the models' catalogs so that a misspelt point is an error, not a pass.
pub(super) fn requirement(
    file: Option<&Path>,
    models: &[&dyn Subject],
) -> Result<Option<Requirement>, UsageError> {
    let Some(path) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    let requirement =
        Requirement::parse(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let catalogs: Vec<_> = models.iter().map(|m| (m.name(), m.catalog())).collect();
    for (model, point) in &requirement.points {
        let known = catalogs.iter().any(|(name, catalog)| {
            model.as_deref().is_none_or(|m| m == *name) && catalog.all().any(|p| p == point)
        });
        if !known {
            return Err(UsageError(format!(
                "{}: no model run here knows the point `{point}`{}; `points --model M` lists a model's points",
                path.display(),
                model
                    .as_deref()
                    .map(|m| format!(" (for {m})"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(Some(requirement))
}

/// One line per model: how many required points were reached, and the ones that were not;
/// with `full`, every point with its count and first seed.
pub(super) fn print(report: &ModelReport, full: bool) {
    let of = |kind: &str| {
        let required: Vec<&PointReport> = report
            .coverage
            .iter()
            .filter(|p| p.kind == kind && p.need == "required")
            .collect();
        let reached = required.iter().filter(|p| p.scenarios > 0).count();
        (reached, required.len())
    };
    let (declared, declared_of) = of("declared");
    let (world, world_of) = of("world");
    let observed = report
        .coverage
        .iter()
        .filter(|p| p.kind == "world" && p.need == "observed" && p.scenarios > 0)
        .count();
    println!(
        "{}: coverage: {declared}/{declared_of} required points of its code, {world}/{world_of} required world points, {observed} other world points reached",
        report.model
    );
    let undeclared: Vec<&str> = report
        .coverage
        .iter()
        .filter(|p| p.kind == "undeclared")
        .map(|p| p.point.as_str())
        .collect();
    if !undeclared.is_empty() {
        println!(
            "{}:   heard {} point(s) its catalog does not declare (see --coverage)",
            report.model,
            undeclared.len()
        );
    }
    let missed: Vec<String> = report
        .coverage
        .iter()
        .filter(|p| p.is_unreached_requirement())
        .map(|p| match reached_only_with(&p.point) {
            Some(flag) => format!("{} (needs {flag})", p.point),
            None => p.point.clone(),
        })
        .collect();
    if !missed.is_empty() {
        println!("{}:   never reached: {}", report.model, missed.join(", "));
    }
    if full {
        println!(
            "  {:<58} {:<11} {:>9} {:>10}",
            "point", "need", "scenarios", "first seed"
        );
        for p in &report.coverage {
            println!(
                "  {:<58} {:<11} {:>9} {:>10}",
                p.point,
                p.need,
                p.scenarios,
                p.first_seed.map_or("-".into(), |s| s.to_string())
            );
        }
    }
}

/// With `--require-coverage`: says which required points each model never reached; whether
/// all were.
pub(super) fn check(reports: &[ModelReport]) -> bool {
    let mut all = true;
    for report in reports {
        for p in report
            .coverage
            .iter()
            .filter(|p| p.is_unreached_requirement())
        {
            all = false;
            println!(
                "coverage: {} never reached the required point {}{}",
                report.model,
                p.point,
                p.about
                    .as_deref()
                    .map(|a| format!(" ({a})"))
                    .unwrap_or_default()
            );
        }
    }
    all
}

/// `points`: every point of a model's catalog, what it means or why it cannot be reached.
pub(super) fn list(model: &dyn Subject) {
    use crate::coverage::Need;
    let catalog = model.catalog();
    for point in catalog.all() {
        let (need, text) = match catalog.need(point) {
            Need::Required => ("required", catalog.about(point).unwrap_or("")),
            Need::Observed => ("observed", ""),
            Need::Unreachable(why) => ("unreachable", why),
        };
        println!("{point:<58} {need:<11} {text}");
    }
}

/// The flag without which a default run cannot reach `point`: two agents on one server need
/// shared workdirs (off by default, as the real roles have them), and a throwing event stream
/// needs the hypothetical `stream-errors` family.
fn reached_only_with(point: &str) -> Option<&'static str> {
    match point {
        "lease.shared" | "lease.released_shared" => Some("--shared-workdirs"),
        "subscribeToEvents.stream_threw" => Some("--also stream-errors"),
        _ => None,
    }
}
