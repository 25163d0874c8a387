//! Teardown: releasing everything an incarnation holds, exactly once, and the background
//! retries and reconciles that keep what failed tracked until it is gone.

use std::sync::Arc;

use super::{Inner, RECONCILE_TRIES};
use crate::backend::{AgentId, BackendError, ServerId, SessionBackend, SessionId, Workdir};
use crate::lifecycle::{LifecycleError, Status};
use crate::point;

impl<B: SessionBackend> Inner<B> {
    /// Ends the agent's record if it is still live (and, with `only`, still that incarnation):
    /// aborts its session, reconciles a failed create, releases its lease, marks it `end`.
    /// Whatever fails stays in the record, so the next stop tries again.
    pub(super) async fn teardown(
        self: &Arc<Self>,
        agent: &AgentId,
        only: Option<u64>,
        end: Status,
    ) -> Result<(), LifecycleError> {
        let (session, suspect_on, prompt_settles) = {
            let mut state = self.state();
            let Some(record) = state.agents.get_mut(agent).and_then(|a| a.record.as_mut()) else {
                return Ok(());
            };
            if record.status.is_terminal() {
                return Ok(());
            }
            if only.is_some_and(|i| i != record.incarnation) {
                point!("teardown.stale_exit_ignored");
                return Ok(());
            }
            record.status = Status::Stopping;
            (record.session, record.suspect_on, record.prompt_settles)
        };
        if let Some(session) = session {
            self.abort_tracked(session).await?;
            if let Some(settles) = prompt_settles {
                // A failed prompt that lands after the abort runs the session again: abort it
                // once more when the prompt can no longer land.
                point!("teardown.reabort_after_prompt_settles");
                tokio::time::sleep_until(settles).await;
                self.abort_tracked(session).await?;
                self.with_record(agent, |r| r.prompt_settles = None);
            }
            self.with_record(agent, |r| r.session = None);
        }
        if let Some((server, settles)) = suspect_on {
            // Only once the failed create can no longer land does a listing prove what it did.
            point!("teardown.reconcile_after_settle");
            tokio::time::sleep_until(settles).await;
            self.reap_orphans(agent, server).await?;
            self.with_record(agent, |r| r.suspect_on = None);
        }
        let lease = self.with_record(agent, |r| r.lease.take());
        if let Some(lease) = lease {
            let workdir = lease.workdir().clone();
            if let Err(e) = self.servers.release(&self.backend, &self.ask, lease).await {
                // `Servers` remembers the server; it is closed in the background (and at
                // eviction), so an unused server never outlives the manager's retries.
                point!("teardown.close_failed_retry_in_background");
                tracing::warn!(%agent, error = %e, "closing an unused server failed");
                tokio::spawn(retry_close(self.clone(), workdir));
            }
        }
        self.with_record(agent, |r| r.status = end);
        Ok(())
    }

    /// Aborts a record's session; one already gone is as good as aborted. If the abort fails,
    /// the session stays tracked (the caller returns before forgetting it) for a retry.
    async fn abort_tracked(&self, session: SessionId) -> Result<(), LifecycleError> {
        match self.call(self.backend.abort_session(session)).await {
            Ok(()) => Ok(()),
            Err(BackendError::Gone(_)) => {
                point!("teardown.abort_gone");
                Ok(())
            }
            Err(e) => {
                point!("teardown.abort_failed_kept_tracked");
                Err(e.into())
            }
        }
    }

