//! Steering: swarm configurations (which fault families and operation kinds a scenario uses)
//! weighted toward those whose scenarios reached rare coverage points. A sweep runs in rounds;
//! each round draws from what the rounds before it reached, so what a seed range does depends
//! on neither `--jobs` nor timing. Half of each round stays plain swarm, so nothing the plain
//! sweep would reach is given up.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::decisions::Decisions;
use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::OpMix;
use crate::scenario::{FaultMode, Scenario, Settings};

/// Scenarios a round runs before the weights are drawn again.
pub const ROUND: u64 = 256;
/// The most configurations steering keeps to draw from.
const PARENTS: usize = 32;

/// A scenario's swarm configuration: its fault families and operation kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swarm {
    pub faults: FaultConfig,
    pub mix: OpMix,
}

impl Swarm {
    /// The configuration with one family or operation kind switched (`bit` of
    /// FAMILIES + 3), each family at its full rate when on.
    fn flipped(mut self, bit: usize) -> Self {
        let families = FaultConfig::FAMILIES;
        if bit < families {
            let mut all = FaultConfig::all();
            let full = all.rates_mut().into_iter().nth(bit).map_or(0, |r| *r);
            if let Some(rate) = self.faults.rates_mut().into_iter().nth(bit) {
                *rate = if *rate == 0 { full } else { 0 };
            }
        } else {
            match bit - families {
                0 => self.mix.restarts = !self.mix.restarts,
                1 => self.mix.stops = !self.mix.stops,
                _ => self.mix.evicts = !self.mix.evicts,
            }
        }
        self
    }
}

#[derive(Default)]
struct State {
    /// Rounds whose results are all in: round r may draw once `ready >= r`.
    ready: u64,
    /// The configurations to draw from, with their weights (rounded rarity, at least 1).
    parents: Vec<(Swarm, u32)>,
    /// How many scenarios reached each point so far.
    counts: BTreeMap<&'static str, u64>,
    /// This round's scenarios so far: what each used and reached.
    round: Vec<(Swarm, BTreeSet<&'static str>)>,
    /// The kept configurations, with the points their scenario reached.
    kept: Vec<(Swarm, BTreeSet<&'static str>)>,
}

#[derive(Default)]
pub struct Steering {
    state: Mutex<State>,
    ready: Condvar,
}

impl Steering {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The scenario of the `index`th seed of the sweep (`seed`), once the rounds before its
    /// own are in; `None` once `stopping()` says the sweep stopped meanwhile. The waiting
    /// worker asks for itself: a sweep that stops takes no more results, so the round it waits
    /// for may never be weighed, and nobody else may be left to wake it.
    pub fn scenario(
        &self,
        settings: &Settings,
        index: u64,
        seed: u64,
        stopping: impl Fn() -> bool,
    ) -> Option<Scenario> {
        let round = index / ROUND;
        let mut state = self.state();
        while state.ready < round {
            if stopping() {
                return None;
            }
            state = self
                .ready
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let parents = state.parents.clone();
        drop(state);
        let mut d = Decisions::from_seed(seed);
        let total: u32 = parents.iter().map(|(_, w)| w).sum();
        if total == 0 || d.percent(50) {
            return Some(Scenario::from_decisions(settings, d, seed));
        }
        let mut pick = d.below(total);
        let mut swarm = parents[0].0;
        for (parent, weight) in &parents {
            if pick < *weight {
                swarm = *parent;
                break;
            }
            pick -= weight;
        }
        if d.percent(50) {
            swarm = swarm.flipped(d.below(FaultConfig::FAMILIES as u32 + 3) as usize);
        }
        let steered = Settings {
            faults: FaultMode::Fixed(swarm.faults),
            ops: Some(swarm.mix),
            ..settings.clone()
        };
        Some(Scenario::from_decisions(&steered, d, seed))
    }

    /// Takes the `index`th result (in order): its configuration and the points it reached.
    /// The last of a round weighs the configurations again and lets the next round draw.
    pub fn record(&self, index: u64, swarm: Swarm, points: &BTreeSet<&'static str>) {
        let mut state = self.state();
        for &point in points {
            *state.counts.entry(point).or_default() += 1;
        }
        state.round.push((swarm, points.clone()));
        if !(index + 1).is_multiple_of(ROUND) {
            return;
        }
        let mut pool = std::mem::take(&mut state.kept);
        pool.append(&mut state.round);
        let rarity = |points: &BTreeSet<&'static str>| -> f64 {
            points
                .iter()
                .map(|p| 1.0 / state.counts.get(p).copied().unwrap_or(1) as f64)
                .sum()
        };
        let mut scored: Vec<(f64, Swarm, BTreeSet<&'static str>)> = pool
            .into_iter()
            .map(|(swarm, points)| (rarity(&points), swarm, points))
            .collect();
        // Highest rarity first; ties keep the earlier scenario (a stable sort).
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.dedup_by(|a, b| a.1 == b.1);
        scored.truncate(PARENTS);
        let best = scored.first().map_or(1.0, |s| s.0).max(f64::MIN_POSITIVE);
        state.parents = scored
            .iter()
            .map(|(score, swarm, _)| (*swarm, ((score / best) * 1000.0).ceil().max(1.0) as u32))
            .collect();
        state.kept = scored
            .into_iter()
            .map(|(_, swarm, points)| (swarm, points))
            .collect();
        state.ready = (index + 1) / ROUND;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A sweep that stops (covered, fail-fast, interrupted) records no more results, so a
    /// worker already waiting for the next round must see the stop itself: once it did not,
    /// and a steered `--until-covered` sweep on two threads hung for good.
    #[test]
    fn a_worker_waiting_for_a_round_that_will_not_come_returns_when_the_sweep_stops() {
        let steering = Steering::default();
        let settings = Settings::default();
        assert!(steering.scenario(&settings, 0, 7, || false).is_some());
        let stopped = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| {
                steering.scenario(&settings, ROUND, 7, || stopped.load(Ordering::Relaxed))
            });
            stopped.store(true, Ordering::Relaxed);
            assert!(waiting.join().expect("the worker panicked").is_none());
        });
    }

    #[test]
    fn the_next_round_draws_once_the_last_result_of_this_one_is_recorded() {
        let steering = Steering::default();
        let settings = Settings::default();
        let swarm = Swarm {
            faults: FaultConfig::all(),
            mix: OpMix::all(),
        };
        for index in 0..ROUND {
            steering.record(index, swarm, &BTreeSet::from(["a.point"]));
        }
        assert!(steering.scenario(&settings, ROUND, 7, || true).is_some());
        assert!(
            steering
                .scenario(&settings, 2 * ROUND, 7, || true)
                .is_none()
        );
    }
}
