//! The order in which concurrent backend calls resume is the seed's choice, not tokio's FIFO.

use std::collections::BTreeSet;

use agent_lifecycle::AgentId;
use lifecycle_sim::history::What;
use lifecycle_sim::workload::{CallKind, OpKind, Trigger};
use lifecycle_sim::{Model, ScenarioSpec};
use race_regressions::{fault_free, run};

/// Three agents start at once, each in its own workdir: three concurrent `ensure_server` calls.
fn three_concurrent_calls() -> ScenarioSpec {
    fault_free(
        &[0, 1, 2],
        &[
            (OpKind::Start(0), Trigger::At(0)),
            (OpKind::Start(1), Trigger::At(0)),
            (OpKind::Start(2), Trigger::At(0)),
        ],
    )
}

/// The agents in the order their `ensure_server` calls returned (in the workload's phase: the
/// recovery phase after it starts every agent again).
fn order(spec: &ScenarioSpec, seed: u64) -> Vec<AgentId> {
    run(Model::Owned, spec, seed)
        .history
        .events
        .iter()
        .take_while(|e| e.what != What::FaultsHealed)
        .filter(|e| {
            matches!(
                e.what,
                What::CallReturned {
                    kind: CallKind::EnsureServer,
                    ..
                }
            )
        })
        .filter_map(|e| e.agent.clone())
        .collect()
}

#[test]
fn the_seed_decides_the_order_of_concurrent_calls() {
    let spec = three_concurrent_calls();
    let orders: BTreeSet<Vec<AgentId>> = (0..200).map(|seed| order(&spec, seed)).collect();
    assert!(orders.iter().all(|o| o.len() == 3));
    // More than one order is the bar; 200 seeds over 3! orders should reach all of them.
    assert!(orders.len() > 1, "only one order in 200 seeds: {orders:?}");
    assert_eq!(orders.len(), 6, "orders seen: {orders:?}");
}

#[test]
fn with_one_fixed_latency_version_1_keeps_tokios_fifo() {
    // The control: take the decision stream's say away and only one order remains, as it did
    // before same-instant orders were drawn (version 1 cases replay so).
    let mut spec = three_concurrent_calls();
    spec.timing.max_latency_ms = 1;
    spec.version = 1;
    let orders: BTreeSet<Vec<AgentId>> = (0..200).map(|seed| order(&spec, seed)).collect();
    assert_eq!(orders.len(), 1, "orders seen: {orders:?}");
}

#[test]
fn with_one_fixed_latency_the_order_of_one_millisecond_is_drawn() {
    // Every reply lands in the same millisecond: only the same-instant draw orders them.
    let mut spec = three_concurrent_calls();
    spec.timing.max_latency_ms = 1;
    let orders: BTreeSet<Vec<AgentId>> = (0..200).map(|seed| order(&spec, seed)).collect();
    assert_eq!(orders.len(), 6, "orders seen: {orders:?}");
}

/// In the millisecond where a0's `ensure_server` answers and a1's start arrives: which of the
/// two moved first (the first call made in that millisecond, by its agent).
fn first_mover(spec: &ScenarioSpec, seed: u64) -> AgentId {
    run(Model::Owned, spec, seed)
        .history
        .events
        .iter()
        .find(|e| e.at_ms == 1 && matches!(e.what, What::CallStarted { .. }))
        .and_then(|e| e.agent.clone())
        .expect("both move at 1 ms")
}

#[test]
fn an_arrival_and_a_reply_of_one_millisecond_come_in_either_order() {
    let mut spec = fault_free(
        &[0, 1],
        &[
            (OpKind::Start(0), Trigger::At(0)),
            (OpKind::Start(1), Trigger::At(1)),
        ],
    );
    spec.timing.max_latency_ms = 1;
    let movers: BTreeSet<AgentId> = (0..100).map(|seed| first_mover(&spec, seed)).collect();
    assert_eq!(movers.len(), 2, "first movers seen: {movers:?}");
    // Version 1: the reply's task always resumes before the arrival's first poll.
    spec.version = 1;
    let movers: BTreeSet<AgentId> = (0..100).map(|seed| first_mover(&spec, seed)).collect();
    assert_eq!(movers.len(), 1, "first movers seen: {movers:?}");
}
