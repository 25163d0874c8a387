//! Restarting Running agents onto fresh servers: `refresh` (every one, the real system's
//! `POST /refresh-token`) and `update` (one, with a new configuration: `PATCH
//! /agents/:id/model`). Each restart is a new incarnation, brought up under the agent's turn
//! through the same teardown and startup as a start (the design is in the module doc of
//! `manager`).

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Inner, Wanted, first_error, join_all};
use crate::backend::{AgentId, SessionBackend, Workdir};
use crate::lifecycle::{LifecycleError, Status};
use crate::point;

/// Why an agent was not restarted when its turn came up.
enum Skip {
    /// Its record is not Running (it ended, or is being torn down).
    NotRunning,
    /// A newer start, a stop or an eviction cancelled its incarnation: that command wins.
    Superseded,
}

/// A refresh, run in a task of its own ([`detached`]).
///
/// [`detached`]: crate::detached
pub(super) async fn refresh<B: SessionBackend>(inner: Arc<Inner<B>>) -> Result<(), LifecycleError> {
    let workdirs: BTreeMap<Workdir, Vec<AgentId>> = {
        let state = inner.state();
        if state.evicting {
            point!("refresh.refused_while_evicting");
            return Err(LifecycleError::Evicting);
        }
        let mut workdirs: BTreeMap<Workdir, Vec<AgentId>> = BTreeMap::new();
        for (id, agent) in &state.agents {
            match agent
                .record
                .as_ref()
                .map(|r| (r.status, &r.request.workdir))
            {
                Some((Status::Running, workdir)) => {
                    workdirs
                        .entry(workdir.clone())
                        .or_default()
                        .push(id.clone());
                }
                // Its start holds the turn until it is Running, and may run long (the first
                // prompt is a whole turn): waiting for it would hold the refresh as long.
                Some((Status::Starting, _)) => point!("refresh.skipped_starting"),
                _ => {}
            }
        }
        workdirs
    };
    let results = join_all(
        workdirs
            .into_values()
            .map(|agents| refresh_workdir(inner.clone(), agents)),
    )
    .await;
    first_error(results.into_iter().flatten().collect())
}

/// Restarts the Running agents of one workdir together, so that a fresh server replaces the
/// one they leave (the backend has one server per workdir).
async fn refresh_workdir<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    agents: Vec<AgentId>,
) -> Vec<Result<(), LifecycleError>> {
    // In agent order (`agents` is), as every taker of several turns: no two wait on each other.
    let mut turns = Vec::with_capacity(agents.len());
    for agent in &agents {
        let turn = inner.with_agent(agent, |a| a.turn.clone());
        turns.push(turn.lock_owned().await);
    }
    let restarts: Vec<Wanted> = agents
        .iter()
        .filter_map(|agent| match inner.begin_restart(agent, None) {
            Ok(wanted) => Some(wanted),
            Err(Skip::NotRunning) => {
                point!("refresh.skipped_not_running");
                None
            }
            Err(Skip::Superseded) => {
                point!("refresh.skipped_superseded");
                None
            }
        })
        .collect();
    if restarts.len() > 1 {
        point!("refresh.workdir_together");
    }
    // Every old incarnation ends before a new one asks for a server: the retired server's
    // last release closes it, so `ensure_server` starts a fresh one.
    let ended = join_all(restarts.iter().map(|wanted| {
        let inner = inner.clone();
        let agent = wanted.request.agent.clone();
        async move { inner.teardown_or_retry(&agent, None, Status::Exited).await }
    }))
    .await;
    let results = join_all(restarts.into_iter().zip(ended).map(|(wanted, ended)| {
        let inner = inner.clone();
        async move { inner.finish_restart(wanted, ended).await }
    }))
    .await;
    drop(turns);
    results
}

/// An update, run in a task of its own ([`detached`]).
///
/// [`detached`]: crate::detached
pub(super) async fn update<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    agent: AgentId,
    config: String,
) -> Result<(), LifecycleError> {
    let turn = {
        let state = inner.state();
        if state.evicting {
            point!("update.refused_while_evicting");
            return Err(LifecycleError::Evicting);
        }
        let live = |status| matches!(status, Status::Starting | Status::Running);
        match state.agents.get(&agent) {
            Some(a) if a.record.as_ref().is_some_and(|r| live(r.status)) => a.turn.clone(),
            _ => {
                point!("update.not_running");
                return Err(LifecycleError::NotRunning);
            }
        }
    };
    // Not cancellable, unlike a start's wait: an update does not supersede the start it may
    // wait behind, it applies to what that start leaves Running.
    let _turn = turn.lock_owned().await;
    let wanted = match inner.begin_restart(&agent, Some(config)) {
        Ok(wanted) => wanted,
        Err(Skip::NotRunning) => {
            point!("update.not_running_at_turn");
            return Err(LifecycleError::NotRunning);
        }
        Err(Skip::Superseded) => {
            point!("update.superseded");
            return Err(LifecycleError::Cancelled);
        }
    };
    let ended = inner.teardown_or_retry(&agent, None, Status::Exited).await;
    inner.finish_restart(wanted, ended).await
}

impl<B: SessionBackend> Inner<B> {
    /// Under the agent's turn: if its record is Running and not superseded, makes the
    /// restart's incarnation (with `config`, or the record's own) the newest, cancels the old
    /// one (its watcher and timer end), and retires its server. The caller then ends the old
    /// record and calls [`Self::finish_restart`].
    fn begin_restart(&self, agent: &AgentId, config: Option<String>) -> Result<Wanted, Skip> {
        let (wanted, server) = {
            let mut state = self.state();
            let state = &mut *state;
            let a = state
                .agents
                .get_mut(agent)
                .expect("agent entries are never removed");
            let record = match a.record.as_ref() {
                Some(r) if r.status == Status::Running => r,
                _ => return Err(Skip::NotRunning),
            };
            // A newer start cancels the token before it queues for the turn, a stop and an
            // eviction before they act: a cancelled token is a command still to come.
            if record.token.is_cancelled() {
                return Err(Skip::Superseded);
            }
            state.next_incarnation += 1;
            let wanted = Wanted {
                request: record.request.clone(),
                config: config.or_else(|| record.config.clone()),
                incarnation: state.next_incarnation,
                token: CancellationToken::new(),
            };
            record.token.cancel();
            let server = record
                .lease
                .as_ref()
                .map(|l| (l.workdir().clone(), l.server()));
            a.latest = wanted.token.clone();
            a.wanted = Some(wanted.clone());
            (wanted, server)
        };
        if let Some((workdir, server)) = server {
            self.servers.retire(&workdir, server);
        }
        Ok(wanted)
    }

    /// Brings a restart's incarnation up once the old record's teardown (`ended`) is done.
    async fn finish_restart(
        self: &Arc<Self>,
        wanted: Wanted,
        ended: Result<(), LifecycleError>,
    ) -> Result<(), LifecycleError> {
        if let Err(e) = ended {
            // The old record stays tracked and its teardown is retried in the background.
            point!("restart.teardown_failed");
            self.drop_wanted(&wanted);
            return Err(e);
        }
        if wanted.token.is_cancelled() {
            point!("restart.cancelled_after_teardown");
            self.drop_wanted(&wanted);
            return Err(LifecycleError::Cancelled);
        }
        self.bring_up(wanted, false).await
    }
}
