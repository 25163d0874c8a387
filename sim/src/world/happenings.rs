//! What the backend does on its own over time (heartbeats, server crashes), and the container
//! dying with its calls.

use agent_lifecycle::ServerId;
use lifecycle_models::ServerEvent;

use crate::world::World;
use crate::world::history::What;
use crate::world::ledger::Cause;

/// Something the backend does on its own at a set time.
#[derive(Clone, Copy, Debug)]
pub enum Happening {
    /// A running server crashes (which one is drawn when it happens).
    Crash,
    /// A server sends `server.heartbeat` on its event streams.
    Heartbeat(ServerId),
}

impl World {
    /// Schedules the scenario's server crashes within the first `window_ms`. One draw is made
    /// even with crashes off, so that switching them off keeps later decisions in place.
    pub fn schedule_crashes(&mut self, window_ms: u32) {
        let crashes = self.backend.faults.server_crashes;
        for i in 0..crashes.max(1) {
            let at = self.decisions.between_if(i < crashes, 1, window_ms);
            if i < crashes {
                self.scheduled.push((u64::from(at), Happening::Crash));
            }
        }
    }

    /// Whether the backend still has events or crashes to come (heartbeats go on for ever
    /// and do not count).
    pub fn has_scheduled(&self) -> bool {
        self.scheduled
            .iter()
            .any(|(_, h)| !matches!(h, Happening::Heartbeat(_)))
    }

    /// Makes the backend's own happenings that are due: idle and error events, crashes.
    pub fn deliver_due(&mut self) {
        for happening in self.take_due_happenings() {
            self.happen(happening);
        }
    }

    /// The backend's own happenings due now, in the order they were planned; they are no
    /// longer scheduled.
    pub fn take_due_happenings(&mut self) -> Vec<Happening> {
        let now = self.now_ms;
        if self.scheduled.iter().all(|&(at, _)| at > now) {
            return Vec::new();
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|&(at, _)| at <= now);
        self.scheduled = later;
        due.into_iter().map(|(_, happening)| happening).collect()
    }

    /// Whether a happening tells the container nothing and changes nothing it can see: a
    /// heartbeat of a server nobody listens to. Such happenings are not worth an order.
    pub fn is_unheard(&self, happening: &Happening) -> bool {
        match happening {
            Happening::Heartbeat(server) => {
                self.ledger
                    .server(*server)
                    .is_none_or(|s| s.streams.iter().all(|tx| tx.is_closed()))
                    && self
                        .ledger
                        .live_on(*server)
                        .all(|s| s.events.iter().all(|tx| tx.is_closed()))
            }
            _ => false,
        }
    }

    /// One of the backend's own happenings takes place.
    pub fn happen(&mut self, happening: Happening) {
        let now = self.now_ms;
        match happening {
            Happening::Heartbeat(server) => {
                if self.ledger.server(server).is_some_and(|s| s.open) {
                    self.broadcast(server, ServerEvent::Heartbeat);
                    self.heartbeat_sessions(server);
                    self.scheduled.push((
                        now + self.backend.heartbeat_ms,
                        Happening::Heartbeat(server),
                    ));
                }
            }
            Happening::Crash => {
                if self.healed {
                    return;
                }
                let open = self.ledger.open_servers();
                if open.is_empty() {
                    return;
                }
                let server = open[self.decisions.below(open.len() as u32) as usize];
                self.crash(server);
            }
        }
    }

    /// `server` is killed from outside: its sessions stop, its streams go silent.
    pub(super) fn crash(&mut self, server: ServerId) {
        self.ledger.now_ms = self.now_ms;
        self.ledger.cause = Some(Cause::Crash);
        self.ledger.faulted_calls += 1;
        self.server_died(server, false);
        self.ledger.cause = None;
        if let Some(s) = self.ledger.server_mut(server) {
            s.crashed = true;
        }
        self.history
            .push(self.now_ms, None, What::ServerCrashed(server));
    }

    /// Version 5: the container dies now, at the look that saw its eviction return or its
    /// reboot issued (or the run ended). What it persisted is read now, its clock stops, and
    /// until the bounce nothing its tasks do reaches the world.
    pub fn container_dies_now(&mut self) {
        self.died_at_ms = Some(self.now_ms);
        self.clock_base = None;
        if let Some(registry) = self.registry.take() {
            self.persisted = registry();
        }
    }

    /// The container died: its calls die with it.
    pub fn kill_container(&mut self) {
        self.died_at_ms = None;
        // Under a clockwork, operations may have returned to the container after its eviction
        // and before the bounce: their callers never hear of it. The next boot's clockwork
        // sets the clock on its own runtime.
        self.forget_operation_events();
        self.clock_base = None;
        self.ledger.now_ms = self.now_ms;
        self.ledger.kill_all();
        self.parked.clear();
        self.outbox.clear();
        self.silent_streams.clear();
        self.drop_plans.clear();
        self.scheduled
            .retain(|(_, h)| matches!(h, Happening::Crash));
        self.inbox = None;
        self.snapshot = None;
        // What it persisted survives it (a disk, the town's registry): read it now, as the
        // last thing the container wrote.
        if let Some(registry) = self.registry.take() {
            self.persisted = registry();
        }
        self.history.push(self.now_ms, None, What::Bounce);
    }
}
