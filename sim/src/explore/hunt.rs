//! Hunts: how many scenarios a strategy takes to find one invariant's violation, its
//! bug-finding power.

use crate::check::Invariant;
use crate::run::Outcome;
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::{Scenario, Settings};
use crate::subject::Subject;

/// What a hunt runs: generated scenarios, or one fixed scenario under many seeds.
pub enum Hunted<'a> {
    /// A scenario generated from each seed under these settings.
    Generated(&'a Settings),
    /// This scenario, its run's choices drawn from each seed.
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
    hunt_for(model, hunted, first_seed, max, |outcome| {
        outcome
            .violation
            .as_ref()
            .is_some_and(|v| v.invariant == target)
    })
}

/// Runs seeds from `first_seed` until a run of `model` passes `found`; the number of
/// scenarios that took (the seed is `first_seed` + it - 1), or `None` within `max`.
pub fn hunt_for(
    model: &dyn Subject,
    hunted: &Hunted,
    first_seed: u64,
    max: u64,
    found: impl Fn(&Outcome) -> bool,
) -> Option<u64> {
    (0..max).find_map(|i| {
        let outcome = hunted.scenario(first_seed + i).run(model);
        found(&outcome).then_some(i + 1)
    })
}

impl Hunted<'_> {
    /// The scenario of `seed`.
    pub fn scenario(&self, seed: u64) -> Scenario {
        match self {
            Hunted::Generated(settings) => Scenario::from_seed(settings, seed),
            Hunted::Fixed(spec) => Scenario::with_spec(seed, (*spec).clone()),
        }
    }
}
