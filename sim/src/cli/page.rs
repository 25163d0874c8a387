//! `--html FILE`: each command's campaign as the HTML page (`report::html`), written where
//! asked.

use std::path::Path;

use super::UsageError;
use crate::report::html::{Class, Page, Run, SubjectPart, Table, rate, subject_of_report};
use crate::report::json::{ModelReport, RunReport};
use crate::subject::Subject;

/// Writes the page, or says why it cannot.
pub(super) fn write(path: &Path, page: &Page) -> Result<(), UsageError> {
    super::explore::write_file(path, &page.render())
}

/// The settings a sweep's report records, as the page lists them.
fn settings_of(report: &RunReport) -> Vec<(String, String)> {
    let mut settings = vec![
        ("seeds".to_string(), report.seeds.clone()),
        ("shard".into(), report.shard.clone()),
        ("strategy".into(), report.strategy.clone()),
        ("faults".into(), report.faults.clone()),
        ("jobs".into(), report.jobs.to_string()),
    ];
    if report.interrupted {
        settings.push((
            "interrupted".into(),
            "by Ctrl-C: the report covers what ran".into(),
        ));
    }
    settings
}

/// The page of a sweep (`explore`) or of merged shards (`merge`), each finding replayed from
/// its case on the subject of its name to draw it.
pub(super) fn campaign_page(command: &str, report: &RunReport, subjects: &[&dyn Subject]) -> Page {
    let names: Vec<&str> = report.models.iter().map(|m| m.model.as_str()).collect();
    Page {
        command: command.into(),
        title: format!("{command}: {}, seeds {}", names.join(", "), report.seeds),
        settings: settings_of(report),
        subjects: report
            .models
            .iter()
            .map(|m| {
                let subject = subjects.iter().copied().find(|s| s.name() == m.model);
                subject_of_report(m, subject)
            })
            .collect(),
        tables: Vec::new(),
    }
}

/// The shards side by side: a column per shard, a row per setting and per model's count.
pub(super) fn shards_table(shards: &[RunReport], files: &[String]) -> Table {
    type Field = fn(&ModelReport) -> String;
    type Setting = fn(&RunReport) -> String;
    let settings: [(&str, Setting); 4] = [
        ("seeds", |r| r.seeds.clone()),
        ("shard", |r| r.shard.clone()),
        ("faults", |r| r.faults.clone()),
        ("strategy", |r| r.strategy.clone()),
    ];
    let fields: [(&str, Field); 5] = [
        ("scenarios", |m| m.scenarios.to_string()),
        ("scenarios/s", |m| {
            format!("{:.0}", rate(m.scenarios, m.seconds))
        }),
        ("verdict", |m| m.verdict.clone()),
        ("failure classes", |m| {
            let each: Vec<String> = m
                .failures
                .iter()
                .map(|f| format!("{} x{}", f.invariant, f.occurrences))
                .collect();
            if each.is_empty() {
                "none".into()
            } else {
                each.join(", ")
            }
        }),
        ("required points never reached", |m| {
            let unreached = m.coverage.iter().filter(|p| p.is_unreached_requirement());
            unreached.count().to_string()
        }),
    ];
    let mut rows: Vec<Vec<String>> = settings
        .iter()
        .map(|(name, cell)| {
            std::iter::once(name.to_string())
                .chain(shards.iter().map(cell))
                .collect()
        })
        .collect();
    let mut models: Vec<&str> = Vec::new();
    for m in shards.iter().flat_map(|r| &r.models) {
        if !models.contains(&m.model.as_str()) {
            models.push(&m.model);
        }
    }
    for model in models {
        for (name, field) in fields {
            let cells = shards.iter().map(|r| {
                let report = r.models.iter().find(|m| m.model == model);
                report.map_or_else(|| "-".to_string(), field)
            });
            rows.push(
                std::iter::once(format!("{model}: {name}"))
                    .chain(cells)
                    .collect(),
            );
        }
    }
    let mut header = vec![String::new()];
    header.extend(files.iter().cloned());
    Table {
        caption: format!("the {} shards side by side", shards.len()),
        header,
        rows,
    }
}

/// The page of one run (`replay`, `system --seed`): its subject, and the run drawn.
pub(super) fn one_run_page(
    command: &str,
    title: String,
    settings: Vec<(String, String)>,
    subject: (&str, &str),
    run: Run,
    seed: u64,
) -> Page {
    let classes = run
        .violation
        .as_ref()
        .map(|v| Class {
            invariant: v.invariant.clone(),
            title: v.title.clone(),
            signature: v.detail.clone(),
            occurrences: 1,
            seed,
            run: Some(0),
        })
        .into_iter()
        .collect();
    Page {
        command: command.into(),
        title,
        settings,
        subjects: vec![SubjectPart {
            name: subject.0.into(),
            about: subject.1.into(),
            verdict: if run.violation.is_some() {
                "fail"
            } else {
                "pass"
            }
            .into(),
            scenarios: 1,
            seconds: 0.0,
            per_second: 0.0,
            unclassified: 0,
            classes,
            runs: vec![run],
            coverage: Vec::new(),
            heat: None,
        }],
        tables: Vec::new(),
    }
}
