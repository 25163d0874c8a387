//! The order in which concurrent backend calls resume is the seed's choice, not tokio's FIFO.

use std::collections::BTreeSet;

use agent_lifecycle::AgentId;
use lifecycle_sim::world::history::What;
use lifecycle_sim::{CallKind, Model, ScenarioSpec, Source, Story, Timing, run_once};
use race_regressions::naive::naive;

/// Three agents start at once, each in its own workdir: three concurrent `ensure_server` calls.
fn three_concurrent_calls() -> Story {
    Story::new()
        .agents(["a0", "a1", "a2"])
        .apart()
        .start("a0")
        .start("a1")
        .start("a2")
}

/// a0 starts, and a1 starts 1 ms later in its own workdir: at 1 ms a0's `ensure_server`
/// answers (a0 goes on to create its session) and a1 arrives (a1 calls `ensure_server`).
#[rustfmt::skip]
fn a_start_one_millisecond_after_another() -> Story {
    Story::new()
        .agents(["a0", "a1"])
        .apart()
        .start("a0")
        .start("a1").at_ms(1)
}

/// Every call answers in the same millisecond.
fn one_fixed_latency() -> Timing {
    Timing {
        max_latency_ms: 1,
        ..Timing::default()
    }
}

/// The harness semantics of version 1 case files, where nothing drew the order of one instant.
fn as_version_1(story: &Story) -> ScenarioSpec {
    ScenarioSpec {
        version: 1,
        ..story.spec()
    }
}

/// The agents in the order their `ensure_server` calls returned (in the workload's phase: the
/// recovery phase after it starts every agent again).
fn order(source: &dyn Source, seed: u64) -> Vec<AgentId> {
    run_once(&Model::Owned, source, seed)
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

fn orders(source: &dyn Source) -> BTreeSet<Vec<AgentId>> {
    (0..200).map(|seed| order(source, seed)).collect()
}

#[test]
fn the_seed_decides_the_order_of_concurrent_calls() {
    let orders = orders(&three_concurrent_calls());
    assert!(orders.iter().all(|o| o.len() == 3));
    // More than one order is the bar; 200 seeds over 3! orders should reach all of them.
    assert!(orders.len() > 1, "only one order in 200 seeds: {orders:?}");
    assert_eq!(orders.len(), 6, "orders seen: {orders:?}");
}

#[test]
fn with_one_fixed_latency_version_1_keeps_tokios_fifo() {
    // The control: take the decision stream's say away and only one order remains, as it did
    // before same-instant orders were drawn (version 1 cases replay so).
    let story = three_concurrent_calls().timing(one_fixed_latency());
    let orders = orders(&as_version_1(&story));
    assert_eq!(orders.len(), 1, "orders seen: {orders:?}");
}

#[test]
fn with_one_fixed_latency_the_order_of_one_millisecond_is_drawn() {
    // Every reply lands in the same millisecond: only the same-instant draw orders them.
    let orders = orders(&three_concurrent_calls().timing(one_fixed_latency()));
    assert_eq!(orders.len(), 6, "orders seen: {orders:?}");
}

/// In the millisecond where a0's `ensure_server` answers and a1's start arrives: which of the
/// two moved first (the first call made in that millisecond, by its agent). The naive manager
/// calls the backend at a start's first poll; the production manager and the models run a
/// start's first call behind a yield or a task of its own, which hides the order.
fn first_mover(source: &dyn Source, seed: u64) -> AgentId {
    run_once(&naive(), source, seed)
        .history
        .events
        .iter()
        .find(|e| e.at_ms == 1 && matches!(e.what, What::CallStarted { .. }))
        .and_then(|e| e.agent.clone())
        .expect("both move at 1 ms")
}

fn first_movers(source: &dyn Source) -> BTreeSet<AgentId> {
    (0..100).map(|seed| first_mover(source, seed)).collect()
}

#[test]
fn an_arrival_and_a_reply_of_one_millisecond_come_in_either_order() {
    let story = a_start_one_millisecond_after_another().timing(one_fixed_latency());
    let movers = first_movers(&story);
    assert_eq!(movers.len(), 2, "first movers seen: {movers:?}");
}
