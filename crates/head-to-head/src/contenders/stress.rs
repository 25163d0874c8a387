//! The real-time stress test, as a team without a simulator writes it: the manager on a
//! multi-threaded tokio runtime using every core, the race's workload played over and over
//! with many plays at once (each play mostly sleeps), against the plain backend whose calls
//! really sleep 1..=max latency ms, with the race's fault rates (every family can be produced
//! in real time), its seeds unseeded on purpose: what it finds cannot be replayed.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{Clock, Contender};
use crate::play::play;
use crate::table::Attempt;
use crate::{Race, cpu};

pub struct Stress {
    pub cores: usize,
    /// Plays in flight at once.
    pub concurrency: usize,
}

impl Stress {
    /// Every core, and 16 plays a core.
    pub fn on_every_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            cores,
            concurrency: 16 * cores,
        }
    }
}

impl Contender for Stress {
    fn name(&self) -> String {
        format!(
            "real-time stress ({} cores, {} plays at once)",
            self.cores, self.concurrency
        )
    }

    fn clock(&self) -> Clock {
        Clock::Wall { cores: self.cores }
    }

    fn campaign(&self, race: &Race, _k: u64, budget: Duration) -> Attempt {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.cores)
            .enable_time()
            .build()
            .expect("a tokio runtime");
        let (began, cpu_began) = (Instant::now(), cpu::process());
        let (found, plays) = runtime.block_on(async {
            let mut plays = JoinSet::new();
            let mut started = 0u64;
            loop {
                while plays.len() < self.concurrency && began.elapsed() < budget {
                    started += 1;
                    let (target, spec, seed) = (race.target, race.spec.clone(), rand::random());
                    plays.spawn(async move { play(target, &spec, seed).await });
                }
                match plays.join_next().await {
                    Some(Ok(Some(v))) if v.invariant == race.invariant => break (true, started),
                    Some(_) => {}
                    None => break (false, started),
                }
            }
        });
        let wall = began.elapsed();
        runtime.shutdown_background();
        Attempt {
            found,
            tries: plays,
            cpu: cpu::process() - cpu_began,
            wall,
        }
    }
}
