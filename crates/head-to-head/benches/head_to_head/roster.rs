//! Every contender of the bench, in the table's order: the bench's and the tests' one list.

use head_to_head::contenders::Contender;
use head_to_head::contenders::harness::Harness;
use head_to_head::contenders::stress::Stress;
use head_to_head::contenders::turmoil_alone::TurmoilAlone;

use super::{proptest_machine, shuttle_check};

/// This harness's strategies, then the peers, the real-time stress test as `stress` runs it.
pub fn contenders(stress: Stress) -> Vec<Box<dyn Contender>> {
    let mut all: Vec<Box<dyn Contender>> = Harness::ALL
        .into_iter()
        .map(|s| Box::new(Harness(s)) as Box<dyn Contender>)
        .collect();
    all.push(Box::new(TurmoilAlone));
    all.push(Box::new(shuttle_check::Shuttle { pct: false }));
    all.push(Box::new(shuttle_check::Shuttle { pct: true }));
    all.push(Box::new(proptest_machine::ProptestMachine));
    all.push(Box::new(stress));
    all
}
