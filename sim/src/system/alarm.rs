//! The town's alarm (`Town.do.ts _alarm`, `docs/real-system.md`, the town's alarm): the
//! status pre-phase, the tick's rules, and the side effects (dispatches and stops) it awaits
//! before it re-arms. What the town believes is in [`super::town`].

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use control_server::{ClientError, ControlClient, StartBody};
use turmoil::net::TcpStream;

use super::dialer::Dialer;
use super::town::{Belief, DispatchRecord, SharedTown, TownPolicy, TownTiming, lock_town};

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
        poll_statuses(&town, &client, &timing).await;
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
async fn poll_statuses<C, F>(town: &SharedTown, client: &Arc<ControlClient<C>>, timing: &TownTiming)
where
    C: Fn() -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<TcpStream>> + Send,
{
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
