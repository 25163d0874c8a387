//! What a system scenario is: the agents the town wants working, its dispatch policy and
//! clocks, the container's backend faults, the network's faults, the container's evictions
//! and the town's stops, drawn from a seed.

use serde::{Deserialize, Serialize};

use super::town::{TownPolicy, TownTiming};
use crate::decisions::Decisions;
use crate::scenario::faults::FaultConfig;

/// Which fault families a seed turns on: all of them, none, a draw per seed (swarm), or
/// those of the system only (the network, evictions and stops, with a faultless backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Families {
    /// Every family.
    All,
    /// A subset drawn per seed.
    Swarm,
    /// The system's only: the network, evictions and stops; the backend faultless.
    System,
    /// None.
    None,
}

/// A system scenario: the agents, the town's policy and clocks, and every fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemSpec {
    /// Each agent and its workdir (agents in one workdir share a session server).
    pub agents: Vec<(String, String)>,
    /// The town's dispatch policy.
    pub policy: TownPolicy,
    /// The town's clocks.
    pub town: TownTiming,
    /// The container's backend faults, until the chaos ends.
    pub faults: FaultConfig,
    /// When the town and the container cannot reach each other: `[from, until)` in ms.
    pub partitions: Vec<(u64, u64)>,
    /// How long faults and cuts may happen.
    pub chaos_ms: u64,
    /// Each backend call takes 1..=this many ms.
    pub max_latency_ms: u32,
    /// Each network message takes up to this many ms.
    pub max_message_latency_ms: u64,
    /// The manager's call timeout.
    pub call_timeout_ms: u64,
    /// How long after the container's boot its heartbeat rounds begin: the container booted
    /// at some moment unrelated to the town's dispatches, so their phases are drawn.
    #[serde(default)]
    pub heartbeat_phase_ms: u64,
    /// When the network holds every message between the town and the container, and
    /// releases them all at once: `[from, until)` in ms.
    #[serde(default)]
    pub holds: Vec<(u64, u64)>,
    /// Of each thousand connections opened during the chaos, how many fail at once.
    #[serde(default)]
    pub connect_failures_per_mille: u32,
    /// When the container is told to go away (SIGTERM): it drains, and is killed and
    /// restarted when the drain ends or its deadline passes, whichever comes first.
    #[serde(default)]
    pub evictions: Vec<u64>,
    /// How long an evicted container may drain before it is killed.
    #[serde(default)]
    pub drain_deadline_ms: u64,
    /// How long the killed container stays down before it boots again: the town's next
    /// active tick starts it (`ensureContainerReady`), then its cold start.
    #[serde(default)]
    pub boot_delay_ms: u64,
    /// When the town closes an agent's bead and stops it (`stop_agent`): ms and agent.
    #[serde(default)]
    pub town_stops: Vec<(u64, String)>,
}

impl SystemSpec {
    /// The scenario of `seed`: 1-3 agents over 1-2 workdirs; in the first 3 s, up to 3
    /// partitions and 3 holds of 50 ms to 1.5 s, connection failures, an eviction, and stops
    /// of agents by the town, and the backend's faults, each family on as `families` says.
    pub fn from_seed(seed: u64, policy: TownPolicy, families: Families) -> Self {
        let mut d = Decisions::from_seed(seed);
        let n = 1 + d.below(3);
        let agents: Vec<(String, String)> = (0..n)
            .map(|a| (format!("a{a}"), format!("w{}", d.below(2))))
            .collect();
        let chaos_ms = 3_000;
        let partitions = cuts(&mut d, chaos_ms);
        let town = TownTiming::default();
        let heartbeat_phase_ms = u64::from(d.below(town.heartbeat_ms as u32));
        // Drawn whether on or not, so that switching a family off keeps the others in place.
        let on = |d: &mut Decisions| match families {
            Families::All | Families::System => true,
            Families::None => false,
            Families::Swarm => d.percent(50),
        };
        let (partitions_on, holds_on, failures_on, evictions_on, stops_on) =
            (on(&mut d), on(&mut d), on(&mut d), on(&mut d), on(&mut d));
        let holds = cuts(&mut d, chaos_ms);
        let connect_failures_per_mille = 20 + d.below(180);
        let evictions: Vec<u64> = (0..1)
            .map(|_| u64::from(d.below(chaos_ms as u32)))
            .collect();
        // 0: the host dies without a drain; otherwise the drain may or may not finish in time.
        let drain_deadline_ms = u64::from(d.below(200));
        let boot_delay_ms = 50 + u64::from(d.below(250));
        let town_stops: Vec<(u64, String)> = agents
            .iter()
            .filter_map(|(agent, _)| {
                let at = u64::from(d.below(chaos_ms as u32));
                d.percent(50).then(|| (at, agent.clone()))
            })
            .collect();
        let faults = match families {
            Families::All => FaultConfig::all(),
            Families::None | Families::System => FaultConfig::none(),
            Families::Swarm => FaultConfig::swarm(&mut d),
        };
        Self {
            agents,
            policy,
            town,
            faults,
            partitions: if partitions_on {
                partitions
            } else {
                Vec::new()
            },
            chaos_ms,
            max_latency_ms: 20,
            max_message_latency_ms: 5,
            call_timeout_ms: 100,
            heartbeat_phase_ms,
            holds: if holds_on { holds } else { Vec::new() },
            connect_failures_per_mille: if failures_on {
                connect_failures_per_mille
            } else {
                0
            },
            evictions: if evictions_on { evictions } else { Vec::new() },
            drain_deadline_ms,
            boot_delay_ms,
            town_stops: if stops_on { town_stops } else { Vec::new() },
        }
    }

    /// How long after the chaos the town has to converge: a liveness bound, a dispatch
    /// timeout and a cooldown, twice over, and two heartbeats.
    pub fn converge_ms(&self) -> u64 {
        let t = &self.town;
        2 * (t.liveness_ms + t.dispatch_timeout_ms + t.cooldown_ms + t.tick_ms) + 2 * t.heartbeat_ms
    }

    /// The fault families this scenario turns on, for a report's line.
    pub fn families(&self) -> String {
        let mut on = Vec::new();
        for (name, present) in [
            ("partitions", !self.partitions.is_empty()),
            ("holds", !self.holds.is_empty()),
            ("connect-failures", self.connect_failures_per_mille > 0),
            ("eviction", !self.evictions.is_empty()),
            ("town-stops", !self.town_stops.is_empty()),
        ] {
            if present {
                on.push(name);
            }
        }
        if on.is_empty() {
            "none".into()
        } else {
            on.join(", ")
        }
    }
}

/// Up to 3 windows of 50 ms to 1.5 s, each beginning within the chaos.
fn cuts(d: &mut Decisions, chaos_ms: u64) -> Vec<(u64, u64)> {
    (0..d.below(4))
        .map(|_| {
            let from = u64::from(d.below(chaos_ms as u32));
            (from, from + 50 + u64::from(d.below(1_450)))
        })
        .collect()
}
