//! The regression store: every failure `lifecycle-sim explore --save-failures tests/cases`
//! saved, one case file each, named model-invariant-seed. Each case is replayed on every model
//! it names and must reach the verdict recorded for it, like proptest-regressions files: the
//! bugs of the historical models stay found, and `owned` passes every one of their scenarios.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{Case, Model, replay};

fn cases() -> Vec<(PathBuf, Case)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let case = Case::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p, case)
        })
        .collect()
}

fn model(name: &str) -> Model {
    Model::ALL
        .into_iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no model named {name}"))
}

#[test]
fn every_saved_case_reaches_its_recorded_verdict_on_every_model_it_names() {
    let cases = cases();
    assert!(!cases.is_empty());
    for (path, case) in &cases {
        assert!(
            !case.expect.is_empty(),
            "{} expects nothing",
            path.display()
        );
        for (name, points) in &case.reaches {
            let m = model(name);
            let outcome = replay(&m, case);
            for point in points {
                assert!(
                    outcome.points.contains(point.as_str()),
                    "{}: {name} no longer reaches {point}",
                    path.display()
                );
            }
        }
        for (name, verdict) in &case.expect {
            let m = model(name);
            let outcome = replay(&m, case);
            let got = Case::verdict(&outcome);
            let origin = Origin::File(path.display().to_string());
            assert_eq!(
                &got,
                verdict,
                "{}\n{}",
                path.display(),
                scenario_report(m.name(), &origin, &case.spec, &outcome)
            );
        }
    }
}

#[test]
fn the_store_holds_a_bug_of_every_historical_model_and_owned_passes_them_all() {
    let mut bugs = BTreeSet::new();
    for (path, case) in cases() {
        assert_eq!(
            case.expect.get("owned").map(String::as_str),
            Some("pass"),
            "{}",
            path.display()
        );
        for (name, verdict) in &case.expect {
            if name != "owned" {
                bugs.insert((name.clone(), verdict.clone()));
            }
        }
    }
    for m in [Model::Legacy, Model::AbortToken, Model::StartLock] {
        assert!(
            bugs.iter().any(|(name, _)| name == m.name()),
            "no case for {m}"
        );
    }
}
