//! Event subscription and idle timers (§2): `subscribeToEvents`, `handleIdleEvent` and
//! `exitAgent`, keyed by agent id and so shared by incarnations (§6.5).

use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{AgentId, ServerId, Status, bounded, point};
use tokio_util::sync::CancellationToken;

use super::{Core, IdleTimer, RecordRef, Table, Version, get, lock, remove, set};
use crate::sdk::{KiloSdk, ServerEvent};

impl Table {
    /// `clearIdleTimer(agentId)`: by agent id, whichever incarnation armed it.
    pub(super) fn clear_idle_timer(&mut self, agent: &AgentId) {
        if let Some(timer) = remove(&mut self.idle_timers, agent) {
            timer.cleared.cancel();
        }
    }
}

impl<B: KiloSdk> Core<B> {
    /// `void subscribeToEvents(client, agent)`: the controller is registered synchronously
    /// (the async function runs to its first await), the rest runs in the background.
    pub fn subscribe_to_events(
        self: &Arc<Self>,
        agent: &AgentId,
        server: ServerId,
        record: &RecordRef,
    ) {
        let controller = CancellationToken::new();
        let owner = lock(record).serial;
        let id = {
            let mut table = self.table();
            table.next_serial += 1;
            let id = table.next_serial;
            set(
                &mut table.controllers,
                agent.clone(),
                (id, controller.clone()),
            );
            table.controller_owner.push((id, owner));
            table
                .subscriptions
                .push((id, agent.clone(), owner, controller.clone()));
            id
        };
        let core = self.clone();
        let agent = agent.clone();
        let record = record.clone();
        tokio::spawn(async move {
            core.event_loop(&agent, server, &record, &controller).await;
            // finally: clearIdleTimer(id); delete the controller (LATEST: only if it is ours).
            let mut table = core.table();
            table.clear_idle_timer(&agent);
            let current = get(&table.controllers, &agent).map(|(current, _)| *current);
            match current {
                Some(c) if c != id && core.version >= Version::Latest => {
                    point!("subscribeToEvents.finally_kept_newer_controller");
                }
                Some(c) if c != id => point!("subscribeToEvents.finally_deleted_newer_controller"),
                _ => {}
            }
            let ours = current.is_some_and(|c| core.version < Version::Latest || c == id);
            if ours {
                remove(&mut table.controllers, &agent);
            }
            table.subscriptions.retain(|(sub, ..)| *sub != id);
        });
    }

    /// The body of `subscribeToEvents`: ⏸`event.subscribe()`, then each event until the stream
    /// ends, throws, or the controller is found aborted (lazily: only when an event arrives).
    async fn event_loop(
        self: &Arc<Self>,
        agent: &AgentId,
        server: ServerId,
        record: &RecordRef,
        controller: &CancellationToken,
    ) {
        let thrown = match bounded(self.timeout(), self.backend.subscribe_server(server)).await {
            Err(e) => {
                point!("subscribeToEvents.subscribe_threw");
                Some(e)
            }
            Ok(mut stream) => loop {
                let event = match stream.recv().await {
                    None => {
                        point!("subscribeToEvents.stream_ended");
                        break None;
                    }
                    Some(Err(e)) => {
                        point!("subscribeToEvents.stream_threw");
                        break Some(e);
                    }
                    Some(Ok(event)) => event,
                };
                if controller.is_cancelled() {
                    point!("subscribeToEvents.aborted_seen_on_event");
                    break None;
                }
                // Filter by session: events with another sessionID are skipped; events without
                // one (connected, heartbeat) pass.
                let session = match event {
                    ServerEvent::Idle(s) | ServerEvent::Error(s) => Some(s),
                    ServerEvent::Connected | ServerEvent::Heartbeat => None,
                };
                if session.is_some() && session != lock(record).session {
                    point!("subscribeToEvents.other_session_skipped");
                    continue;
                }
                match event {
                    ServerEvent::Idle(_) => {
                        point!("subscribeToEvents.idle");
                        self.handle_idle_event(agent, record, controller);
                    }
                    // POST ignores connected and heartbeat for the idle timer
                    // (IDLE_TIMER_IGNORE_EVENTS); PRE clears it on every event that passes.
                    ServerEvent::Connected | ServerEvent::Heartbeat
                        if self.version >= Version::Post => {}
                    ServerEvent::Heartbeat => {
                        point!("subscribeToEvents.heartbeat_cleared_idle_timer");
                        self.table().clear_idle_timer(agent);
                    }
                    _ => self.table().clear_idle_timer(agent),
                }
                if controller.is_cancelled() {
                    break None;
                }
            },
        };
        // catch: a throw while not aborted fails a Running record and releases its count on
        // the instance mapped now, closing it at ≤ 0.
        if let Some(e) = thrown
            && !controller.is_cancelled()
        {
            tracing::warn!(%agent, error = %e, "event stream error");
            let close = {
                let mut table = self.table();
                let workdir = {
                    let mut r = lock(record);
                    if r.status != Status::Running {
                        point!("subscribeToEvents.threw_on_record_not_running");
                        return;
                    }
                    point!("subscribeToEvents.failed_running_record");
                    r.status = Status::Failed;
                    r.workdir.clone()
                };
                table.clear_idle_timer(agent);
                table
                    .instance(&workdir)
                    .and_then(|inst| table.release(&inst, &workdir))
            };
            self.kill(close);
        }
    }

