//! The town's control plane, modelled: the TownDO alarm (`docs/real-system.md`, the town's
//! alarm), reduced to what decides whether a container runs an agent's work once.
//!
//! Each tick (re-armed after the tick's side effects finished, so ticks never overlap; the
//! alarm itself is in `alarm.rs`):
//! - the status of every working agent is asked, each bounded by 10 s (100 ms scaled):
//!   `exited` idles the agent, `not_found` idles it once the grace (180 s, #1358) since its
//!   last activity has passed, anything else (a timeout, an error: `unknown`) changes nothing;
//! - a working agent whose last activity (dispatch or heartbeat) is older than the liveness
//!   bound goes idle, and its bead is open again (the reconciler's "no heartbeat for 90 s");
//! - an idle agent with an open bead, past its cooldown, is dispatched: marked working, then
//!   `POST /agents/start` with the dispatch timeout. What a failed or timed-out dispatch does
//!   is the [`TownPolicy`];
//! - an agent whose bead the scenario closes is done, and the town stops it: `stop_agent`,
//!   `POST /agents/:id/stop`, sent again each tick until the container answers (as GUPP
//!   re-emits its stop, §2 Phase 1 and 2). Assumption: the notes do not say which rule stops
//!   an agent whose bead closed; this one is GUPP's. The real fetch has no timeout; here it has
//!   the dispatch's, so that a cut network cannot hang the alarm for ever (assumption: the
//!   platform ends a subrequest at some point).
//!
//! A heartbeat marks the agent's activity and flips it from idle back to working (`touchAgent`,
//! \[2nd\]). Times are scaled by 1/100 and keep the real ratios: tick 5 s, dispatch timeout 60 s,
//! heartbeat 30 s, liveness 90 s, cooldown 30 s (its first step), grace 180 s.
//!
//! Not modelled: the cooldown's growth with the dispatch attempts (it only delays a
//! re-dispatch, and the convergence window is sized for its first step), the DO's drain flag
//! (the container's eviction notice; its errors are swallowed, so the DO may never learn of a
//! drain, \[2nd\]), the circuit breaker, GUPP's nudges, sling's out-of-alarm dispatches, the
//! token refresh before each dispatch.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use control_server::Heartbeat;
use serde::{Deserialize, Serialize};

/// What the town does when `/agents/start` fails or times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TownPolicy {
    /// #1358, as the code ran (`actions.ts` @ `e3245727`, \[2nd\]): the agent stays working ("the
    /// container may have started it"); only the liveness rule idles it, and the next dispatch
    /// is a new one.
    LeaveWorking,
    /// #2061 as proposed (its `.catch` never ran in the code read, \[2nd\]): the agent is rolled
    /// back to idle with its bead open, and dispatched again, as a new dispatch, after the
    /// cooldown.
    Rollback,
    /// Ours: a dispatch keeps its identity until the agent is seen working. A retry (after a
    /// failure, a timeout, or the liveness rule) sends the same dispatch id, and the container
    /// starts an agent at most once per dispatch (it answers `already-serving`).
    Fenced,
}

impl TownPolicy {
    /// Every policy.
    pub const ALL: [TownPolicy; 3] = [Self::LeaveWorking, Self::Rollback, Self::Fenced];

    /// Its name on the command line (`--policy`).
    pub fn name(self) -> &'static str {
        match self {
            Self::LeaveWorking => "leave-working",
            Self::Rollback => "rollback",
            Self::Fenced => "fenced",
        }
    }
}

/// The town's clocks (scaled 1/100 from the real ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TownTiming {
    /// The alarm's period.
    pub tick_ms: u64,
    /// The bound on a dispatch (`POST /agents/start`).
    pub dispatch_timeout_ms: u64,
    /// How often the container heartbeats to the town.
    pub heartbeat_ms: u64,
    /// How long a working agent may go without activity before the town idles it.
    pub liveness_ms: u64,
    /// How long after a dispatch an idle agent waits before the next.
    pub cooldown_ms: u64,
    /// How long a `not_found` status is tolerated after the agent's last activity (#1358).
    #[serde(default = "default_grace_ms")]
    pub not_found_grace_ms: u64,
    /// The bound on each `GET /agents/:id/status`.
    #[serde(default = "default_status_timeout_ms")]
    pub status_timeout_ms: u64,
}

fn default_grace_ms() -> u64 {
    1_800
}

fn default_status_timeout_ms() -> u64 {
    100
}

