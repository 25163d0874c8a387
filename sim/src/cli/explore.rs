//! `explore`: sweep seeds (or search one scenario's schedules, by increasing deviations from
//! its default choices, with dfs) on each model, report what each violates, and save and
//! write what was asked for.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::UsageError;
use super::args::Generation;
use super::findings::{print_expected, print_metrics, print_table};
use super::progress_bar::ProgressView;
use super::replay::shrunk_text;
use super::search::{Search, explore_dfs};
use crate::explore::{SeedSet, SweepConfig, sweep};
use crate::report::json::{ModelReport, RunReport};
use crate::report::{Origin, replay_command, scenario_report};
use crate::subject::Subject;
use crate::{Case, Scenario, ScenarioSpec, Strategy};

/// What `explore` was asked to do.
pub(super) struct ExploreArgs<'a> {
    pub(super) models: Vec<&'a dyn Subject>,
    /// Every subject the CLI knows, for the verdicts a saved case records.
    pub(super) subjects: &'a [Box<dyn Subject>],
    pub(super) seeds: Option<Range<u64>>,
    pub(super) shard: Option<(u64, u64)>,
    pub(super) time: Duration,
    pub(super) jobs: usize,
    pub(super) fail_fast: bool,
    /// Print every failure in full, expected ones too.
    pub(super) verbose: bool,
    pub(super) shrink: bool,
    pub(super) save_failures: Option<PathBuf>,
    pub(super) report: Option<PathBuf>,
    /// Print the state × operation map of each model.
    pub(super) grid: bool,
    /// Print every coverage point of each model.
    pub(super) coverage: bool,
    /// Fail unless the required points were reached: the catalogs' (`Some(None)`), or those
    /// a file lists.
    pub(super) require_coverage: Option<Option<PathBuf>>,
    pub(super) steer: bool,
    pub(super) junit: Option<PathBuf>,
    /// Write the campaign as one HTML page here.
    pub(super) html: Option<PathBuf>,
    pub(super) max_schedules: u64,
    /// dfs: the most deviations from the default choices to search.
    pub(super) max_deviations: u32,
    /// dfs: the invariant to search for (`None`: any).
    pub(super) dfs_invariant: Option<String>,
    /// dfs: a case file whose scenario to search.
    pub(super) dfs_scenario: Option<PathBuf>,
}

