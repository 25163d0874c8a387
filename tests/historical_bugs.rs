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
    bug("legacy_failed_start_keeps_its_server_count", Legacy, I3, 1),
    bug(
        "legacy_restart_closes_the_server_under_a_startup",
        Legacy,
        I4,
        3,
    ),
    bug(
        "legacy_stop_returns_before_the_startup_creates_its_session",
        Legacy,
        I5,
        13,
    ),
    bug(
        "legacy_evict_returns_while_a_start_is_in_flight",
        Legacy,
        I7,
        5,
    ),
    bug(
        "legacy_failing_start_overwrites_a_stopped_record",
        Legacy,
        I8,
        8,
    ),
    bug(
        "abort_token_failed_prompt_leaves_the_session_running",
        AbortToken,
        I1,
        2,
    ),
    bug(
        "abort_token_failed_start_keeps_its_server_count",
        AbortToken,
        I3,
        1,
    ),
    bug(
        "abort_token_releases_counts_it_never_took",
        AbortToken,
        I4,
        0,
    ),
    bug(
        "abort_token_stop_returns_before_the_startup_unwinds",
        AbortToken,
        I5,
        129,
    ),
    bug(
        "abort_token_cancelled_startup_ignores_a_failed_abort",
        AbortToken,
        I6,
        360,
    ),
    bug(
        "abort_token_evict_does_not_cancel_startups",
        AbortToken,
        I7,
        5,
    ),
    bug(
        "abort_token_failing_start_overwrites_a_stopped_record",
        AbortToken,
        I8,
        8,
    ),
    bug(
        "start_lock_restart_ignores_a_failed_abort",
        StartLock,
        I1,
        0,
    ),
    bug(
        "start_lock_failed_start_keeps_its_server_count",
        StartLock,
        I3,
        6,
    ),
    bug(
        "start_lock_counts_a_new_server_on_a_stale_entry",
        StartLock,
        I4,
        1,
    ),
    bug(
        "start_lock_stop_cannot_reach_starts_queued_on_the_lock",
        StartLock,
        I5,
        33,
    ),
    bug(
        "start_lock_cancelled_startup_ignores_a_failed_abort",
        StartLock,
        I6,
        8016,
    ),
    bug(
        "start_lock_evict_does_not_cancel_startups",
        StartLock,
        I7,
        5,
    ),
    bug(
        "start_lock_failing_start_overwrites_an_evicted_record",
        StartLock,
        I8,
        20,
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
