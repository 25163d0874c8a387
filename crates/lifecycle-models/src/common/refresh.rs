//! `refreshTokenForAllAgents()` (LATEST only, `process-manager.ts` @ `9840aa59`;
//! `POST /refresh-token` in `control-server.ts` @ `aba5fcf3`): every `running` agent's server
//! is restarted so the new `kilo serve` inherits the new token, the agent keeping its session.
//!
//! | step | real code (LATEST) | here |
//! | --- | --- | --- |
//! | route | ⏸ the body, ⏸ the hydration gate, set the token; no draining check | `StartLockManager::refresh` |
//! | r0 | `snapshot = agents` whose status is `running` (`starting` skipped explicitly), then `Promise.all(snapshot.map(restartAgent))`: each restart runs to its first await in map order, then all interleave | [`join_all`] |
//! | r1 | `oldInstance = sdkInstances.get(workdir)`, `oldSessionId`; `sdkInstances.delete(workdir)` (nothing closed yet) | |
//! | r2 | `pendingEnsure = ensureSDKServer(workdir, env)`, raced against `REFRESH_AGENT_TIMEOUT_MS` (6 s) by `withTimeout`, which cannot cancel it | `tokio::time::timeout` on the kept future |
//! | r3 | ⏸`withTimeout(client.session.list(), 2 s)`: prefer `oldSessionId` if listed, else the most recently updated, else (empty, or the list threw or timed out: caught) keep `oldSessionId`; never creates | |
//! | r4 | `agent.sessionId = new` (the snapshot's record); `sdkInstances.get(workdir)` now: `sessionCount++` if any | [`Table::count_mapped`] |
//! | r5 | if `oldInstance`: `eventAbortControllers.get(id)?.abort()` (not deleted), `oldInstance.server.close()` whatever its count; no decrement | [`Core::kill`] |
//! | r6 | `void subscribeToEvents(client, agent)`; success | [`Core::subscribe_to_events`] |
//! | catch C | `current = sdkInstances.get(workdir)`; if `current` and `current !== oldInstance`: delete it, `current.server.close()` (whoever's it is), and if `oldInstance`: map it back, restore `sessionId` | |
//! | catch A/B | else if `oldInstance` and nothing mapped: map `oldInstance` back, restore `sessionId` | |
//! | reaper | if `pendingEnsure` is still pending: when it resolves, `orphan = sdkInstances.get(workdir)`; unless absent or `oldInstance`: delete it, map `oldInstance` back (if any), `orphan.server.close()`; when it rejects, nothing | a task that finishes the kept future |
//!
//! The result is a per-agent summary; the route answers 200 with it whatever failed.
//!
//! Assumptions:
//! - F1 The 6 s and 2 s timeouts scale with the 30 s `createKilo` timeout that the config's
//!   call timeout stands for (A2): a fifth and a fifteenth of it.
//! - F2 `session.list` lists the sessions the new server knows; "most recently updated" is the
//!   newest session id (the fake's ids grow with creation). The real list reads the agent's
//!   `kilo.db` and includes the old session; either way an agent not listed keeps its id.
//! - F3 `refresh` answers `Ok` whatever the per-agent results (the route's 200).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use agent_lifecycle::{
    AgentId, BackendError, RequestContext, ServerId, SessionId, Status, bounded, point,
};

use super::{Core, InstanceRef, RecordRef, get, lock, set};
use crate::sdk::KiloSdk;

type Pending = Pin<Box<dyn Future<Output = Result<ServerId, BackendError>> + Send>>;

/// `Promise.all` over futures started together: the first poll runs each, in order, to its
/// first await (as calling an async function does), and each is polled again when woken.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

impl<B: KiloSdk> Core<B> {
    /// `refreshTokenForAllAgents()`: r0, then each running agent's `restartAgent` in parallel.
    pub async fn refresh_token_for_all_agents(
        self: &Arc<Self>,
    ) -> Vec<(AgentId, Result<(), BackendError>)> {
        let snapshot: Vec<(AgentId, RecordRef)> = {
            let table = self.table();
            table
                .agents
                .iter()
                .filter(|(_, record)| {
                    let status = lock(record).status;
                    if status == Status::Starting {
                        point!("refreshTokenForAllAgents.skipped_starting");
                    }
                    status == Status::Running
                })
                .cloned()
                .collect()
        };
        if snapshot.is_empty() {
            point!("refreshTokenForAllAgents.none_running");
        }
        let restarts = snapshot
            .into_iter()
            .map(|(agent, record)| async move {
                let result = self.restart_agent(&agent, &record).await;
                (agent, result)
            })
            .collect();
        join_all(restarts).await
    }

