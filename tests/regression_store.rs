//! The regression store: every failure `lifecycle-sim explore --save-failures tests/cases`
//! saved, one case file each, named model-invariant-seed. Each case is replayed on every model
//! it names and must reach the verdict recorded for it, like proptest-regressions files: the
//! bugs of the historical models stay found, and `owned` passes every one of their scenarios.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lifecycle_sim::report::{Origin, scenario_report};
use lifecycle_sim::{Case, Model, replay};

fn cases() -> Vec<(PathBuf, Case)> {
    cases_in("cases")
}

fn cases_in(folder: &str) -> Vec<(PathBuf, Case)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
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

/// Findings that rested on the fake backend's old session semantics, which the real server
/// contradicts (docs/findings.md, "Verdicts that changed"): each no longer reproduces its old
/// verdict on its model under the default semantics.
const INVENTED: &[(&str, &str, &str)] = &[
    // An abort during the initial prompt made the prompt fail; the real prompt answers 200.
    ("legacy-I4-seed127.json", "legacy", "I4"),
    ("abort-token-I4-seed4.json", "abort-token", "I4"),
    ("start-lock-I4-seed434.json", "start-lock", "I4"),
    ("start-lock-I4-seed346.json", "start-lock", "I4"),
    // session.error killed the session; the real session persists and goes idle.
    ("abort-token-I1-seed0.json", "abort-token", "I1"),
    ("start-lock-I1-seed0.json", "start-lock", "I1"),
    // LATEST's create goes through the stale-db fallback, which closes the server (and the
    // lost-reply session with it); start-lock-I3-seed3.json is what the scenario shows now.
    ("start-lock-I1-seed3.json", "start-lock", "I1"),
    // An old incarnation's stream, subscribed to a server already closed, saw
    // `server.connected` and ran its `finally`; the SDK yields nothing from a dead server.
    ("legacy-I5-seed11.json", "legacy", "I5"),
];

#[test]
fn the_invented_findings_no_longer_reproduce() {
    let retired = cases_in("cases/retired");
    for (file, name, old) in INVENTED {
        let (path, case) = retired
            .iter()
            .find(|(p, _)| p.ends_with(file))
            .unwrap_or_else(|| panic!("{file} is not in tests/cases/retired"));
        let outcome = replay(&model(name), case);
        assert_ne!(
            Case::verdict(&outcome),
            *old,
            "{} still reproduces {old} on {name}",
            path.display()
        );
    }
}