    /// `handleIdleEvent(agent, exitAgent)` with no nudges pending (A4). PRE: ⏸ fetch the
    /// nudges (no timeout), then (re)arm the timer. POST and LATEST **[3rd]**: while draining,
    /// the fetch is skipped and the drain's 10 s timer is armed at once; otherwise ⏸ fetch the
    /// nudges (bounded 10 s) and only then clear and arm the timer, so an old incarnation's
    /// late arming can land on the new record.
    fn handle_idle_event(
        self: &Arc<Self>,
        agent: &AgentId,
        record: &RecordRef,
        controller: &CancellationToken,
    ) {
        let core = self.clone();
        let agent = agent.clone();
        let on_exit = (record.clone(), controller.clone());
        if self.version >= Version::Post && self.table().draining {
            point!("handleIdleEvent.armed_while_draining");
            self.arm_idle_timer(&agent, on_exit, None, self.config.idle_timeout / 12);
            return;
        }
        tokio::spawn(async move {
            point!("handleIdleEvent.fetched_nudges");
            core.backend.worker("fetch pending nudges").await;
            core.arm_idle_timer(&agent, on_exit, None, core.config.idle_timeout);
        });
    }

    /// `clearIdleTimer(id); idleTimers.set(id, setTimeout(..., timeout))`. When it fires:
    /// delete the entry; if `guard` (the drain's re-armed timer: the record in the map at
    /// drain time) or else the exiting record is Running, `onExit()`.
    pub(super) fn arm_idle_timer(
        self: &Arc<Self>,
        agent: &AgentId,
        on_exit: (RecordRef, CancellationToken),
        guard: Option<RecordRef>,
        after: Duration,
    ) {
        let core = self.clone();
        let who = agent.clone();
        let (record, controller) = on_exit.clone();
        let cleared = CancellationToken::new();
        let cancelled = cleared.clone();
        // Spawned before the table is locked: under shuttle a spawn is a scheduling point, and
        // a task switched out holding the table would block every other. Under tokio the order
        // is the same: the new task runs only after this function returned.
        tokio::spawn(async move {
            // A cleared timer never fires, even if its time came before the task ran again.
            tokio::select! {
                biased;
                () = cancelled.cancelled() => return,
                () = tokio::time::sleep(after) => {}
            }
            remove(&mut core.table().idle_timers, &who);
            if guard.is_some() {
                point!("idleTimer.drain_timer_fired");
            }
            let checked = guard.as_ref().unwrap_or(&record);
            if lock(checked).status == Status::Running {
                point!("idleTimer.fired_on_running");
                core.exit_agent(&record, &controller);
            } else {
                point!("idleTimer.fired_on_not_running");
            }
        });
        let mut table = self.table();
        table.clear_idle_timer(agent);
        set(
            &mut table.idle_timers,
            agent.clone(),
            IdleTimer { cleared, on_exit },
        );
    }

    /// `exitAgent` (idle timeout): only a Running record exits; `exited`, `syncRegistry()`
    /// (POST, LATEST), release the instance mapped now (close at ≤ 0), abort the stream. No
    /// `session.abort` (§3).
    fn exit_agent(&self, record: &RecordRef, controller: &CancellationToken) {
        let close = {
            let mut table = self.table();
            let workdir = {
                let mut r = lock(record);
                if r.status != Status::Running {
                    point!("exitAgent.not_running");
                    return;
                }
                r.status = Status::Exited;
                r.workdir.clone()
            };
            table
                .instance(&workdir)
                .and_then(|inst| table.release(&inst, &workdir))
        };
        // POST and LATEST `syncRegistry()` after `exited` (the release changes no status).
        self.sync_registry();
        if close.is_some() {
            point!("exitAgent.closed_server");
        }
        self.kill(close);
        controller.cancel();
    }
}
