//! The town's control plane, modelled: the TownDO alarm of `../shared/seed-system.md` §2 ("DO
//! side"), reduced to what decides whether a container runs an agent's work once.
//!
//! Each tick (re-armed after the tick's dispatches finished, so ticks never overlap):
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
//! [2nd]). Times are scaled by 1/100 and keep the real ratios: tick 5 s, dispatch timeout 60 s,
//! heartbeat 30 s, liveness 90 s, cooldown 30 s (its first step).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control_server::{ClientError, ControlClient, Heartbeat, StartBody};
use serde::{Deserialize, Serialize};

use super::dialer::Dialer;

/// What the town does when `/agents/start` fails or times out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TownPolicy {
    /// #1358, as the code ran (`actions.ts` @ `e3245727`, [2nd]): the agent stays working ("the
    /// container may have started it"); only the liveness rule idles it, and the next dispatch
    /// is a new one.
    LeaveWorking,
    /// #2061 as proposed (its `.catch` never ran in the code read, [2nd]): the agent is rolled
    /// back to idle with its bead open, and dispatched again, as a new dispatch, after the
    /// cooldown.
    Rollback,
    /// Ours: a dispatch keeps its identity until the agent is seen working. A retry (after a
    /// failure, a timeout, or the liveness rule) sends the same dispatch id, and the container
    /// starts an agent at most once per dispatch (it answers `already-serving`).
    Fenced,
}

impl TownPolicy {
    pub const ALL: [TownPolicy; 3] = [Self::LeaveWorking, Self::Rollback, Self::Fenced];

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
    pub tick_ms: u64,
    pub dispatch_timeout_ms: u64,
    pub heartbeat_ms: u64,
    pub liveness_ms: u64,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Belief {
    Idle,
    Working,
    /// Its bead is closed: the town wants nothing of it.
    Done,
}

/// What the town believes of one agent.
#[derive(Clone, Debug)]
pub struct TownAgent {
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
    pub agent: String,
    pub dispatch: String,
    pub sent_ms: u64,
    /// `started`, `already-serving`, or why the town counts it failed.
    pub outcome: String,
    /// Whether the town went on as if the dispatch had failed (rolled back).
    pub written_off: bool,
}

/// The town's state, shared with the harness, which judges it against the container.
pub struct Town {
    policy: TownPolicy,
    pub agents: BTreeMap<String, TownAgent>,
    pub dispatches: Vec<DispatchRecord>,
    next_dispatch: u64,
    /// What the town did, for the timeline: (ms, agent, what); the harness drains it.
    pub log: Vec<(u64, String, String)>,
}

pub type SharedTown = Arc<Mutex<Town>>;

pub fn lock_town(town: &SharedTown) -> std::sync::MutexGuard<'_, Town> {
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
        let fenced = self.policy == TownPolicy::Fenced;
        if let Some(agent) = self.agents.get_mut(&beat.agent)
            && agent.belief == Belief::Done
        {
            if fenced && !agent.stop_due {
                agent.stop_due = true;
                let what = format!(
                    "heartbeat from {} of a done agent: stop again",
                    beat.container
                );
                self.log.push((now_ms, beat.agent.clone(), what));
            }
            return;
        }
        if let Some(agent) = self.agents.get_mut(&beat.agent) {
            agent.last_activity_ms = now_ms;
            agent.last_heartbeat_ms = Some(now_ms);
            if agent.belief == Belief::Idle {
                agent.belief = Belief::Working;
                let what = format!("heartbeat from {}: working again", beat.container);
                self.log.push((now_ms, beat.agent.clone(), what));
            }
        }
    }
}

fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |e| e.as_millis() as u64)
}

/// What a tick does once its state changes are made (Phase 2's side effects).
enum Effect {
    Dispatch(String, StartBody),
    Stop(String),
}

type Answer<T> = Result<Result<T, ClientError>, tokio::time::error::Elapsed>;

enum Settled {
    Dispatch(String, StartBody, u64, Answer<control_server::StartReply>),
    Stop(String, Answer<control_server::AgentState>),
}