    /// `restartAgent(agent)`: r1-r6 and the catch.
    async fn restart_agent(
        self: &Arc<Self>,
        agent: &AgentId,
        record: &RecordRef,
    ) -> Result<(), BackendError> {
        let workdir = lock(record).workdir.clone();
        let (old, old_session) = {
            let mut table = self.table();
            let old = table.instance(&workdir);
            table.remove_instance(&workdir);
            (old, lock(record).session)
        };
        if old.is_none() {
            point!("refreshTokenForAllAgents.no_old_instance");
        }
        let mut pending: Pending = {
            let core = self.clone();
            let workdir = workdir.clone();
            Box::pin(async move { core.ensure_sdk_server(&workdir).await })
        };
        let ensure_timeout = self.config.call_timeout / 5;
        let server = match tokio::time::timeout(ensure_timeout, &mut pending).await {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => {
                point!("refreshTokenForAllAgents.ensure_failed");
                self.roll_back_refresh(record, &workdir, old, old_session);
                return Err(e);
            }
            Err(_) => {
                point!("refreshTokenForAllAgents.ensure_timed_out");
                self.roll_back_refresh(record, &workdir, old.clone(), old_session);
                self.reap_when_ensured(pending, workdir, old);
                return Err(BackendError::Timeout);
            }
        };
        let listed = bounded(
            self.config.call_timeout / 15,
            self.backend.list_sessions(server),
        )
        .await;
        let session = resumed_session(listed, old_session);
        lock(record).session = session;
        let old_server = {
            let mut table = self.table();
            if !table.count_mapped(&workdir) {
                point!("refreshTokenForAllAgents.not_counted");
            }
            old.map(|old| {
                if let Some((_, controller)) = get(&table.controllers, agent) {
                    controller.cancel();
                }
                lock(&old).server
            })
        };
        if let Some(old_server) = old_server {
            point!("refreshTokenForAllAgents.closed_old_server");
            self.kill(Some(old_server));
        }
        let status = lock(record).status;
        if status != Status::Running {
            point!("refreshTokenForAllAgents.record_left_running_meanwhile");
        }
        self.subscribe_to_events(agent, server, record);
        Ok(())
    }

    /// The catch: cases C, then A/B.
    fn roll_back_refresh(
        &self,
        record: &RecordRef,
        workdir: &agent_lifecycle::Workdir,
        old: Option<InstanceRef>,
        old_session: Option<SessionId>,
    ) {
        let close = {
            let mut table = self.table();
            let current = table.instance(workdir);
            match (current, old) {
                (Some(current), old) if !old.as_ref().is_some_and(|o| Arc::ptr_eq(o, &current)) => {
                    point!("refreshTokenForAllAgents.rollback_closed_mapped_instance");
                    table.remove_instance(workdir);
                    if let Some(old) = old {
                        set(&mut table.instances, workdir.clone(), old);
                        lock(record).session = old_session;
                    }
                    Some(lock(&current).server)
                }
                (None, Some(old)) => {
                    point!("refreshTokenForAllAgents.rollback_restored_old_instance");
                    set(&mut table.instances, workdir.clone(), old);
                    lock(record).session = old_session;
                    None
                }
                _ => None,
            }
        };
        self.kill(close);
    }

    /// The reaper: the timed-out `ensureSDKServer` runs on; when it resolves, whatever is
    /// mapped for the workdir then (unless it is the old instance) is deleted and closed, and
    /// the old instance mapped back.
    fn reap_when_ensured(
        self: &Arc<Self>,
        pending: Pending,
        workdir: agent_lifecycle::Workdir,
        old: Option<InstanceRef>,
    ) {
        let core = self.clone();
        let reaper = async move {
            if pending.await.is_err() {
                point!("refreshTokenForAllAgents.reaper_ensure_rejected");
                return;
            }
            let orphan = {
                let mut table = core.table();
                let orphan = table.instance(&workdir);
                match orphan {
                    Some(orphan) if !old.as_ref().is_some_and(|o| Arc::ptr_eq(o, &orphan)) => {
                        table.remove_instance(&workdir);
                        if let Some(old) = old {
                            set(&mut table.instances, workdir.clone(), old);
                        }
                        if lock(&orphan).count > 0 {
                            point!("refreshTokenForAllAgents.reaper_closed_counted_instance");
                        }
                        Some(lock(&orphan).server)
                    }
                    _ => None,
                }
            };
            if orphan.is_some() {
                point!("refreshTokenForAllAgents.reaper_closed_orphan");
            } else {
                point!("refreshTokenForAllAgents.reaper_found_nothing");
            }
            core.kill(orphan);
        };
        match RequestContext::current() {
            Some(context) => tokio::spawn(context.scope(reaper)),
            None => tokio::spawn(reaper),
        };
    }
}

/// r3: the session `session.list` resumes, or the old id.
fn resumed_session(
    listed: Result<Vec<(SessionId, AgentId)>, BackendError>,
    old: Option<SessionId>,
) -> Option<SessionId> {
    match listed {
        Err(_) => {
            point!("refreshTokenForAllAgents.list_failed_kept_session");
            old
        }
        Ok(list) if list.iter().any(|(s, _)| Some(*s) == old) => {
            point!("refreshTokenForAllAgents.resumed_same_session");
            old
        }
        Ok(list) => match list.iter().map(|(s, _)| *s).max() {
            Some(newest) => {
                point!("refreshTokenForAllAgents.resumed_newest_listed");
                Some(newest)
            }
            None => {
                point!("refreshTokenForAllAgents.list_empty_kept_session");
                old
            }
        },
    }
}
