//! Hunts: how many scenarios a strategy takes to find one invariant's violation, its
//! bug-finding power.

use crate::check::Invariant;
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::{Scenario, Settings};
use crate::subject::Subject;

/// What a hunt runs: generated scenarios, or one fixed scenario under many seeds.
pub enum Hunted<'a> {
    Generated(&'a Settings),
    Fixed(&'a ScenarioSpec),
}

/// Runs seeds from `first_seed` until `model` violates `target`; the number of scenarios that
/// took, or `None` within `max` scenarios.
pub fn hunt(
    model: &dyn Subject,
    hunted: &Hunted,
    first_seed: u64,
    max: u64,
    target: Invariant,
) -> Option<u64> {
    (0..max).find_map(|i| {
        let seed = first_seed + i;
        let scenario = match hunted {
            Hunted::Generated(settings) => Scenario::from_seed(settings, seed),
            Hunted::Fixed(spec) => Scenario::with_spec(seed, (*spec).clone()),
        };
        let outcome = scenario.run(model);
        outcome
            .violation
            .is_some_and(|v| v.invariant == target)
            .then_some(i + 1)
    })
}
