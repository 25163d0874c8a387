//! What the check API itself promises: a story whose race never fires does not pass for a race
//! survived, and any range of seeds can be checked.

use lifecycle_sim::{CallKind, Invariant, Model, Story, check_random};

/// `owned` never calls the gastown worker (only the historical models do), so a restart
/// waiting for that call never arrives.
fn a_restart_waiting_for_a_call_that_never_comes() -> Story {
    Story::new()
        .agents(["a0"])
        .start("a0")
        .start("a0")
        .while_pending(CallKind::Worker, "a0")
}

#[test]
fn a_race_that_never_fired_is_not_a_pass() {
    let verdict = check_random(
        &Model::Owned,
        &a_restart_waiting_for_a_call_that_never_comes(),
        5,
    );
    assert_eq!(verdict.never_issued, vec![1]);
    assert_eq!(verdict.runs, 5);
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verdict.assert_holds()));
    let message = *panicked
        .expect_err("assert_holds must fail")
        .downcast::<String>()
        .unwrap();
    assert!(
        message.contains("operation(s) [1] of the scenario never arrived in 5 run(s)"),
        "{message}"
    );
}

#[test]
fn a_range_of_seeds_is_checked_from_its_start() {
    // #1341 on a shared server: PRE fails it on every seed (I1 or I5), so first on the first.
    let story = Story::new()
        .agents(["a0", "a1"])
        .start("a1")
        .start("a0")
        .at_ms(30)
        .start("a0")
        .while_pending(CallKind::CreateSession, "a0");
    let verdict = check_random(&Model::Legacy, &story, 40..60);
    assert_eq!(verdict.runs, 1);
    let finding = verdict.finding.expect("PRE leaks");
    assert_eq!(finding.seed, Some(40));
    assert!(matches!(finding.invariant(), Invariant::I1 | Invariant::I5));
    let verdict = check_random(&Model::Owned, &story, 40..60);
    assert_eq!(verdict.runs, 20);
    verdict.assert_holds();
}
