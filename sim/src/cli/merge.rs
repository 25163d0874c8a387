//! `merge`: the JSON reports of a sweep split over machines, as one report, judged once:
//! failures and coverage are merged as if one machine had run every seed.

use std::path::PathBuf;

use super::UsageError;
use crate::report::json::RunReport;
use crate::subject::Subject;

pub(super) struct MergeArgs {
    pub(super) reports: Vec<PathBuf>,
    pub(super) report: Option<PathBuf>,
    pub(super) junit: Option<PathBuf>,
    pub(super) html: Option<PathBuf>,
    pub(super) require_coverage: bool,
}

/// Merges the reports; `subjects` replay the findings the page draws.
pub(super) fn merge(a: MergeArgs, subjects: &[&dyn Subject]) -> Result<bool, UsageError> {
    let mut reports = Vec::new();
    for path in &a.reports {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
        let report = RunReport::from_json(&text)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
        reports.push(report);
    }
    let merged = RunReport::merge(&reports);
    println!(
        "{} reports merged: seeds {}, shards {}",
        reports.len(),
        merged.seeds,
        merged.shard
    );
    for m in &merged.models {
        println!(
            "{}: {} in {} scenarios, {} distinct failure(s)",
            m.model,
            m.verdict,
            m.scenarios,
            m.failures.len()
        );
        for f in &m.failures {
            println!("  {} (seed {}): {}", f.invariant, f.seed, f.replay);
        }
        super::coverage::print(m, false);
    }
    if let Some(path) = &a.report {
        super::explore::write_file(path, &merged.to_json())?;
    }
    if let Some(path) = &a.junit {
        super::explore::write_file(path, &merged.junit())?;
    }
    if let Some(path) = &a.html {
        let mut page = super::page::campaign_page("merge", &merged, subjects);
        let files: Vec<String> = a.reports.iter().map(|p| p.display().to_string()).collect();
        page.tables
            .push(super::page::shards_table(&reports, &files));
        super::page::write(path, &page)?;
    }
    let clean = merged.models.iter().all(|m| m.failures.is_empty());
    let covered = !a.require_coverage || super::coverage::check(&merged.models);
    Ok(clean && covered)
}
