//! Version 5: walk and dfs may hold the call they picked (a slower answer, never outside the
//! random strategy's latencies, once a call, once a dfs schedule), and the container dies at
//! the look that sees its eviction return, with nothing of the dead boot after it.

use std::collections::BTreeMap;

use lifecycle_sim::scenario::spec::{Strategy, VERSION};
use lifecycle_sim::world::history::{History, What};
use lifecycle_sim::{Model, Scenario, ScenarioSpec, Story, run_once};
use race_regressions::stories::restart_during_create_on_a_shared_server;

/// Each held call: (call, when it was sent, when it is now due).
fn holds(history: &History) -> Vec<(u64, u64, u64)> {
    let mut sent = BTreeMap::new();
    let mut held = Vec::new();
    for e in &history.events {
        match e.what {
            What::CallStarted { call, .. } => {
                sent.insert(call, e.at_ms);
            }
            What::CallHeld { call, ms, .. } => held.push((call, sent[&call], e.at_ms + ms)),
            _ => {}
        }
    }
    held
}

#[test]
fn walk_and_dfs_hold_calls_within_the_latency_model_and_once_each() {
    let story = restart_during_create_on_a_shared_server();
    for strategy in [Strategy::Walk, Strategy::Dfs] {
        let spec = story.spec_with(strategy);
        assert_eq!(spec.version, VERSION);
        let max = u64::from(spec.timing.max_latency_ms);
        let mut seen = 0;
        for seed in 0..200 {
            let outcome = Scenario::with_spec(seed, spec.clone()).run(&Model::Owned);
            let held = holds(&outcome.history);
            for &(call, sent, due) in &held {
                assert!(
                    due > sent && due - sent <= max,
                    "{strategy:?} seed {seed}: call#{call} sent at {sent} ms, answered at {due} ms (max latency {max})"
                );
            }
            let mut calls: Vec<u64> = held.iter().map(|h| h.0).collect();
            calls.dedup();
            assert_eq!(
                calls.len(),
                held.len(),
                "{strategy:?} seed {seed}: a call held twice"
            );
            if strategy == Strategy::Dfs {
                assert!(held.len() <= 1, "dfs seed {seed}: {} holds", held.len());
            }
            seen += held.len();
        }
        assert!(seen > 0, "{strategy:?} held nothing in 200 seeds");
    }
}

#[test]
fn a_version_4_scenario_holds_nothing() {
    let story = restart_during_create_on_a_shared_server();
    for strategy in [Strategy::Walk, Strategy::Dfs] {
        let spec = ScenarioSpec {
            version: 4,
            ..story.spec_with(strategy)
        };
        for seed in 0..100 {
            let outcome = Scenario::with_spec(seed, spec.clone()).run(&Model::Owned);
            assert!(
                holds(&outcome.history).is_empty(),
                "{strategy:?} seed {seed}"
            );
        }
    }
}

#[test]
#[rustfmt::skip]
fn the_container_dies_at_the_look_that_sees_its_eviction_return() {
    let story = Story::new()
        .agents(["a0", "a1"])
        .start("a0").at_ms(0)
        .start("a1").at_ms(5)
        .evict().at_ms(30)
        .start("a0").at_ms(200)
        .time_jumps();
    assert_eq!(story.spec().version, VERSION);
    for seed in 0..50 {
        let outcome = run_once(&Model::Owned, &story, seed);
        let events = &outcome.history.events;
        let returned = events.iter().position(|e| matches!(e.what, What::OpReturned(2, ..))).expect("the eviction returned");
        let bounce = events.iter().position(|e| matches!(e.what, What::Bounce)).expect("a bounce");
        assert_eq!(events[bounce].at_ms, events[returned].at_ms, "seed {seed}:\n{}", outcome.history.timeline());
        // Nothing the dead boot did reached the world between its death and the bounce.
        assert!(
            events[returned + 1..bounce].iter().all(|e| !matches!(e.what, What::CallStarted { .. })),
            "seed {seed}:\n{}", outcome.history.timeline()
        );
        assert!(events.iter().any(|e| matches!(&e.what, What::OpReturned(3, _, Ok(())))), "seed {seed}:\n{}", outcome.history.timeline());
    }
}
