//! What a system scenario is: the agents the town wants working, its dispatch policy and
//! clocks, the container's backend faults, and the network's cuts, drawn from a seed.

use serde::{Deserialize, Serialize};

use super::town::{TownPolicy, TownTiming};
use crate::decisions::Decisions;
use crate::scenario::faults::FaultConfig;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemSpec {
    /// Each agent and its workdir (agents in one workdir share a session server).
    pub agents: Vec<(String, String)>,
    pub policy: TownPolicy,
    pub town: TownTiming,
    /// The container's backend faults, until the chaos ends.
    pub faults: FaultConfig,
    /// When the town and the container cannot reach each other: `[from, until)` in ms.
    pub partitions: Vec<(u64, u64)>,
    /// How long faults and cuts may happen.
    pub chaos_ms: u64,
    pub max_latency_ms: u32,
    pub max_message_latency_ms: u64,
    pub call_timeout_ms: u64,
    /// How long after the container's boot its heartbeat rounds begin: the container booted
    /// at some moment unrelated to the town's dispatches, so their phases are drawn.
    #[serde(default)]
    pub heartbeat_phase_ms: u64,
}

impl SystemSpec {
    /// The scenario of `seed`: 1-3 agents over 1-2 workdirs, up to 3 partitions of 50 ms to
    /// 1.5 s in the first 3 s.
    pub fn from_seed(seed: u64, policy: TownPolicy, faults: FaultConfig) -> Self {
        let mut d = Decisions::from_seed(seed);
        let n = 1 + d.below(3);
        let agents = (0..n)
            .map(|a| (format!("a{a}"), format!("w{}", d.below(2))))
            .collect();
        let chaos_ms = 3_000;
        let partitions = (0..d.below(4))
            .map(|_| {
                let from = u64::from(d.below(chaos_ms as u32));
                (from, from + 50 + u64::from(d.below(1_450)))
            })
            .collect();
        let town = TownTiming::default();
        let heartbeat_phase_ms = u64::from(d.below(town.heartbeat_ms as u32));
        Self {
            agents,
            policy,
            town,
            faults,
            partitions,
            chaos_ms,
            max_latency_ms: 20,
            max_message_latency_ms: 5,
            call_timeout_ms: 100,
            heartbeat_phase_ms,
        }
    }

    /// How long after the chaos the town has to converge: a liveness bound, a dispatch
    /// timeout and a cooldown, twice over, and two heartbeats.
    pub fn converge_ms(&self) -> u64 {
        let t = &self.town;
        2 * (t.liveness_ms + t.dispatch_timeout_ms + t.cooldown_ms + t.tick_ms) + 2 * t.heartbeat_ms
    }
}