/// The alarm loop: runs on the town host until the harness ends the run. `dialer` opens its
/// connections to the container.
pub async fn run_town(town: SharedTown, policy: TownPolicy, timing: TownTiming, dialer: Dialer) {
    let client = {
        let dialer = dialer.clone();
        Arc::new(ControlClient::new(move || dialer.clone().container()))
    };
    let timeout = Duration::from_millis(timing.dispatch_timeout_ms);
    loop {
        poll_statuses(&town, &dialer, &timing).await;
        let due = tick(&town, policy, &timing);
        // Phase 2: the tick's side effects, all awaited before the alarm is re-armed.
        let mut sent = Vec::new();
        for effect in due {
            let client = client.clone();
            let sent_ms = now_ms();
            sent.push(tokio::spawn(async move {
                match effect {
                    Effect::Dispatch(agent, body) => {
                        let answer = tokio::time::timeout(timeout, client.start(&body)).await;
                        Settled::Dispatch(agent, body, sent_ms, answer)
                    }
                    Effect::Stop(agent) => {
                        let answer = tokio::time::timeout(timeout, client.stop(&agent)).await;
                        Settled::Stop(agent, answer)
                    }
                }
            }));
        }
        for handle in sent {
            match handle.await {
                Ok(Settled::Dispatch(agent, body, sent_ms, answer)) => {
                    settle_dispatch(&town, policy, &agent, &body, sent_ms, answer)
                }
                Ok(Settled::Stop(agent, answer)) => settle_stop(&town, &agent, answer),
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(timing.tick_ms)).await;
    }
}

/// The pre-phase and phase 0: the status of every working agent, asked in parallel, each
/// bounded; `exited` idles the agent, `not_found` idles it once the grace since its last
/// activity has passed, and anything else (running, failed, stopping, a timeout or an error,
/// read as `unknown`) changes nothing (§2 DO side, `applyEvent`).
async fn poll_statuses(town: &SharedTown, dialer: &Dialer, timing: &TownTiming) {
    let client = {
        let dialer = dialer.clone();
        Arc::new(ControlClient::new(move || dialer.clone().container()))
    };
    let working: Vec<String> = lock_town(town)
        .agents
        .values()
        .filter(|a| a.belief == Belief::Working)
        .map(|a| a.name.clone())
        .collect();
    let timeout = Duration::from_millis(timing.status_timeout_ms);
    let mut asked = Vec::new();
    for agent in working {
        let client = client.clone();
        asked.push(tokio::spawn(async move {
            let answer = tokio::time::timeout(timeout, client.status(&agent)).await;
            (agent, answer)
        }));
    }
    for handle in asked {
        let Ok((agent, answer)) = handle.await else {
            continue;
        };
        let now = now_ms();
        let mut t = lock_town(town);
        let t = &mut *t;
        let Some(a) = t.agents.get_mut(&agent) else {
            continue;
        };
        if a.belief != Belief::Working {
            continue;
        }
        let why = match answer {
            Ok(Ok(Some(state))) if state.status == "exited" => "container status exited",
            Ok(Ok(None)) if now - a.last_activity_ms > timing.not_found_grace_ms => {
                "container status not_found past the grace"
            }
            _ => continue,
        };
        a.belief = Belief::Idle;
        t.log.push((now, agent, format!("{why}: idle, bead open")));
    }
}

/// Phases 0 and 1: the scenario's closed beads, the liveness rule, then the dispatches due.
/// Marks each dispatched agent working before its request is sent, as `applyAction` does.
fn tick(town: &SharedTown, policy: TownPolicy, timing: &TownTiming) -> Vec<Effect> {
    let now = now_ms();
    let mut t = lock_town(town);
    let t = &mut *t;
    let mut due = Vec::new();
    let mut next = t.next_dispatch;
    for agent in t.agents.values_mut() {
        if agent.belief != Belief::Done && agent.stop_at_ms.is_some_and(|at| at <= now) {
            agent.belief = Belief::Done;
            agent.stop_due = true;
            t.log
                .push((now, agent.name.clone(), "bead closed: done".into()));
        }
        if agent.belief == Belief::Done {
            if agent.stop_due {
                agent.stop_due = false;
                t.log.push((now, agent.name.clone(), "stop sent".into()));
                due.push(Effect::Stop(agent.name.clone()));
            }
            continue;
        }
        if agent.belief == Belief::Working && now - agent.last_activity_ms > timing.liveness_ms {
            agent.belief = Belief::Idle;
            let what = format!("no activity for {} ms: idle, bead open", timing.liveness_ms);
            t.log.push((now, agent.name.clone(), what));
        }
        let cooled = agent
            .last_dispatch_ms
            .is_none_or(|at| now - at >= timing.cooldown_ms);
        if agent.belief != Belief::Idle || !cooled {
            continue;
        }
        let dispatch = match (&agent.dispatch, policy) {
            (Some(same), TownPolicy::Fenced) => same.clone(),
            _ => {
                next += 1;
                format!("d{next}")
            }
        };
        agent.belief = Belief::Working;
        agent.last_activity_ms = now;
        agent.last_dispatch_ms = Some(now);
        agent.dispatch = Some(dispatch.clone());
        agent.dispatches += 1;
        t.log
            .push((now, agent.name.clone(), format!("dispatch {dispatch} sent")));
        due.push(Effect::Dispatch(
            agent.name.clone(),
            StartBody {
                agent: agent.name.clone(),
                workdir: agent.workdir.clone(),
                prompt: format!("work for {}", agent.name),
                dispatch: Some(dispatch),
            },
        ));
    }
    t.next_dispatch = next;
    due
}

fn settle_dispatch(
    town: &SharedTown,
    policy: TownPolicy,
    agent: &str,
    body: &StartBody,
    sent_ms: u64,
    answer: Answer<control_server::StartReply>,
) {
    let outcome = match &answer {
        Ok(Ok(reply)) => reply.outcome.clone(),
        Ok(Err(e)) => format!("failed: {e}"),
        Err(_) => "timed out".to_string(),
    };
    let failed = !matches!(answer, Ok(Ok(_)));
    let mut t = lock_town(town);
    let written_off = failed && policy == TownPolicy::Rollback;
    if written_off
        && let Some(a) = t.agents.get_mut(agent)
        && a.belief == Belief::Working
    {
        a.belief = Belief::Idle;
    }
    let dispatch = body.dispatch.clone().unwrap_or_default();
    let note = if written_off {
        format!("dispatch {dispatch}: {outcome}; rolled back to idle")
    } else {
        format!("dispatch {dispatch}: {outcome}")
    };
    t.log.push((now_ms(), agent.to_string(), note));
    t.dispatches.push(DispatchRecord {
        agent: agent.to_string(),
        dispatch,
        sent_ms,
        outcome,
        written_off,
    });
}

/// A stop the container answered with the agent's state was acknowledged. A stop that failed
/// or timed out is sent again at the next tick by every policy (GUPP re-emits its stop every
/// tick, §2 Phase 2); one answered 404 (no record) is not.
fn settle_stop(town: &SharedTown, agent: &str, answer: Answer<control_server::AgentState>) {
    let now = now_ms();
    let (note, acked, again) = match &answer {
        Ok(Ok(state)) => (
            format!("stop acknowledged (record {})", state.status),
            true,
            false,
        ),
        Ok(Err(ClientError::Refused { status: 404, .. })) => {
            ("stop answered: no such agent".to_string(), false, false)
        }
        Ok(Err(e)) => (format!("stop failed: {e}"), false, true),
        Err(_) => ("stop timed out".to_string(), false, true),
    };
    let mut t = lock_town(town);
    if let Some(a) = t.agents.get_mut(agent) {
        if acked && a.stop_acked_ms.is_none() {
            a.stop_acked_ms = Some(now);
        }
        if again {
            a.stop_due = true;
        }
    }
    t.log.push((now, agent.to_string(), note));
}
