//! `hunt`: independent campaigns after one invariant, and how many scenarios each took to
//! find it (a strategy's bug-finding power).

use super::UsageError;
use super::args::{Generation, HuntScenario};
use crate::explore::{Hunted, hunt as hunt_invariant};
use crate::subject::Subject;

/// `hunt`: runs the campaigns and prints how many scenarios each took to find `invariant`;
/// true if no campaign found it.
pub(super) fn hunt(
    model: &dyn Subject,
    invariant: crate::Invariant,
    generation: &Generation,
    campaigns: u64,
    max: u64,
    scenario: HuntScenario,
) -> Result<bool, UsageError> {
    let settings = generation.settings_for(model)?;
    let late = crate::scenario::catalog::late_restart(generation.strategy());
    let hunted = match scenario {
        HuntScenario::Generated => Hunted::Generated(&settings),
        HuntScenario::LateRestart => Hunted::Fixed(&late),
    };
    let began = std::time::Instant::now();
    let (found, median) = campaigns_of(campaigns, max, |first| {
        hunt_invariant(model, &hunted, first, max, invariant)
    });
    println!(
        "{model} {invariant} with {}: found in {found} of {campaigns} campaigns; median {median} scenarios; {:.2} s",
        generation.strategy().name(),
        began.elapsed().as_secs_f64()
    );
    Ok(found == 0)
}

/// Runs `campaigns` hunts (campaign i from seed i * 1_000_000), printing each; how many found
/// their target, and the median scenarios taken (a campaign that never found it counts as
/// `max`).
pub(super) fn campaigns_of(
    campaigns: u64,
    max: u64,
    hunt: impl Fn(u64) -> Option<u64>,
) -> (usize, f64) {
    let mut taken: Vec<Option<u64>> = Vec::new();
    for campaign in 0..campaigns {
        let found = hunt(campaign * 1_000_000);
        let shown = found.map_or_else(|| format!("not within {max}"), |n| n.to_string());
        println!(
            "campaign {campaign:>3} (seeds from {:>10}): {shown}",
            campaign * 1_000_000
        );
        taken.push(found);
    }
    let counts: Vec<f64> = taken.iter().map(|t| t.unwrap_or(max) as f64).collect();
    (
        taken.iter().filter(|t| t.is_some()).count(),
        super::bench::median(counts),
    )
}
