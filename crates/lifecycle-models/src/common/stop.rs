//! The teardown paths (§2): `stopAgent` for one agent, `drainAll` and `stopAll` for the
//! container, and the `session.abort` they send.

use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{AgentId, BackendError, ServerId, SessionId, Status, bounded, point};
use tokio_util::sync::CancellationToken;

use super::{Core, RecordRef, Version, get, lock, remove, threw};
use crate::sdk::KiloSdk;

impl<B: KiloSdk> Core<B> {
    /// `session.abort({path: {id}})` through `server`'s client, bounded (A1).
    pub async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        let result = bounded(self.timeout(), self.backend.abort_on(server, session)).await;
        if let Err(e) = &result {
            tracing::warn!(%server, session = ?session, error = %e, "session.abort failed");
        }
        result
    }

    /// `stopAgent(id)` (§2):
    /// 1. not Running or Starting: return (so a second stop during Stopping returns at once);
    /// 2. POST: abort and null the record's startup controller;
    /// 3. `stopping`; `clearIdleTimer(id)`; `eventAbortControllers.get(id)?.abort()` (kept);
    /// 4. capture `sdkInstances.get(workdir)`; if any: ⏸`session.abort(sessionId)` (`''` when
    ///    the create has not returned); if it *returned* (an HTTP error included), decrement the
    ///    captured instance and at ≤ 0 close its server and delete the workdir's entry; if it
    ///    *threw*, no decrement (**[2nd]**);
    /// 5. `exited`; POST and LATEST: `syncRegistry()`.
    pub async fn stop_agent(&self, agent: &AgentId) {
        let (record, inst) = {
            let mut table = self.table();
            let Some(record) = table.record(agent) else {
                point!("stopAgent.not_found");
                return; // A7
            };
            {
                let mut r = lock(&record);
                if !matches!(r.status, Status::Running | Status::Starting) {
                    point!("stopAgent.not_active");
                    return;
                }
                if r.status == Status::Starting {
                    point!("stopAgent.stopped_starting");
                }
                if self.version >= Version::Post
                    && let Some(token) = r.startup_abort.take()
                {
                    point!("stopAgent.aborted_startup_controller");
                    token.cancel();
                }
                r.status = Status::Stopping;
            }
            table.clear_idle_timer(agent);
            if let Some((_, controller)) = get(&table.controllers, agent) {
                controller.cancel();
            }
            let workdir = lock(&record).workdir.clone();
            (record.clone(), table.instance(&workdir))
        };
        if let Some(inst) = inst {
            let (server, session, workdir) = {
                let r = lock(&record);
                (lock(&inst).server, r.session, r.workdir.clone())
            };
            if session.is_none() {
                point!("stopAgent.abort_without_session");
            }
            let aborted = self.abort_on(server, session).await;
            if threw(&aborted) {
                point!("stopAgent.abort_threw_no_decrement");
            } else {
                let close = self.table().release(&inst, &workdir);
                if close.is_some() {
                    point!("stopAgent.closed_server");
                }
                self.kill(close);
            }
        } else {
            point!("stopAgent.no_instance");
        }
        lock(&record).status = Status::Exited;
        self.sync_registry();
    }

    /// `drainAll` (POST and later; PR #1795):
    /// 1. `_draining = true`; ⏸ eviction notice to the town, only if some record exists;
    ///    then (phase 1b) every armed idle timer re-armed at the drain timeout (A6), checking
    ///    the record in the map at drain time but calling the stored `onExit` **[2nd]**;
    /// 2. wait (A6) until no record is Running or Starting;
    /// 3. freeze each straggler (Running or Starting): clear its timer, abort and delete its
    ///    controller, ⏸`session.abort(sessionId)` if its workdir has an instance; a throw
    ///    leaves the status as it is, otherwise `exited`; no decrement, no close; then
    ///    ⏸ force-save (git, checkpoint, snapshot, report) per frozen agent;
    /// 4. `syncRegistry()`. Does not abort startup controllers.
    pub async fn drain_all(self: &Arc<Self>) {
        let any = {
            let mut table = self.table();
            table.draining = true;
            !table.agents.is_empty()
        };
        if any {
            point!("drainAll.notified_town");
            self.backend.worker("eviction notice").await;
        }
        let rearm: Vec<(AgentId, RecordRef, (RecordRef, CancellationToken))> = {
            let table = self.table();
            table
                .agents
                .iter()
                .filter_map(|(agent, record)| {
                    let timer = get(&table.idle_timers, agent)?;
                    Some((agent.clone(), record.clone(), timer.on_exit.clone()))
                })
                .collect()
        };
        let short = self.config.idle_timeout / 12;
        for (agent, current, on_exit) in rearm {
            point!("drainAll.rearmed_idle_timer");
            self.arm_idle_timer(&agent, on_exit, Some(current), short);
        }
        let deadline = tokio::time::Instant::now() + self.config.idle_timeout * 5 / 2;
        while tokio::time::Instant::now() < deadline {
            if self.active().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut frozen = Vec::new();
        for (agent, record) in self.active() {
            point!("drainAll.froze_straggler");
            let inst = {
                let mut table = self.table();
                table.clear_idle_timer(&agent);
                if let Some((_, controller)) = remove(&mut table.controllers, &agent) {
                    controller.cancel();
                }
                let workdir = lock(&record).workdir.clone();
                table.instance(&workdir)
            };
            if let Some(inst) = inst {
                let server = lock(&inst).server;
                let session = lock(&record).session;
                if threw(&self.abort_on(server, session).await) {
                    point!("drainAll.freeze_abort_threw");
                    continue;
                }
            }
            lock(&record).status = Status::Exited;
            frozen.push(agent);
        }
        for _ in frozen {
            self.backend.worker("force-save").await;
        }
        // "Clear the container registry": whatever is still running or starting stays in it.
        self.sync_registry();
    }

    /// The records that are Running or Starting, in map order.
    fn active(&self) -> Vec<(AgentId, RecordRef)> {
        self.table()
            .agents
            .iter()
            .filter(|(_, r)| matches!(lock(r).status, Status::Running | Status::Starting))
            .cloned()
            .collect()
    }

    /// `stopAll`: clear every timer, abort every stream controller (and clear the map); for
    /// each Running or Starting record in map order, ⏸`session.abort` if its workdir has an
    /// instance (errors ignored), `exited`, and a db snapshot: POST fires it and moves on
    /// (`void saveDbSnapshot`), LATEST ⏸ awaits it (bounded 10 s) **[3rd]**; then close every
    /// mapped server and clear the map. No per-record decrement; in-flight startups are not
    /// cancelled (§6.3).
    pub async fn stop_all(&self) {
        {
            let mut table = self.table();
            for (_, timer) in std::mem::take(&mut table.idle_timers) {
                timer.cleared.cancel();
            }
            for (_, (_, controller)) in std::mem::take(&mut table.controllers) {
                controller.cancel();
            }
        }
        // A JS Map iterator sees entries added while it runs: walk by index.
        let mut at = 0;
        loop {
            let entry = self.table().agents.get(at).cloned();
            let Some((_, record)) = entry else { break };
            at += 1;
            let (active, workdir, session) = {
                let r = lock(&record);
                (
                    matches!(r.status, Status::Running | Status::Starting),
                    r.workdir.clone(),
                    r.session,
                )
            };
            if !active {
                continue;
            }
            point!("stopAll.stopped_active");
            let inst = self.table().instance(&workdir);
            if let Some(inst) = inst {
                let server = lock(&inst).server;
                let _ = self.abort_on(server, session).await;
            } else {
                point!("stopAll.no_instance");
            }
            lock(&record).status = Status::Exited;
            if self.version >= Version::Latest {
                self.backend.worker("db snapshot").await;
            }
        }
        let servers: Vec<ServerId> = std::mem::take(&mut self.table().instances)
            .into_iter()
            .map(|(_, inst)| lock(&inst).server)
            .collect();
        for server in servers {
            point!("stopAll.closed_server");
            self.kill(Some(server));
        }
    }
}