impl Default for TownTiming {
    fn default() -> Self {
        Self {
            tick_ms: 50,
            dispatch_timeout_ms: 600,
            heartbeat_ms: 300,
            liveness_ms: 900,
            cooldown_ms: 300,
            not_found_grace_ms: default_grace_ms(),
            status_timeout_ms: default_status_timeout_ms(),
        }
    }
}

/// What the town believes an agent is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Belief {
    Idle,
    Working,
    /// Its bead is closed: the town wants nothing of it.
    Done,
}

/// What the town believes of one agent.
#[derive(Clone, Debug)]
pub(crate) struct TownAgent {
    pub name: String,
    pub workdir: String,
    pub belief: Belief,
    pub last_activity_ms: u64,
    pub last_dispatch_ms: Option<u64>,
    /// The dispatch the agent works for, once one was sent.
    pub dispatch: Option<String>,
    pub dispatches: u32,
    /// When its last heartbeat arrived: the town's only evidence that it lives.
    pub last_heartbeat_ms: Option<u64>,
    /// When the scenario closes its bead, and the town stops it.
    pub stop_at_ms: Option<u64>,
    /// A stop is due at the next tick.
    pub stop_due: bool,
    /// When the container first answered a stop of it with the agent's state (it had a
    /// record, and stopped it).
    pub stop_acked_ms: Option<u64>,
}

/// One dispatch as the town saw it end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchRecord {
    /// The agent dispatched.
    pub agent: String,
    /// The dispatch's id.
    pub dispatch: String,
    /// When it was sent.
    pub sent_ms: u64,
    /// `started`, `already-serving`, or why the town counts it failed.
    pub outcome: String,
    /// Whether the town went on as if the dispatch had failed (rolled back).
    pub written_off: bool,
}

/// The town's state, shared with the harness, which judges it against the container.
pub(crate) struct Town {
    policy: TownPolicy,
    pub agents: BTreeMap<String, TownAgent>,
    pub dispatches: Vec<DispatchRecord>,
    pub(super) next_dispatch: u64,
    /// What the town did, for the timeline: (ms, agent, what); the harness drains it.
    pub log: Vec<(u64, String, String)>,
}

pub(crate) type SharedTown = Arc<Mutex<Town>>;

pub(crate) fn lock_town(town: &SharedTown) -> std::sync::MutexGuard<'_, Town> {
    town.lock().unwrap_or_else(|p| p.into_inner())
}

impl Town {
    pub fn new(
        agents: &[(String, String)],
        stops: &[(u64, String)],
        policy: TownPolicy,
    ) -> SharedTown {
        let mut town = Town {
            policy,
            agents: BTreeMap::new(),
            dispatches: Vec::new(),
            next_dispatch: 0,
            log: Vec::new(),
        };
        for (name, workdir) in agents {
            let stop_at_ms = stops
                .iter()
                .filter(|(_, agent)| agent == name)
                .map(|(at, _)| *at)
                .min();
            town.agents.insert(
                name.clone(),
                TownAgent {
                    name: name.clone(),
                    workdir: workdir.clone(),
                    belief: Belief::Idle,
                    last_activity_ms: 0,
                    last_dispatch_ms: None,
                    dispatch: None,
                    dispatches: 0,
                    last_heartbeat_ms: None,
                    stop_at_ms,
                    stop_due: false,
                    stop_acked_ms: None,
                },
            );
        }
        Arc::new(Mutex::new(town))
    }

    /// `touchAgent`: a heartbeat is activity, and an idle agent is working again. The
    /// historical towns ignore a done agent's heartbeat (assumption: its bead is closed, and
    /// the rules that act on it want a hooked agent); ours stops it again.
    pub fn heard(&mut self, beat: &Heartbeat, now_ms: u64) {
        let Some(agent) = self.agents.get_mut(&beat.agent) else {
            return;
        };
        if agent.belief == Belief::Done {
            if self.policy == TownPolicy::Fenced && !agent.stop_due {
                agent.stop_due = true;
                let what = format!(
                    "heartbeat from {} of a done agent: stop again",
                    beat.container
                );
                self.log.push((now_ms, beat.agent.clone(), what));
            }
            return;
        }
        agent.last_activity_ms = now_ms;
        agent.last_heartbeat_ms = Some(now_ms);
        if agent.belief == Belief::Idle {
            agent.belief = Belief::Working;
            let what = format!("heartbeat from {}: working again", beat.container);
            self.log.push((now_ms, beat.agent.clone(), what));
        }
    }
}
