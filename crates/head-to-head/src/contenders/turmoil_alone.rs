//! turmoil on its own, as a team using it writes the test: the manager on a turmoil host, the
//! workload played in turmoil's simulated time (one tick a millisecond), the plain backend's
//! latencies and faults drawn from an rng seeded with the simulation's seed (turmoil 0.7 keeps
//! its own rng private), and the checks a test asserts. No decision stream, no scheduler
//! choosing among ready calls, no PCT, no swarm: what varies from seed to seed is the
//! latencies and the faults.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use lifecycle_sim::Violation;

use super::{Contender, first_seed};
use crate::play::play;
use crate::table::Attempt;
use crate::{Race, cpu};

pub struct TurmoilAlone;

/// One play of `race` on a turmoil simulation seeded with `seed`.
pub fn play_on_turmoil(race: &Race, seed: u64) -> Option<Violation> {
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(1))
        .simulation_duration(Duration::from_secs(3600))
        .build();
    let verdict: Arc<Mutex<Option<Violation>>> = Arc::default();
    let (out, target, spec) = (verdict.clone(), race.target, race.spec.clone());
    sim.client("container", async move {
        let v = play(target, &spec, seed).await;
        *out.lock().unwrap_or_else(|p| p.into_inner()) = v;
        Ok(())
    });
    // A play that panics or outlives the hour is no finding of the race.
    let _ = sim.run();
    verdict.lock().unwrap_or_else(|p| p.into_inner()).take()
}

impl Contender for TurmoilAlone {
    fn name(&self) -> String {
        "turmoil alone".into()
    }

    fn campaign(&self, race: &Race, k: u64, budget: Duration) -> Attempt {
        let began = cpu::thread();
        let mut tries = 0;
        for seed in first_seed(k).. {
            if cpu::thread() - began >= budget {
                break;
            }
            tries += 1;
            if play_on_turmoil(race, seed).is_some_and(|v| v.invariant == race.invariant) {
                return Attempt::new(true, tries, cpu::thread() - began);
            }
        }
        Attempt::new(false, tries, cpu::thread() - began)
    }
}
