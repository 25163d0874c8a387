//! Every distinct bug the harness found in the historical models, pinned by model, invariant
//! and seed (generated scenario, swarm faults), and the same scenarios on `owned`, which must
//! pass each of them. `lifecycle-sim replay --model M --seed S` tells each story; the README's
//! findings section explains them.

use lifecycle_sim::report::scenario_report;
use lifecycle_sim::{Invariant, Model, Scenario, Settings};

struct Finding {
    name: &'static str,
    model: Model,
    invariant: Invariant,
    seed: u64,
}

const fn bug(name: &'static str, model: Model, invariant: Invariant, seed: u64) -> Finding {
    Finding {
        name,
        model,
        invariant,
        seed,
    }
}

use Invariant::*;
use Model::{AbortToken, Legacy, StartLock};

const FINDINGS: &[Finding] = &[
    bug(
        "legacy_restart_during_startup_leaks_a_session",
        Legacy,
        I1,
        0,
    ),
    bug(
        "legacy_failed_start_never_releases_its_count",
        Legacy,
        I3,
        1,
    ),
    bug(
        "legacy_restart_releases_the_server_under_a_startup",
        Legacy,
        I4,
        3,
    ),
    bug("legacy_stop_does_not_reach_a_startup", Legacy, I5, 13),
    bug("legacy_evict_returns_while_a_start_runs", Legacy, I7, 5),
    bug(
        "legacy_failing_start_overwrites_a_stopped_record",
        Legacy,
        I8,
        8,
    ),
    bug("abort_token_double_release", AbortToken, I4, 0),
    bug("abort_token_count_leak", AbortToken, I3, 1),
    bug("abort_token_untracked_session", AbortToken, I1, 2),
    bug("abort_token_evict_ignores_startups", AbortToken, I7, 5),
    bug("abort_token_status_backwards", AbortToken, I8, 8),
    bug("abort_token_stop_not_terminal", AbortToken, I5, 129),
    bug(
        "abort_token_cancelled_start_leaves_session",
        AbortToken,
        I6,
        360,
    ),
    bug("start_lock_untracked_session", StartLock, I1, 0),
    bug("start_lock_double_release", StartLock, I4, 1),
    bug("start_lock_evict_ignores_startups", StartLock, I7, 5),
    bug("start_lock_count_leak", StartLock, I3, 6),
    bug("start_lock_status_backwards", StartLock, I8, 20),
    bug("start_lock_stop_not_terminal", StartLock, I5, 33),
    bug(
        "start_lock_cancelled_start_leaves_session",
        StartLock,
        I6,
        8016,
    ),
];

fn run(model: Model, seed: u64) -> (Option<Invariant>, String) {
    let scenario = Scenario::from_seed(&Settings::default(), seed);
    let spec = scenario.spec.clone();
    let outcome = scenario.run(model);
    let report = scenario_report(model, seed, &spec, &outcome);
    (outcome.violation.map(|v| v.invariant), report)
}

#[test]
fn each_historical_bug_still_reproduces() {
    for f in FINDINGS {
        let (found, report) = run(f.model, f.seed);
        assert_eq!(
            found,
            Some(f.invariant),
            "{}: expected {}\n{report}",
            f.name,
            f.invariant
        );
    }
}

#[test]
fn owned_passes_every_scenario_that_broke_a_historical_model() {
    for f in FINDINGS {
        let (found, report) = run(Model::Owned, f.seed);
        assert_eq!(
            found, None,
            "owned fails the scenario of {}\n{report}",
            f.name
        );
    }
}

#[test]
fn every_historical_model_breaks_and_each_finding_is_distinct() {
    for model in [Legacy, AbortToken, StartLock] {
        assert!(
            FINDINGS.iter().any(|f| f.model == model),
            "{model} has no finding"
        );
    }
    for (i, a) in FINDINGS.iter().enumerate() {
        for b in &FINDINGS[i + 1..] {
            assert!(a.name != b.name, "{} is pinned twice", a.name);
            assert!(
                (a.model, a.invariant) != (b.model, b.invariant),
                "{} and {} pin the same bug",
                a.name,
                b.name
            );
        }
    }
}
