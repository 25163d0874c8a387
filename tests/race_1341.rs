//! #1341, as the real code has it (seed-system.md §4): a second `startAgent(A)` while A is
//! Starting calls `stopAgent(A)`; *where* in the first startup it arrives decides what happens.
//! - inside `ensureSDKServer`'s slow path (no instance mapped yet): the stop reaches nothing,
//!   both startups count and create: the first session is live and untracked (I1);
//! - during `session.create`, while another counted session keeps the server up: the stop's
//!   decrement does not close it, the first create lands: live and untracked (I1);
//! - during `session.create` with the first session the only one counted: the stop's
//!   `abort('')` answers an HTTP error, which the SDK returns, so the count drops to 0 and the
//!   server is closed; the first create then fails and its catch decrements whatever instance
//!   is mapped *now*: the restart's new server when it is mapped by then, so its count goes
//!   wrong (I3/I4); no session is left live either way.
//!
//! POST (the abort token) must hold I1/I2 for two starts, but not for a start that arrives
//! while an earlier restart's stop is still in flight (§6.8). `owned` must hold throughout.

use lifecycle_sim::Model;
use lifecycle_sim::workload::{CallKind, OpKind, Trigger};
use lifecycle_sim::{Invariant, ScenarioSpec};
use race_regressions::{fault_free, issued, run};

const A: u8 = 0;
const B: u8 = 1;

/// B keeps the shared server up; A starts, and is restarted while its create is in flight.
fn restart_during_create_on_a_shared_server() -> ScenarioSpec {
    fault_free(
        &[0, 0],
        &[
            (OpKind::Start(B), Trigger::At(0)),
            (OpKind::Start(A), Trigger::At(30)),
            (
                OpKind::Start(A),
                Trigger::WhilePending(CallKind::CreateSession, A),
            ),
        ],
    )
}

/// A alone: restarted while its create is in flight, its session the only one counted.
fn restart_during_create_alone() -> ScenarioSpec {
    fault_free(
        &[0],
        &[
            (OpKind::Start(A), Trigger::At(0)),
            (
                OpKind::Start(A),
                Trigger::WhilePending(CallKind::CreateSession, A),
            ),
        ],
    )
}

/// A alone: restarted while its first startup waits for `createKilo`.
fn restart_during_server_spawn() -> ScenarioSpec {
    fault_free(
        &[0],
        &[
            (OpKind::Start(A), Trigger::At(0)),
            (
                OpKind::Start(A),
                Trigger::WhilePending(CallKind::EnsureServer, A),
            ),
        ],
    )
}

/// §6.8: A runs; a restart's stop is in flight when a third start arrives: it sees Stopping,
/// skips the stop, installs its record and starts up; the restart then installs its record
/// over it, and the third start's controller is unreachable.
fn start_during_a_restarts_stop() -> ScenarioSpec {
    fault_free(
        &[0],
        &[
            (OpKind::Start(A), Trigger::At(0)),
            (OpKind::Start(A), Trigger::At(60)),
            (
                OpKind::Start(A),
                Trigger::WhilePending(CallKind::AbortSession, A),
            ),
        ],
    )
}

/// The invariants `model` breaks on `spec` over `seeds`, each seed checked to have issued
/// every operation.
fn verdicts(
    model: Model,
    spec: &ScenarioSpec,
    seeds: std::ops::Range<u64>,
) -> Vec<Option<Invariant>> {
    seeds
        .map(|seed| {
            let outcome = run(model, spec, seed);
            assert!(
                issued(&outcome, spec.workload.ops.len() as u32 - 1),
                "seed {seed}: the racing start never ran"
            );
            outcome.violation.map(|v| v.invariant)
        })
        .collect()
}

/// The orphan is caught on every seed: as untracked (I1) once the first start returns, or
/// earlier, as soon as the first startup's event stream registers over the second's in the
/// agent-keyed controller map, so that a stop no longer reaches the live record's stream (I5,
/// side state: §4 "rec1's stream writes agentId-keyed side maps").
fn orphaned(found: &[Option<Invariant>]) {
    assert!(
        found
            .iter()
            .all(|v| matches!(v, Some(Invariant::I1 | Invariant::I5))),
        "expected I1 or I5 on every seed: {found:?}"
    );
    assert!(
        found.contains(&Some(Invariant::I1)),
        "the leak itself was never reached: {found:?}"
    );
}

#[test]
fn pre_leaks_the_first_session_when_restarted_during_create_on_a_shared_server() {
    let found = verdicts(
        Model::Legacy,
        &restart_during_create_on_a_shared_server(),
        0..50,
    );
    orphaned(&found);
}

#[test]
fn pre_leaks_the_first_session_when_restarted_during_the_server_spawn() {
    let found = verdicts(Model::Legacy, &restart_during_server_spawn(), 0..50);
    orphaned(&found);
}

#[test]
fn pre_corrupts_the_counts_but_leaks_nothing_when_restarted_during_a_lone_create() {
    let found = verdicts(Model::Legacy, &restart_during_create_alone(), 0..50);
    assert!(
        found
            .iter()
            .all(|v| matches!(v, None | Some(Invariant::I3 | Invariant::I4))),
        "expected only count corruption: {found:?}"
    );
    let corrupted = found.iter().filter(|v| v.is_some()).count();
    // The catch's decrement lands on the new server whenever that is mapped first.
    assert!(
        corrupted >= 10,
        "only {corrupted} of 50 seeds corrupted a count: {found:?}"
    );
}

#[test]
fn post_holds_tracked_equals_live_for_two_starts() {
    for spec in [
        restart_during_create_on_a_shared_server(),
        restart_during_create_alone(),
        restart_during_server_spawn(),
    ] {
        let found = verdicts(Model::AbortToken, &spec, 0..50);
        assert!(
            found
                .iter()
                .all(|v| !matches!(v, Some(Invariant::I1 | Invariant::I2))),
            "{found:?}"
        );
    }
}

#[test]
fn post_leaks_a_session_when_a_start_arrives_during_a_restarts_stop() {
    let found = verdicts(Model::AbortToken, &start_during_a_restarts_stop(), 0..50);
    assert!(
        found
            .iter()
            .any(|v| matches!(v, Some(Invariant::I1 | Invariant::I2))),
        "§6.8 never leaked: {found:?}"
    );
}

#[test]
fn owned_survives_every_race() {
    for spec in [
        restart_during_create_on_a_shared_server(),
        restart_during_create_alone(),
        restart_during_server_spawn(),
        start_during_a_restarts_stop(),
    ] {
        let found = verdicts(Model::Owned, &spec, 0..200);
        assert!(found.iter().all(Option::is_none), "{found:?}");
    }
}

/// §6.6: the idle exit (`exitAgent`) only decrements; with another agent keeping the shared
/// server up, the finished session stays live while nothing tracks it (its record is `exited`).
/// PRE's idle timer is cleared by every heartbeat, so only POST reaches the exit.
#[test]
fn post_idle_exit_leaves_the_session_live_on_a_shared_server() {
    let mut spec = fault_free(
        &[0, 0],
        &[
            (OpKind::Start(A), Trigger::At(0)),
            (OpKind::Start(B), Trigger::At(0)),
        ],
    );
    spec.faults.idle_events = 100;
    let found = verdicts(Model::AbortToken, &spec, 0..20);
    assert!(
        found.contains(&Some(Invariant::I1)),
        "no idle exit left a live session: {found:?}"
    );
    let found = verdicts(Model::Owned, &spec, 0..20);
    assert!(found.iter().all(Option::is_none), "{found:?}");
}