/// Set by Ctrl-C: explore stops taking seeds, reports what ran, and writes its files.
pub(super) static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub(super) fn explore(a: ExploreArgs, generation: &Generation) -> Result<bool, UsageError> {
    // A report that cannot be written is found out now, not after an 8-hour run.
    for path in a.report.iter().chain(&a.junit).chain(&a.html) {
        write_file(path, "")?;
    }
    let requirement =
        super::coverage::requirement(a.require_coverage.clone().flatten().as_deref(), &a.models)?;
    if generation.strategy() == Strategy::Dfs {
        if a.require_coverage.is_some() || a.coverage || a.steer || a.html.is_some() {
            return Err(UsageError(
                "--coverage, --require-coverage, --steer and --html are for a sweep of seeds, not dfs"
                    .into(),
            ));
        }
        let (spec, label) = match &a.dfs_scenario {
            Some(path) => {
                let case = Case::load(path).map_err(UsageError)?;
                // The case's story, searched under this harness (as the head-to-head panel
                // runs it): a search is a new exploration, not a replay of the case.
                let spec = ScenarioSpec {
                    strategy: Strategy::Dfs,
                    version: crate::scenario::engine::VERSION,
                    ..case.spec
                };
                (spec, format!("the scenario of {}", path.display()))
            }
            None => (
                crate::scenario::catalog::two_starts(Strategy::Dfs),
                "the two-start scenario".to_string(),
            ),
        };
        let search = Search {
            spec: &spec,
            label: &label,
            max_deviations: a.max_deviations,
            max_schedules: a.max_schedules,
            shrink: a.shrink,
            invariant: a.dfs_invariant.as_deref(),
        };
        return explore_dfs(&a.models, a.subjects, &search, a.save_failures.as_deref());
    }
    if a.dfs_scenario.is_some() {
        return Err(UsageError(
            "--scenario names the scenario dfs searches; add --strategy dfs".into(),
        ));
    }
    if a.max_deviations != u32::MAX || a.dfs_invariant.is_some() {
        return Err(UsageError(
            "--max-deviations and --invariant are for the search of --strategy dfs; add --strategy dfs".into(),
        ));
    }
    let single = a.models.len() == 1;
    // Each subject's own: its operations join the draw.
    let settings: Vec<crate::Settings> = a
        .models
        .iter()
        .map(|&model| generation.settings_for(model))
        .collect::<Result<_, _>>()?;
    // A steered seed's scenario depends on the rounds before it: it replays from its case.
    let origin = |seed: u64| {
        if a.steer {
            Origin::Unsaved(format!(
                "CASE (steered seed {seed}: --save-failures DIR writes its case)"
            ))
        } else {
            generation.origin(seed)
        }
    };
    let seeds = SeedSet {
        range: a.seeds.clone(),
        shard: a.shard.unwrap_or((0, 1)),
    };
    let config = SweepConfig {
        seeds,
        budget: a.time,
        jobs: a.jobs,
        fail_fast: a.fail_fast,
        shrink: a.shrink,
        stop: &INTERRUPTED,
        steer: a.steer,
        until_covered: false,
    };
    let mut all = Vec::new();
    // A sweep of several subjects prints its summary first, then the failures: a subject's
    // expected ones only with --verbose.
    let mut details: Vec<String> = Vec::new();
    for (&model, settings) in a.models.iter().zip(&settings) {
        if INTERRUPTED.load(Ordering::Relaxed) {
            break;
        }
        // Both callbacks write to the terminal through the one progress view.
        let view = std::cell::RefCell::new(ProgressView::new(model));
        let mut saved: Result<(), UsageError> = Ok(());
        let mut reported = 0;
        let findings = sweep(
            model,
            settings,
            &config,
            |failure| {
                let origin = origin(failure.seed);
                let mut text = String::new();
                if single && reported == 0 {
                    text.push_str(&scenario_report(
                        model.name(),
                        &origin,
                        &failure.case.spec,
                        &failure.outcome,
                    ));
                    if let Some(s) = &failure.shrunk {
                        text.push_str(&shrunk_text(model, &origin, failure.invariant, s, true));
                    }
                } else {
                    let detail = failure
                        .outcome
                        .violation
                        .as_ref()
                        .map_or("", |v| v.detail.as_str());
                    text.push_str(&format!(
                        "{model}: {} at seed {}: {detail}\n",
                        failure.invariant, failure.seed
                    ));
                    text.push_str(&format!(
                        "  replay: {}\n",
                        replay_command(model.name(), &origin)
                    ));
                    if let Some(s) = &failure.shrunk {
                        text.push_str(&format!(
                            "  {}",
                            shrunk_text(model, &origin, failure.invariant, s, false)
                        ));
                    }
                }
                reported += 1;
                if let Some(dir) = &a.save_failures
                    && saved.is_ok()
                {
                    let case = failure.shrunk.as_ref().map_or(&failure.case, |s| &s.case);
                    let name = format!(
                        "{}-{}-seed{}.json",
                        model.name(),
                        failure.invariant.code(),
                        failure.seed
                    );
                    match save_case(dir, model, a.subjects, failure.invariant, case, &name) {
                        Ok(path) => text.push_str(&format!("saved: {}\n", path.display())),
                        Err(e) => saved = Err(e),
                    }
                }
                text.push('\n');
                if single {
                    view.borrow().println(&text);
                } else if a.verbose || model.expected_to_fail().is_none() {
                    details.push(text);
                }
            },
            |progress| view.borrow_mut().update(model, progress),
        );
        view.into_inner().finish();
        saved?;
        all.push(findings);
    }
    let interrupted = INTERRUPTED.load(Ordering::Relaxed);
    if interrupted {
        println!("interrupted: reporting what ran");
    }
    if single && a.fail_fast {
        let f = &all[0];
        let secs = f.elapsed.as_secs_f64();
        match f.first() {
            Some(found) => println!(
                "{}: {} found at seed {} after {} scenarios, {secs:.2} s ({:.0} scenarios/s)",
                f.model,
                found.invariant,
                found.seed,
                found.scenarios,
                f.rate()
            ),
            None => println!(
                "{}: no violation in {} scenarios, {secs:.2} s, {:.0} scenarios/s",
                f.model,
                f.scenarios,
                f.rate()
            ),
        }
    } else if single && all[0].failures.is_empty() {
        let f = &all[0];
        println!(
            "{}: no violation in {} scenarios, {:.2} s, {:.0} scenarios/s",
            f.model,
            f.scenarios,
            f.elapsed.as_secs_f64(),
            f.rate()
        );
    } else {
        print_table(&all);
        print_expected(&a.models, &all);
        for text in &details {
            println!();
            print!("{text}");
        }
    }
    let reports: Vec<ModelReport> = all
        .iter()
        .map(|f| ModelReport::new(f, requirement.as_ref(), origin))
        .collect();
    for (f, report) in all.iter().zip(&reports) {
        print_metrics(f, generation.strategy());
        super::coverage::print(report, a.coverage);
        if a.grid {
            println!(
                "\n{}: scenarios in which each operation met its agent's record status (rows) and backend call in flight (columns):",
                f.model
            );
            print!("{}", crate::report::grid::grid(&f.cells));
        }
    }
    let run_report = RunReport {
        seeds: a.seeds.as_ref().map_or_else(
            || format!("from 0 for {}", humantime::format_duration(a.time)),
            |r| format!("{}..{}", r.start, r.end),
        ),
        shard: a
            .shard
            .map_or_else(|| "0/1".into(), |(k, n)| format!("{k}/{n}")),
        jobs: a.jobs,
        faults: format!("{:?}", generation.faults).to_lowercase(),
        strategy: generation.strategy().name(),
        interrupted,
        models: reports,
    };
    if let Some(path) = &a.report {
        write_file(path, &run_report.to_json())?;
    }
    if let Some(path) = &a.junit {
        write_file(path, &run_report.junit())?;
    }
    if let Some(path) = &a.html {
        super::page::write(
            path,
            &super::page::campaign_page("explore", &run_report, &a.models),
        )?;
    }
    let covered = a.require_coverage.is_none() || super::coverage::check(&run_report.models);
    // A subject named alone is judged on its own; in a sweep of several, an expected failure
    // (a historical model's known bug) does not fail the run.
    let clean =
        a.models.iter().zip(&all).all(|(model, f)| {
            f.failures.is_empty() || (!single && model.expected_to_fail().is_some())
        });
    Ok(clean && covered)
}

pub(super) fn write_file(path: &Path, text: &str) -> Result<(), UsageError> {
    std::fs::write(path, text)
        .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))
}

/// Saves `case`, which `model` fails with `invariant`, as `dir/name`, with what every other
/// subject makes of it.
pub(super) fn save_case(
    dir: &Path,
    model: &dyn Subject,
    subjects: &[Box<dyn Subject>],
    invariant: crate::Invariant,
    case: &Case,
    name: &str,
) -> Result<PathBuf, UsageError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", dir.display())))?;
    let mut case = case.clone();
    case.expect.insert(model.name().into(), invariant.code());
    // What every other subject makes of it, so that the store holds them all to it.
    // A subject that does not declare an operation the case calls cannot run it.
    for other in subjects
        .iter()
        .filter(|s| s.name() != model.name() && s.undeclared(&case.spec).is_none())
    {
        let outcome = Scenario::from_case(&case).run(other.as_ref());
        case.expect
            .insert(other.name().into(), Case::verdict(&outcome));
    }
    let path = dir.join(name);
    case.save(&path).map_err(UsageError)?;
    Ok(path)
}
