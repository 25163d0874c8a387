//! A call's effect at the server: servers and sessions made and killed, event streams opened,
//! broken or silenced, events planned, and the I3 check when a server closes.

use agent_lifecycle::{BackendError, ServerId, SessionId, Snapshot, Workdir};
use lifecycle_models::ServerEvent;
use tokio::sync::mpsc::unbounded_channel;

use crate::scenario::faults::FaultConfig;
use crate::world::history::OpId;
use crate::world::ledger::Ledger;
use crate::world::mailbox::Notice;
use crate::world::{Call, Happening, Reply, World};

/// A server being closed, as it was at that moment.
pub struct Closing {
    pub server: ServerId,
    /// What the manager tracked.
    pub snapshot: Snapshot,
    /// The sessions still live on the server.
    pub live_on_server: Vec<SessionId>,
}

impl Closing {
    /// `server` closing now, with what the manager tracks (`snapshot`).
    pub fn of(ledger: &Ledger, server: ServerId, snapshot: Snapshot) -> Self {
        Self {
            server,
            snapshot,
            live_on_server: ledger.live_on(server).map(|s| s.id).collect(),
        }
    }
}

impl World {
    /// The backend's side of a call.
    pub(super) fn apply(&mut self, call: &Call, op: Option<OpId>) -> Reply {
        let not_running = |server: &ServerId| {
            Reply::Failed(BackendError::Gone(format!("{server} is not running")))
        };
        let not_live = |session: &SessionId| {
            Reply::Failed(BackendError::Gone(format!("{session} is not live")))
        };
        match call {
            Call::EnsureServer(workdir) => match self.ledger.open_server_for(workdir) {
                Some(server) => Reply::Server(server),
                None => Reply::Server(self.start_server(workdir)),
            },
            Call::SpawnServer(workdir) => Reply::Server(self.start_server(workdir)),
            Call::CloseServer(server) => {
                self.note_closing(*server);
                self.server_died(*server);
                Reply::Done
            }
            Call::AbortOn(server, session) => match (self.ledger.server(*server), session) {
                (Some(s), _) if !s.open => not_running(server),
                // The server answers 404 for an id it does not run; the SDK returns it.
                (_, None) => Reply::Failed(BackendError::Failed("session '' not found".into())),
                (_, Some(session)) => match self.ledger.session(*session) {
                    Some(s) if s.server == *server => {
                        self.ledger.kill_session(*session);
                        Reply::Done
                    }
                    _ => Reply::Failed(BackendError::Failed(format!(
                        "{session} not found on {server}"
                    ))),
                },
            },
            Call::SubscribeServer(server) => {
                let (tx, rx) = unbounded_channel();
                let _ = tx.send(Ok(ServerEvent::Connected));
                match self.ledger.server_mut(*server) {
                    Some(s) if s.open => s.streams.push(tx),
                    // SDK 7.2.14's SSE client retries a dead server forever (assumption,
                    // seed-system.md §2): the stream stays open and silent.
                    _ => self.silent_streams.push(tx),
                }
                Reply::ServerEvents(rx)
            }
            Call::Worker(_) => Reply::Done,
            Call::ListServers => Reply::Servers(self.ledger.server_list()),
            Call::CreateSession(server, agent) => match self.ledger.server(*server) {
                Some(s) if s.open => Reply::Session(self.ledger.create_session(*server, agent, op)),
                _ => not_running(server),
            },
            Call::Prompt(session) => match self.ledger.session(*session) {
                Some(s) if s.live => {
                    self.schedule_events(*session);
                    Reply::Done
                }
                _ => not_live(session),
            },
            // As the real session server: a session that is not live (aborted, ended, or on a
            // server that is gone) is not found (the contract's abort case).
            Call::AbortSession(session) => match self.ledger.session_mut(*session) {
                Some(s) if s.live => {
                    self.ledger.kill_session(*session);
                    Reply::Done
                }
                _ => not_live(session),
            },
            Call::Subscribe(session) => match self.ledger.session_mut(*session) {
                Some(s) if s.live => {
                    let (tx, rx) = unbounded_channel();
                    s.events.push(tx);
                    Reply::Events(rx)
                }
                _ => not_live(session),
            },
            Call::ListSessions(server) => match self.ledger.server(*server) {
                Some(s) if s.open => Reply::Sessions(
                    self.ledger
                        .live_on(*server)
                        .map(|s| (s.id, s.agent.clone()))
                        .collect(),
                ),
                _ => not_running(server),
            },
        }
    }

    fn start_server(&mut self, workdir: &Workdir) -> ServerId {
        let server = self.ledger.start_server(workdir);
        self.scheduled.push((
            self.now_ms + self.backend.heartbeat_ms,
            Happening::Heartbeat(server),
        ));
        server
    }

    /// A server died (closed or crashed): its sessions die; each of its SSE streams either
    /// throws (older SDKs) or goes silent for ever (SDK 7.2.14 retries): the `stream-errors`
    /// family decides, stream by stream.
    pub(super) fn server_died(&mut self, server: ServerId) {
        let faults = if self.healed {
            FaultConfig::none()
        } else {
            self.backend.faults
        };
        for stream in self.ledger.take_streams(server) {
            if self.decisions.percent(faults.stream_errors) {
                let lost = Err(BackendError::Gone(format!("{server}: event stream lost")));
                self.post(Notice::ServerEvent(stream, lost));
            } else {
                self.silent_streams.push(stream);
            }
        }
        self.ledger.close_server(server);
    }

    /// Sends a server's event to every SSE stream open on it.
    pub(super) fn broadcast(&mut self, server: ServerId, event: ServerEvent) {
        let Some(s) = self.ledger.server_mut(server) else {
            return;
        };
        s.streams.retain(|tx| !tx.is_closed());
        let streams = s.streams.clone();
        for tx in streams {
            self.post(Notice::ServerEvent(tx, Ok(event)));
        }
    }

    /// A prompted session may go idle, or fail, a little later.
    fn schedule_events(&mut self, session: SessionId) {
        let faults = if self.healed {
            FaultConfig::none()
        } else {
            self.backend.faults
        };
        let d = &mut self.decisions;
        // Drawn whether on or off, like faults.
        let idle = d.percent(faults.idle_events);
        let idle_at = self.now_ms + u64::from(d.between_if(idle, 1, 40));
        if idle {
            self.scheduled.push((idle_at, Happening::Idle(session)));
        }
        let error = d.percent(faults.error_events);
        let error_at = self.now_ms + u64::from(d.between_if(error, 1, 40));
        if error {
            self.scheduled.push((error_at, Happening::Error(session)));
        }
    }

    /// Records a server's close as it happens, for the checker to judge after this step (I3
    /// at close): what the manager tracked then, and which sessions still ran on it.
    fn note_closing(&mut self, server: ServerId) {
        let Some(snapshot) = self.snapshot.as_ref().map(|f| f()) else {
            return;
        };
        self.closings
            .push(Closing::of(&self.ledger, server, snapshot));
    }
}