    /// Aborts every session of `agent` on `server`. Only called under the agent's turn with no
    /// session of the agent tracked, so every such session is an orphan of a failed create.
    async fn reap_orphans(&self, agent: &AgentId, server: ServerId) -> Result<(), LifecycleError> {
        let mut last = None;
        for attempt in 0..RECONCILE_TRIES {
            if attempt > 0 {
                tokio::time::sleep(self.config.retry_pause).await;
            }
            let listed = match self.call(self.backend.list_sessions(server)).await {
                Ok(listed) => listed,
                // The server is gone, and every session on it with it.
                Err(BackendError::Gone(_)) => {
                    point!("teardown.list_gone");
                    return Ok(());
                }
                Err(e) => {
                    point!("teardown.list_failed");
                    last = Some(e);
                    continue;
                }
            };
            for (session, owner) in listed {
                if &owner == agent {
                    point!("teardown.orphan_reaped");
                    match self.call(self.backend.abort_session(session)).await {
                        Ok(()) | Err(BackendError::Gone(_)) => {}
                        Err(e) => {
                            // Found, so known: the doubt is over, and the record tracks the
                            // orphan as its session until an abort of it succeeds (the next
                            // teardown's). A record makes one create, so it has one orphan.
                            point!("teardown.orphan_adopted");
                            self.with_record(agent, |r| {
                                r.session = Some(session);
                                r.suspect_on = None;
                            });
                            return Err(e.into());
                        }
                    }
                }
            }
            return Ok(());
        }
        Err(last.expect("every try's listing failed").into())
    }

    /// A teardown; if it fails, it is retried in the background until it succeeds or a newer
    /// incarnation takes over, so that what the manager tracks never stays stale.
    pub(super) async fn teardown_or_retry(
        self: &Arc<Self>,
        agent: &AgentId,
        only: Option<u64>,
        end: Status,
    ) -> Result<(), LifecycleError> {
        let failed = self.teardown(agent, only, end).await.err();
        let Some(e) = failed else { return Ok(()) };
        point!("teardown.retry_scheduled");
        tracing::warn!(%agent, error = %e, "teardown failed; the session stays tracked and is retried");
        let incarnation = self.with_agent(agent, |a| a.record.as_ref().map(|r| r.incarnation));
        if let Some(incarnation) = incarnation {
            tokio::spawn(retry_teardown(
                self.clone(),
                agent.clone(),
                incarnation,
                end,
            ));
        }
        Err(e)
    }
}

/// Retries one incarnation's teardown, each time under the agent's turn, until it is done.
async fn retry_teardown<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    agent: AgentId,
    incarnation: u64,
    end: Status,
) {
    loop {
        tokio::time::sleep(inner.config.retry_pause).await;
        let turn = inner.with_agent(&agent, |a| a.turn.clone());
        let _turn = turn.lock_owned().await;
        let pending = inner.with_agent(&agent, |a| {
            a.record
                .as_ref()
                .is_some_and(|r| r.incarnation == incarnation && !r.status.is_terminal())
        });
        if !pending {
            point!("teardown.retry_superseded");
            return;
        }
        if inner.teardown(&agent, Some(incarnation), end).await.is_ok() {
            point!("teardown.retry_succeeded");
            return;
        }
    }
}

/// Closes the unleased servers of `workdir` whose close failed, until that succeeds.
async fn retry_close<B: SessionBackend>(inner: Arc<Inner<B>>, workdir: Workdir) {
    loop {
        tokio::time::sleep(inner.config.retry_pause).await;
        if inner
            .servers
            .close_unclosed(&inner.backend, &inner.ask, &workdir)
            .await
            .is_ok()
        {
            point!("teardown.close_retry_succeeded");
            return;
        }
    }
}

/// After an `ensure_server` failed ambiguously: once it can no longer land, closes any
/// server nobody holds (the one it may have started among them), until that succeeds.
pub(super) async fn reap_servers<B: SessionBackend>(
    inner: Arc<Inner<B>>,
    settles: tokio::time::Instant,
) {
    tokio::time::sleep_until(settles).await;
    while inner
        .servers
        .reap_unowned(&inner.backend, &inner.ask)
        .await
        .is_err()
    {
        point!("teardown.server_reap_retried");
        tokio::time::sleep(inner.config.retry_pause).await;
    }
}
