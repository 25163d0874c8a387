//! #1341: `startAgent` for an agent still Starting called `stopAgent`, which could not cancel a
//! startup that had no session yet; the first startup went on and left a live session that
//! nothing tracked. Built here on purpose: start A; while A's create is in flight, start A
//! again. `legacy` must be caught (I1); `owned` must hold.

use lifecycle_sim::Invariant;
use lifecycle_sim::Model;
use lifecycle_sim::workload::{CallKind, OpKind, Trigger};
use race_regressions::{fault_free, issued, run};

const A: u8 = 0;
const B: u8 = 1;

/// B keeps the shared server up; A starts, and is restarted while its create is in flight.
fn restart_during_create() -> lifecycle_sim::ScenarioSpec {
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

/// A alone: restarted while its first startup is still waiting for the server.
fn restart_during_ensure_server() -> lifecycle_sim::ScenarioSpec {
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

#[test]
fn legacy_leaks_a_session_when_restarted_during_create() {
    let spec = restart_during_create();
    for seed in 0..50 {
        let outcome = run(Model::Legacy, &spec, seed);
        assert!(
            issued(&outcome, 2),
            "seed {seed}: the restart never ran during A's create"
        );
        let violation = outcome
            .violation
            .unwrap_or_else(|| panic!("seed {seed}: legacy survived the #1341 race"));
        assert_eq!(
            violation.invariant,
            Invariant::I1,
            "seed {seed}: {}",
            violation.detail
        );
    }
}

#[test]
fn legacy_leaks_a_session_when_restarted_during_ensure_server() {
    let spec = restart_during_ensure_server();
    let caught = (0..50)
        .filter(|&seed| {
            let outcome = run(Model::Legacy, &spec, seed);
            assert!(issued(&outcome, 1));
            outcome
                .violation
                .is_some_and(|v| v.invariant == Invariant::I1)
        })
        .count();
    // The leak needs the first create to land after the restart's stop; most orders do that.
    assert!(caught > 0, "no seed of 50 caught the leak");
}

#[test]
fn owned_survives_both_restarts() {
    for spec in [restart_during_create(), restart_during_ensure_server()] {
        for seed in 0..200 {
            let outcome = run(Model::Owned, &spec, seed);
            assert!(issued(&outcome, spec.workload.ops.len() as u32 - 1));
            assert_eq!(outcome.violation, None, "seed {seed}");
        }
    }
}
