//! A subject's own invariants (`Manager::invariant`): checked with I1-I8 after every step, on
//! the same view, reported by their own name with their own message, and replayed from the case
//! of a finding like any built-in one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agent_lifecycle::{AgentManager, ServerId, Status};
use lifecycle_models::LegacyManager;
use lifecycle_sim::{
    Case, FakeBackend, Invariant, Manager, Model, Outcome, Settings, Story, View, check_random,
    replay,
};
use race_regressions::stories::{
    restart_during_create_alone, restart_during_create_on_a_shared_server,
};

/// `owned`, with an invariant of its own that any two agents break: at most one record.
fn owned_with_at_most_one_record() -> Manager<AgentManager<FakeBackend>> {
    Manager::new("owned-at-most-one-record").invariant("at-most-one-record", |view| {
        let records = &view.snapshot.agents;
        if records.len() <= 1 {
            return Ok(());
        }
        let agents: Vec<String> = records.iter().map(|r| r.agent.to_string()).collect();
        Err(format!("{} records: {}", records.len(), agents.join(", ")))
    })
}

/// Two agents on one server, a1 started 50 ms after a0.
#[rustfmt::skip]
fn two_agents_started() -> Story {
    Story::new()
        .agents(["a0", "a1"])
        .start("a0")
        .start("a1").at_ms(50)
}

#[test]
fn a_user_invariant_that_breaks_is_reported_by_its_name_with_its_message() {
    let story = two_agents_started();
    let subject = owned_with_at_most_one_record();
    let finding =
        check_random(&subject, &story, 10).expect_violation(Invariant::User("at-most-one-record"));
    assert_eq!(finding.violation().detail, "2 records: a0, a1");
    // The violation is the invariant's own: without it, owned holds on the same story.
    check_random(&Model::Owned, &story, 10).assert_holds();
}

/// What `owned` keeps that the built-in invariants do not state: a Running record has its
/// session, and a finished (Exited or Failed) one holds none. `running` and `finished` count
/// the records of each kind the invariants were shown, so that a sweep that never reached one
/// cannot pass.
fn owned_with_sessions_where_they_belong(
    running: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
) -> Manager<AgentManager<FakeBackend>> {
    Manager::new("owned-sessions-where-they-belong")
        .invariant("running-has-a-session", move |view: &View| {
            for record in &view.snapshot.agents {
                if record.status == Status::Running {
                    running.fetch_add(1, Ordering::Relaxed);
                    if record.session.is_none() {
                        return Err(format!("{} is Running with no session", record.agent));
                    }
                }
            }
            Ok(())
        })
        .invariant("finished-holds-no-session", move |view: &View| {
            for record in &view.snapshot.agents {
                if record.status.is_terminal() {
                    finished.fetch_add(1, Ordering::Relaxed);
                    if let Some(session) = record.session {
                        return Err(format!(
                            "{} is {:?} but still holds {session}",
                            record.agent, record.status
                        ));
                    }
                }
            }
            Ok(())
        })
}

#[test]
fn user_invariants_that_owned_keeps_hold_over_generated_scenarios() {
    let (running, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let subject = owned_with_sessions_where_they_belong(running.clone(), finished.clone());
    check_random(&subject, &Settings::default(), 500).assert_holds();
    let (running, finished) = (
        running.load(Ordering::Relaxed),
        finished.load(Ordering::Relaxed),
    );
    assert!(
        running > 1000 && finished > 1000,
        "only {running} Running and {finished} finished records were judged"
    );
}

#[test]
fn a_user_invariants_finding_replays_from_its_case() {
    let subject = owned_with_at_most_one_record();
    let finding = check_random(&subject, &two_agents_started(), 10)
        .expect_violation(Invariant::User("at-most-one-record"));
    let replayed = replay(&subject, &finding.case);
    assert_eq!(replayed.violation.as_ref(), Some(finding.violation()));
    assert_eq!(replayed.history.digest(), finding.outcome.history.digest());
    // Saved and loaded, as the regression store keeps it.
    let saved = Case::from_json(&finding.case.to_json()).unwrap();
    assert_eq!(
        replay(&subject, &saved).violation.as_ref(),
        Some(finding.violation())
    );
    // Nothing built in breaks on it.
    assert_eq!(replay(&Model::Owned, &finding.case).violation, None);
}

/// PRE, as `Model::Legacy` runs it (its callers always wait), with an invariant of its own.
fn legacy_with(
    name: &'static str,
    check: impl Fn(&View) -> Result<(), String> + Send + Sync + 'static,
) -> Manager<LegacyManager<FakeBackend>> {
    Manager::new(format!("legacy-{name}"))
        .callers_wait()
        .invariant(name, check)
}

/// An invariant that holds for its first `n - 1` checks and fails from its `n`th on, counting
/// in `checks` the times it was asked.
fn fails_from_check(
    n: usize,
    checks: Arc<AtomicUsize>,
) -> impl Fn(&View) -> Result<(), String> + Send + Sync + 'static {
    move |_| {
        let k = checks.fetch_add(1, Ordering::Relaxed) + 1;
        if k < n {
            Ok(())
        } else {
            Err(format!("check {k}"))
        }
    }
}

