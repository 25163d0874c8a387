//! This harness, by strategy: random (latencies and same-instant orders from the seed), pct
//! (depth 3), walk (each step drawn uniformly), bounded search (every schedule by increasing
//! deviations from the default choices) and swarm (random, each scenario with a random subset
//! of the race's fault families on).

use std::time::Duration;

use lifecycle_sim::decisions::Decisions;
use lifecycle_sim::explore::bounded_for;
use lifecycle_sim::scenario::spec::{ScenarioSpec, Strategy};
use lifecycle_sim::{Outcome, Scenario};

use super::{Contender, first_seed};
use crate::table::Attempt;
use crate::{Race, cpu};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarnessStrategy {
    Random,
    Pct,
    Walk,
    Bounded,
    Swarm,
}

pub struct Harness(pub HarnessStrategy);

impl Harness {
    pub const ALL: [HarnessStrategy; 5] = [
        HarnessStrategy::Random,
        HarnessStrategy::Pct,
        HarnessStrategy::Walk,
        HarnessStrategy::Bounded,
        HarnessStrategy::Swarm,
    ];
}

fn found(race: &Race, outcome: &Outcome) -> bool {
    outcome
        .violation
        .as_ref()
        .is_some_and(|v| v.invariant == race.invariant)
}

/// Swarm testing (Groce et al.): each scenario keeps each of the race's fault families with
/// probability 1/2, so that no scenario is always interrupted by all of them.
fn swarm_spec(spec: &ScenarioSpec, seed: u64) -> ScenarioSpec {
    let mut spec = spec.clone();
    // Its own stream: the run's decisions are the seed's.
    let mut d = Decisions::from_seed(seed ^ 0x5a5a_5a5a_5a5a_5a5a);
    for rate in spec.faults.rates_mut() {
        if *rate > 0 && !d.percent(50) {
            *rate = 0;
        }
    }
    spec
}

impl Contender for Harness {
    fn name(&self) -> String {
        match self.0 {
            HarnessStrategy::Random => "lifecycle-sim random",
            HarnessStrategy::Pct => "lifecycle-sim pct (depth 3)",
            HarnessStrategy::Walk => "lifecycle-sim walk",
            HarnessStrategy::Bounded => "lifecycle-sim bounded search",
            HarnessStrategy::Swarm => "lifecycle-sim swarm",
        }
        .into()
    }

    fn deterministic(&self) -> bool {
        self.0 == HarnessStrategy::Bounded
    }

    fn campaign(&self, race: &Race, k: u64, budget: Duration) -> Attempt {
        let subject = race.target.subject();
        let began = cpu::thread();
        let spent = || cpu::thread() - began;
        if self.0 == HarnessStrategy::Bounded {
            let spec = ScenarioSpec {
                strategy: Strategy::Dfs,
                ..race.spec.clone()
            };
            let report = bounded_for(
                subject.as_ref(),
                &spec,
                u32::MAX,
                |o| found(race, o),
                || spent() < budget,
            );
            return Attempt::new(report.failure.is_some(), report.schedules(), spent());
        }
        let mut scenarios = 0;
        for seed in first_seed(k).. {
            if spent() >= budget {
                break;
            }
            scenarios += 1;
            let spec = match self.0 {
                HarnessStrategy::Pct => ScenarioSpec {
                    strategy: Strategy::Pct { depth: 3 },
                    ..race.spec.clone()
                },
                HarnessStrategy::Walk => ScenarioSpec {
                    strategy: Strategy::Walk,
                    ..race.spec.clone()
                },
                HarnessStrategy::Swarm => swarm_spec(&race.spec, seed),
                _ => race.spec.clone(),
            };
            if found(race, &Scenario::with_spec(seed, spec).run(subject.as_ref())) {
                return Attempt::new(true, scenarios, spent());
            }
        }
        Attempt::new(false, scenarios, spent())
    }
}
