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
fn with_one_fixed_latency_the_order_is_tokios_fifo() {
    // The control: take the decision stream's say away and only one order remains.
    let mut spec = three_concurrent_calls();
    spec.timing.max_latency_ms = 1;
    let orders: BTreeSet<Vec<AgentId>> = (0..200).map(|seed| order(&spec, seed)).collect();
    assert_eq!(orders.len(), 1, "orders seen: {orders:?}");
}