/// The steps a run judged before the one it failed on (a step is a view the checker judged:
/// a look of the clockwork, or a millisecond when time steps); the run stopped at the step
/// that failed.
fn steps_before_the_failure(outcome: &Outcome) -> usize {
    outcome.views as usize - 1
}

/// The user's invariant is asked once a step, on every step before the one where PRE leaks,
/// and not on that one: the step's built-in check failed first.
#[test]
fn a_user_invariant_is_judged_on_every_step_until_a_built_in_one_fires() {
    let leak = check_random(
        &Model::Legacy,
        &restart_during_create_on_a_shared_server(),
        50,
    )
    .expect_violation(Invariant::I1);
    let steps = steps_before_the_failure(&leak.outcome);
    let run = |n| {
        let checks = Arc::new(AtomicUsize::new(0));
        let subject = legacy_with("fails-from-check-n", fails_from_check(n, checks.clone()));
        let outcome = replay(&subject, &leak.case);
        (outcome, checks.load(Ordering::Relaxed))
    };

    // An invariant that never fails changes nothing (the same leak, the same history), and
    // was asked on each step before the leak's, not on the leak's.
    let (outcome, checks) = run(usize::MAX);
    assert_eq!(outcome.violation.as_ref(), Some(leak.violation()));
    assert_eq!(outcome.history.digest(), leak.outcome.history.digest());
    assert_eq!(checks, steps);

    // Failing from the leak's step on: it is never asked there, and the leak is reported.
    let (outcome, checks) = run(steps + 1);
    assert_eq!(outcome.violation.as_ref(), Some(leak.violation()));
    assert_eq!(checks, steps);

    // Failing from the step before the leak's: the user's invariant is reported, by name.
    let (outcome, checks) = run(steps);
    let violation = outcome
        .violation
        .as_ref()
        .expect("the step before the leak fails");
    assert_eq!(violation.invariant, Invariant::User("fails-from-check-n"));
    assert_eq!(violation.detail, format!("check {steps}"));
    assert_eq!(checks, steps);
    assert_eq!(steps_before_the_failure(&outcome), steps - 1);
}

/// I4's own condition, restated by a user: every server counts at least the live sessions
/// that live records track on it.
fn counts_cover_tracked_sessions(view: &View) -> Result<(), String> {
    let tracked = view
        .snapshot
        .agents
        .iter()
        .filter(|r| !r.status.is_terminal())
        .filter_map(|r| view.ledger.session(r.session?))
        .filter(|s| s.live);
    let mut on: BTreeMap<ServerId, i64> = BTreeMap::new();
    for session in tracked {
        *on.entry(session.server).or_default() += 1;
    }
    for (server, sessions) in on {
        let count: i64 = view
            .snapshot
            .servers
            .iter()
            .filter(|e| e.server == server)
            .map(|e| e.count)
            .sum();
        if count < sessions {
            return Err(format!("{server} counts {count} under {sessions} tracked"));
        }
    }
    Ok(())
}

/// A user who restates I4 sees the views I4 sees: the restatement holds on every step before
/// the one where PRE releases a server too often, is not asked on that step, and I4 is
/// reported (had the user's invariant been shown a later view, or been asked first, it would
/// have been reported instead).
#[test]
fn a_built_in_invariant_is_judged_before_the_users_own_on_the_same_step() {
    let release = check_random(&Model::Legacy, &restart_during_create_alone(), 50)
        .expect_violation(Invariant::I4);
    let checks = Arc::new(AtomicUsize::new(0));
    let asked = checks.clone();
    let restated = legacy_with("counts-cover-tracked-sessions", move |view| {
        asked.fetch_add(1, Ordering::Relaxed);
        counts_cover_tracked_sessions(view)
    });
    let outcome = replay(&restated, &release.case);
    assert_eq!(outcome.violation.as_ref(), Some(release.violation()));
    assert_eq!(
        checks.load(Ordering::Relaxed),
        steps_before_the_failure(&release.outcome)
    );
}
