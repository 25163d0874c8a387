//! The naive manager, judged through the harness's public API alone: explore finds its
//! leaks, shrink makes one small, replay reproduces it exactly, a saved case pins it, and a
//! story shows #1341 in it.

use custom_manager::messaging::messaging;
use custom_manager::naive;
use lifecycle_sim::explore::shrink::{SHRINK_BUDGET, shrink};
use lifecycle_sim::explore::{SeedSet, SweepConfig, sweep};
use lifecycle_sim::scenario::workload::WorkloadShape;
use lifecycle_sim::{
    CallKind, Case, Invariant, Model, Settings, Story, Subject, check_random, replay,
};

#[test]
fn explore_finds_the_naive_managers_leak_and_not_the_production_ones() {
    let config = SweepConfig {
        seeds: SeedSet::all(Some(0..200)),
        jobs: 2,
        shrink: false,
        ..SweepConfig::default()
    };
    let found = sweep(&naive(), &Settings::default(), &config, |_| {}, |_| {});
    assert_eq!(found.model, "naive");
    assert_eq!(found.scenarios, 200);
    assert!(
        found.failures.iter().any(|f| f.invariant == Invariant::I1),
        "no leak in 200 seeds: {:?}",
        found
            .failures
            .iter()
            .map(|f| f.invariant)
            .collect::<Vec<_>>()
    );
    let owned = sweep(&Model::Owned, &Settings::default(), &config, |_| {}, |_| {});
    assert!(owned.failures.is_empty());
}

#[test]
fn shrink_and_replay_work_on_a_manager_defined_outside_the_harness() {
    let subject = naive();
    let finding = check_random(&subject, &Settings::default(), 100).expect_violation(Invariant::I1);
    let shrunk = shrink(&subject, finding.case.clone(), Invariant::I1, SHRINK_BUDGET);
    assert!(shrunk.case.spec.workload.ops.len() <= finding.case.spec.workload.ops.len());
    // The shrunk case replays exactly, through a JSON round trip as a saved file would.
    let case = Case::from_json(&shrunk.case.to_json()).unwrap();
    let again = replay(&subject, &case);
    assert_eq!(again.violation, shrunk.outcome.violation);
    assert_eq!(again.history.digest(), shrunk.outcome.history.digest());
}

/// The regression store of this crate: each case names the verdict each subject must reach.
#[test]
fn saved_cases_keep_their_verdicts() {
    let subjects: Vec<Box<dyn Subject>> = vec![
        Box::new(naive()),
        Box::new(messaging()),
        Box::new(Model::Owned),
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let case = Case::load(&path).unwrap();
        assert!(!case.expect.is_empty(), "{}: no verdicts", path.display());
        for (name, verdict) in &case.expect {
            let subject = lifecycle_sim::subject::find(&subjects, name).unwrap();
            let outcome = replay(subject, &case);
            assert_eq!(
                &Case::verdict(&outcome),
                verdict,
                "{} on {name}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2);
}

/// #1341 in the naive manager: a0 is restarted while its first session is being created; the
/// first startup's session lands after the restart's and overwrites its record.
#[test]
fn a_restart_during_create_leaks_in_the_naive_manager_but_not_in_owned() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .start("a0")
        .while_pending(CallKind::CreateSession, "a0");
    check_random(&naive(), &story, 50).expect_violation(Invariant::I1);
    check_random(&Model::Owned, &story, 200).assert_holds();
}

/// A subject's own operation, `message`, is drawn, explored, shrunk and replayed like the
/// built-in ones: a message racing a stop runs the stopped agent's session again.
#[test]
fn a_custom_operation_is_explored_shrunk_and_replayed() {
    let subject = messaging();
    // The race needs the session's server to outlive the stop: agents sharing a workdir.
    let settings = Settings {
        ops: Some("stop,custom".parse().unwrap()),
        shape: WorkloadShape {
            shared_workdirs: true,
            ..WorkloadShape::default()
        },
        ..Settings::default()
    };
    let finding = check_random(&subject, &settings, 5_000).expect_violation(Invariant::I1);
    let shrunk = shrink(&subject, finding.case.clone(), Invariant::I1, SHRINK_BUDGET);
    let ops: Vec<String> = shrunk
        .case
        .spec
        .workload
        .ops
        .iter()
        .map(|op| op.kind.to_string())
        .collect();
    assert!(
        ops.iter().any(|op| op.starts_with("message a")),
        "the shrunk race keeps its message: {ops:?}"
    );
    // Saved and read back as a file is, it replays exactly.
    assert!(shrunk.case.to_json().contains("\"message a"));
    let case = Case::from_json(&shrunk.case.to_json()).unwrap();
    let again = replay(&subject, &case);
    assert_eq!(again.violation, shrunk.outcome.violation);
    assert_eq!(again.history.digest(), shrunk.outcome.history.digest());
    // A story scripts it, and its timeline names it.
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .call("message", Some("a0"), 0)
        .at_ms(40);
    let timeline = lifecycle_sim::run_once(&subject, &story, 1)
        .history
        .timeline();
    assert!(timeline.contains("message a0"), "{timeline}");
}
