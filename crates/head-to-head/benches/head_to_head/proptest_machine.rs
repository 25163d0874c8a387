//! proptest-state-machine, as a team using it writes the test: a reference state machine
//! whose transitions are the race's kinds of operation (starts and stops of its agents,
//! evictions, refreshes, reboots), the manager as the system under test, one transition at a
//! time, and the checks asserted after each transition and at the end of a case. Its cases are sequences of 1 to twice the
//! race's operations; the backend's randomness is seeded from the case. It has no
//! concurrency to offer: each operation runs to its end before the next begins, so what it
//! can reach is what a single caller can.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use head_to_head::contenders::{Contender, first_seed};
use head_to_head::sequential::{Sequential, sequential};
use head_to_head::{Attempt, Race, cpu};
use lifecycle_sim::scenario::workload::OpKind;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};

thread_local! {
    /// The race under test: the state machine's functions take no `self`.
    static RACE: RefCell<Option<Race>> = const { RefCell::new(None) };
}

fn race() -> Race {
    RACE.with(|r| r.borrow().clone().expect("a race under test"))
}

struct Reference;

impl ReferenceStateMachine for Reference {
    /// The backend's seed: the reference tracks nothing else (what the manager must do is
    /// judged by the checks, not predicted).
    type State = u64;
    type Transition = OpKind;

    fn init_state() -> BoxedStrategy<u64> {
        any::<u64>().boxed()
    }

    fn transitions(_: &u64) -> BoxedStrategy<OpKind> {
        let mut kinds: Vec<OpKind> = race().spec.workload.ops.iter().map(|op| op.kind).collect();
        kinds.sort_by_key(|k| format!("{k:?}"));
        kinds.dedup();
        proptest::sample::select(kinds).boxed()
    }

    fn apply(state: u64, _: &OpKind) -> u64 {
        state
    }
}

struct Manager;

/// The message a check's panic carries, to tell the race's own invariant from others.
const FOUND: &str = "race found: ";

fn assert_not(race: &Race, v: Option<lifecycle_sim::Violation>) {
    if let Some(v) = v
        && v.invariant == race.invariant
    {
        panic!("{FOUND}{}: {}", v.invariant, v.detail);
    }
}

impl StateMachineTest for Manager {
    type SystemUnderTest = Box<dyn Sequential>;
    type Reference = Reference;

    fn init_test(seed: &u64) -> Box<dyn Sequential> {
        let race = race();
        sequential(race.target, &race.spec, *seed)
    }

    fn apply(mut sut: Box<dyn Sequential>, _: &u64, op: OpKind) -> Box<dyn Sequential> {
        assert_not(&race(), sut.op(op));
        sut
    }

    fn teardown(mut sut: Box<dyn Sequential>, _: u64) {
        assert_not(&race(), sut.settle());
    }
}

pub struct ProptestMachine;

impl Contender for ProptestMachine {
    fn name(&self) -> String {
        "proptest-state-machine".into()
    }

    fn campaign(&self, race: &Race, k: u64, budget: Duration) -> Attempt {
        RACE.with(|r| *r.borrow_mut() = Some(race.clone()));
        let began = cpu::thread();
        let cases = Arc::new(AtomicU64::new(0));
        let longest = 2 * race.spec.workload.ops.len();
        // The checks' panics are the test's failures; proptest catches them. Keep them quiet.
        let quiet = crate::quiet::Quiet::new();
        let mut found = false;
        for round in 0.. {
            if cpu::thread() - began >= budget {
                break;
            }
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&first_seed(k).to_le_bytes());
            seed[8..16].copy_from_slice(&(round as u64).to_le_bytes());
            let config = Config {
                cases: 32,
                max_shrink_iters: 0,
                failure_persistence: None,
                ..Config::default()
            };
            let mut runner = TestRunner::new_with_rng(
                config.clone(),
                TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
            );
            let counted = cases.clone();
            let result = runner.run(
                &Reference::sequential_strategy(1..=longest),
                |(state, ops, _seen)| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    // The seen-transitions counter serves shrinking, which a time to find
                    // leaves out; counted with shrinking off, proptest-state-machine panics
                    // reporting the failure ("Unexpected non-zero `seen_transitions_counter`").
                    Manager::test_sequential(config.clone(), state, ops, None);
                    Ok(())
                },
            );
            if let Err(e) = result
                && e.to_string().contains(FOUND)
            {
                found = true;
                break;
            }
        }
        drop(quiet);
        Attempt::new(found, cases.load(Ordering::Relaxed), cpu::thread() - began)
    }
}
