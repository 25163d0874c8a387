//! Stopping one agent and evicting them all: each ends the incarnation in flight, then tears
//! it down under the agent's turn.

use std::sync::Arc;
use std::task::Poll;

use super::{Agent, Inner, RECONCILE_TRIES};
use crate::backend::{AgentId, SessionBackend};
use crate::lifecycle::{LifecycleError, Status};
use crate::point;

/// A stop, run in a task of its own ([`detached`]).
///
/// [`detached`]: crate::detached
pub(super) async fn stop<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    agent: AgentId,
) -> Result<(), LifecycleError> {
    let inner = &inner;
    let agent = &agent;
    let turn = {
        let mut state = inner.state();
        let Some(known) = state.agents.get(agent) else {
            point!("stop.unknown_agent");
            // Remembered, so that boot hydration does not start it after all: the newer
            // command wins.
            state.agents.insert(agent.clone(), Agent::new());
            return Ok(());
        };
        if known.record.as_ref().map(|r| r.status) == Some(Status::Starting) {
            point!("stop.during_start");
        }
        known.latest.cancel();
        known.turn.clone()
    };
    // The stop takes its place in the agent's queue before it cuts an initial turn short, so
    // that a start issued after it cannot take the turn first while the cut goes on. A turn
    // taken at once has no initial prompt out: the startup holds the turn through it.
    let mut acquire = std::pin::pin!(turn.lock_owned());
    let queued = std::future::poll_fn(|cx| Poll::Ready(acquire.as_mut().poll(cx))).await;
    let _turn = match queued {
        Poll::Ready(turn) => turn,
        Poll::Pending => {
            inner.cut_initial_turn(agent).await;
            acquire.await
        }
    };
    inner.teardown_or_retry(agent, None, Status::Exited).await
}

/// An eviction, run in a task of its own ([`detached`]).
///
/// [`detached`]: crate::detached
pub(super) async fn evict<B: SessionBackend>(inner: Arc<Inner<B>>) -> Result<(), LifecycleError> {
    let inner = &inner;
    let agents: Vec<AgentId> = {
        let mut state = inner.state();
        state.evicting = true;
        for agent in state.agents.values() {
            if agent.record.as_ref().map(|r| r.status) == Some(Status::Starting) {
                point!("evict.during_start");
            }
            agent.latest.cancel();
        }
        state.agents.keys().cloned().collect()
    };
    for agent in &agents {
        inner.cut_initial_turn(agent).await;
    }
    // The container dies after this, and background retries with it: what fails is
    // retried here, a few times, before eviction gives up and says so.
    let mut outcome = Ok(());
    for agent in agents {
        let turn = inner.with_agent(&agent, |a| a.turn.clone());
        let _turn = turn.lock_owned().await;
        let mut torn = inner.teardown(&agent, None, Status::Exited).await;
        for _ in 1..RECONCILE_TRIES {
            if torn.is_ok() {
                break;
            }
            point!("evict.teardown_retried");
            tokio::time::sleep(inner.config.retry_pause).await;
            torn = inner.teardown(&agent, None, Status::Exited).await;
        }
        if let Err(e) = torn {
            outcome = Err(e);
        }
    }
    // A call that failed may still land (a create, a server start): wait until none can,
    // then close every server still running, whoever started it.
    let mut closed = Ok(());
    for attempt in 0..RECONCILE_TRIES {
        if attempt > 0 {
            point!("evict.close_running_retried");
            tokio::time::sleep(inner.config.retry_pause).await;
        }
        inner.ask.settled().await;
        closed = inner
            .servers
            .close_running(&inner.backend, &inner.ask)
            .await;
        if closed.is_ok() {
            break;
        }
    }
    outcome.and(closed.map_err(LifecycleError::from))
}

impl<B: SessionBackend> Inner<B> {
    /// Aborts the session of a startup whose initial prompt is on its way (its token already
    /// cancelled): the prompt then returns at once (kilo answers an aborted turn's prompt), and
    /// the startup unwinds through its own teardown, which aborts again under the turn. An
    /// abort that overtakes the prompt leaves it to run as a fresh turn (kilo queues it after),
    /// so the abort is repeated, a retry pause apart, while the prompt is still out and could
    /// still land. Without it a stop or an eviction would wait out the whole turn.
    async fn cut_initial_turn(&self, agent: &AgentId) {
        let until = tokio::time::Instant::now() + self.config.request_lifetime;
        // The incarnation this stop found: a start that replaced it while the cut went on
        // prompts a session of its own, which this stop must leave alone.
        let mut found = None;
        loop {
            let target = self.with_agent(agent, |a| {
                a.record
                    .as_ref()
                    .filter(|r| r.prompting)
                    .and_then(|r| Some((r.incarnation, r.session?)))
            });
            let Some((incarnation, session)) = target else {
                return;
            };
            if *found.get_or_insert(incarnation) != incarnation {
                return;
            }
            point!("stop.cut_initial_turn");
            // A failure changes nothing: the teardown under the turn aborts again.
            let _ = self.call(self.backend.abort_session(session)).await;
            if tokio::time::Instant::now() >= until {
                return;
            }
            tokio::time::sleep(self.config.retry_pause).await;
        }
    }
}
