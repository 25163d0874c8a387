//! What the check API itself promises: a story whose race never fires does not pass for a race
//! survived, any range of seeds can be checked, a failure saves its case to a file that
//! replays it, and a check cut short (by its bound or its time budget) says so.

use std::time::Duration;

use lifecycle_models::LegacyManager;
use lifecycle_sim::testing::{CheckOptions, failures_dir};
use lifecycle_sim::{
    CallKind, Case, FakeBackend, Invariant, Manager, Model, Story, check_dfs, check_random, replay,
};

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

/// #1341 on a shared server, which PRE fails on every seed.
fn restart_during_create() -> Story {
    Story::new()
        .agents(["a0", "a1"])
        .start("a1")
        .start("a0")
        .at_ms(30)
        .start("a0")
        .while_pending(CallKind::CreateSession, "a0")
}

/// The message of the panic `f` must raise.
fn panic_of(f: impl FnOnce()) -> String {
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    *panicked
        .expect_err("it must panic")
        .downcast::<String>()
        .unwrap()
}

#[test]
fn a_failing_assert_holds_saves_its_case_and_names_the_replay() {
    let message =
        panic_of(|| check_random(&Model::Legacy, &restart_during_create(), 5).assert_holds());
    let mut lines = message.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("legacy violates I"), "{message}");
    let replay_line = lines.next().unwrap();
    let prefix =
        "replay: cargo run --release -p lifecycle-sim -- replay --model legacy --decisions ";
    let path = std::path::Path::new(replay_line.strip_prefix(prefix).expect(&message));
    assert!(path.starts_with(failures_dir()), "{}", path.display());
    assert!(
        path.ends_with(
            "check_api.a_failing_assert_holds_saves_its_case_and_names_the_replay-legacy.json"
        ),
        "{}",
        path.display()
    );
    // The timeline follows; the case itself is in the file, not the message.
    assert!(
        lines.next().unwrap().starts_with("VIOLATION I"),
        "{message}"
    );
    assert!(!message.contains("\"decisions\""), "{message}");
    // The file replays to the verdict the message reports.
    let case = Case::load(path).unwrap();
    let again = replay(&Model::Legacy, &case);
    let invariant = again
        .violation
        .expect("the saved case fails again")
        .invariant;
    assert!(
        header.starts_with(&format!("legacy violates {invariant} ")),
        "{header}"
    );
    assert!(
        message.contains(&format!("trace digest: {:016x}", again.history.digest())),
        "{message}"
    );
}

#[test]
fn a_subject_of_ones_own_is_told_to_replay_through_the_library() {
    let mine = Manager::<LegacyManager<FakeBackend>>::new("mine").callers_wait();
    let message = panic_of(|| check_random(&mine, &restart_during_create(), 5).assert_holds());
    let line = message.lines().nth(1).unwrap();
    assert!(
        line.starts_with("replay: lifecycle_sim::replay(&subject, &lifecycle_sim::Case::load("),
        "{message}"
    );
    assert!(
        line.contains("replay --model mine --decisions "),
        "{message}"
    );
}

#[test]
fn a_search_cut_short_holds_with_a_warning_but_is_not_exhausted() {
    let story = restart_during_create();
    let verdict = check_dfs(&Model::Owned, &story, 5);
    assert_eq!((verdict.runs, verdict.exhausted), (5, Some(false)));
    verdict.assert_holds();
    let message = panic_of(|| check_dfs(&Model::Owned, &story, 5).assert_exhausted());
    assert!(
        message.contains("max_schedules (5) ended the search before it exhausted"),
        "{message}"
    );
}

#[test]
fn a_time_budget_bounds_how_many_runs_a_check_makes() {
    let story = restart_during_create();
    let quick = CheckOptions::default().within(Duration::ZERO);
    let verdict = quick.check_random(&Model::Owned, &story, 1_000);
    // The first run always happens; the budget is spent before the second.
    assert_eq!((verdict.runs, verdict.out_of_time), (1, true));
    verdict.assert_holds();
    let message = panic_of(|| {
        quick
            .check_pct(&Model::Owned, &story, 3, 1_000)
            .assert_exhausted()
    });
    assert!(
        message.contains("held in 1 of 1000 seed(s): the time budget ran out"),
        "{message}"
    );
    let verdict = quick.check_dfs(&Model::Owned, &story, 1_000);
    assert_eq!(
        (verdict.runs, verdict.exhausted, verdict.out_of_time),
        (1, Some(false), true)
    );
    // A budget that does not run out changes nothing.
    let roomy = CheckOptions::default().within(Duration::from_secs(3600));
    let verdict = roomy.check_random(&Model::Legacy, &story, 40..60);
    assert_eq!((verdict.runs, verdict.out_of_time), (1, false));
    assert_eq!(verdict.finding.unwrap().seed, Some(40));
}
