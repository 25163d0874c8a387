//! A call's effect at the server: servers and sessions made and killed, event streams opened,
//! broken or silenced, events planned, and the I3 check when a server closes.

use super::events::RunEvent;
use agent_lifecycle::{BackendError, ServerId, SessionEvent, SessionId, Snapshot, Workdir};
use lifecycle_models::ServerEvent;
use tokio::sync::mpsc::unbounded_channel;

use crate::world::history::{Fault, OpId, What};
use crate::world::ledger::Cause;
use crate::world::ledger::Ledger;
use crate::world::mailbox::Notice;
use crate::world::{Call, Happening, Reply, World};

/// A server being closed, as it was at that moment.
pub struct Closing {
    /// The server being closed.
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
    /// The effect of a call made by `op` (none: the manager's background work), what it ends
    /// put down to that (L6).
    pub(super) fn effect(&mut self, call: &Call, op: Option<OpId>) -> Reply {
        self.ledger.now_ms = self.now_ms;
        self.ledger.faults_on = !self.faults_off();
        self.ledger.cause = Some(op.map_or(Cause::Background, Cause::Op));
        let reply = self.apply(call, op);
        self.ledger.cause = None;
        reply
    }

    /// A prompt whose request reaches the server (no fault keeps it away or late) begins a
    /// turn there: its session is no longer idle (L3), and its turn is under way (L5). Under
    /// `turn_ms` the turn, and so the prompt, lasts that long: its due time, else `None`.
    pub(super) fn turn_begins(
        &mut self,
        call: &Call,
        op: Option<OpId>,
        fault: Option<Fault>,
    ) -> Option<u64> {
        let (Call::Prompt(session) | Call::PromptOn(_, session)) = call else {
            return None;
        };
        if matches!(fault, Some(Fault::Hang | Fault::Fail | Fault::Late)) {
            return None;
        }
        let now = self.now_ms;
        if let Some(s) = self.ledger.session_mut(*session) {
            s.idle_since = None;
            s.idle = false;
            s.errored = false;
            if fault.is_none() {
                s.turn = Some((now, op));
            }
        }
        self.backend.turn_ms.map(|t| now + t)
    }

    /// The backend's side of a call.
    pub(super) fn apply(&mut self, call: &Call, op: Option<OpId>) -> Reply {
        let not_running = |server: &ServerId| {
            Reply::Failed(BackendError::Gone(format!("{server} is not running")))
        };
        let not_live = |session: &SessionId| {
            Reply::Failed(BackendError::Gone(format!("{session} is not live")))
        };
        let gone_with_server = |session: &SessionId| {
            Reply::Failed(BackendError::Gone(format!("{session}'s server is gone")))
        };
        match call {
            Call::EnsureServer(workdir) => match self.ledger.open_server_for(workdir) {
                Some(server) => Reply::Server(server),
                None => Reply::Server(self.start_server(workdir)),
            },
            Call::SpawnServer(workdir) => Reply::Server(self.start_server(workdir)),
            Call::CloseServer(server) => {
                self.note_closing(*server);
                self.server_died(*server, true);
                Reply::Done
            }
            Call::AbortOn(server, session) => match (self.ledger.server(*server), session) {
                // No answer from a dead server: the SDK throws (docs/real-system.md).
                (Some(s), _) if !s.open => not_running(server),
                // `POST /session//abort` matches no route: 404, which the SDK returns.
                (_, None) => Reply::Failed(BackendError::Failed("session '' not found".into())),
                // The abort route has no existence check: 200 `true` for any well-formed id,
                // a session aborted before or one of another server alike.
                (_, Some(session)) => {
                    if self.ledger.session_is_on(*session, *server) {
                        self.abort_effect(*session);
                    }
                    Reply::Done
                }
            },
            Call::SubscribeServer(server) => {
                let (tx, rx) = unbounded_channel();
                match self.ledger.server_mut(*server) {
                    Some(s) if s.open => {
                        let _ = tx.send(Ok(ServerEvent::Connected));
                        s.streams.push(tx);
                    }
                    // The SDK's SSE client retries a dead server for ever and yields nothing,
                    // not even `server.connected` (measured, SDK 7.2.14): open and silent.
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
            // A prompt runs a turn on any session of a running server, an aborted one too: the
            // session persists, and a later prompt starts a fresh run. The
            // turn's end (its events, and the reply) is the caller's, in `answer`.
            Call::Prompt(session) => match self.ledger.session(*session) {
                Some(s) if self.ledger.server_is_open(s.server) => {
                    if !s.live {
                        let agent = s.agent.clone();
                        self.ledger.revive_session(*session);
                        self.history
                            .push(self.now_ms, Some(agent), What::SessionRevived(*session));
                    }
                    Reply::Done
                }
                _ => gone_with_server(session),
            },
            Call::PromptOn(server, session) => match self.ledger.server(*server) {
                Some(s) if !s.open => not_running(server),
                _ if self.ledger.session_is_on(*session, *server) => {
                    self.apply(&Call::Prompt(*session), op)
                }
                // A session of another server: 200 with an empty body on the 7.3 CLI, which
                // the SDK returns; nothing runs.
                _ => Reply::Failed(BackendError::Failed(format!(
                    "{session} unknown on {server}: 200 with an empty body"
                ))),
            },
            // Idempotent, as the real abort: 200 for a session aborted before; only a dead
            // server's session fails (no answer: the SDK throws).
            Call::AbortSession(session) => match self.ledger.session(*session) {
                Some(s) if self.ledger.server_is_open(s.server) => {
                    self.abort_effect(*session);
                    Reply::Done
                }
                _ => gone_with_server(session),
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

    /// A server died: its sessions stop. Closed (`graceful`), it shuts down as a native `kilo
    /// serve` does on SIGTERM: each of its SSE streams gets `server.instance.disposed` and ends
    /// normally, so the SDK's iterator finishes (measured, `docs/real-system.md`). Crashed, its
    /// streams go silent for ever (the SDK retries, measured on 7.2.14), or throw under the
    /// hypothetical `stream-errors` family, stream by stream.
    pub(super) fn server_died(&mut self, server: ServerId, graceful: bool) {
        let faults = self.faults_now();
        for stream in self.ledger.take_streams(server) {
            if graceful {
                self.post(Notice::StreamEnd(stream));
            } else if self.decisions.percent(faults.stream_errors) {
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

    /// A server's heartbeat reaches the sessions' own streams too: the real server sends
    /// `server.connected`, then `server.heartbeat` every 10 s, on every event stream, and a
    /// per-session subscription is one filtered from it (`SessionEvent::Heartbeat`).
    pub(super) fn heartbeat_sessions(&mut self, server: ServerId) {
        let streams: Vec<_> = self
            .ledger
            .live_on(server)
            .flat_map(|s| s.events.iter().filter(|tx| !tx.is_closed()).cloned())
            .collect();
        for tx in streams {
            self.post(Notice::SessionEvent(tx, SessionEvent::Heartbeat));
        }
    }

    /// A turn of `session` ended: the server publishes, on the session's streams and its
    /// server's, `session.idle` (docs/real-system.md), after a `session.error` when the turn
    /// ended in a provider error (`error-events`: a non-retryable provider error or a broken
    /// model stream). Either way the session persists, idle.
    pub(super) fn turn_ended(&mut self, session: SessionId) {
        let faults = self.faults_now();
        let error = self.decisions.percent(faults.error_events);
        self.publish_end(session, error);
    }

    /// Publishes the end of `session`'s run: `session.error` first if `error`, then
    /// `session.idle`.
    fn publish_end(&mut self, session: SessionId, error: bool) {
        let faults_off = self.faults_off();
        let Some(s) = self.ledger.session_mut(session) else {
            return;
        };
        let (agent, server, streams) = (s.agent.clone(), s.server, s.events.clone());
        let now = self.now_ms;
        s.turn = None;
        s.idle = true;
        s.errored |= error;
        let heard = streams.iter().any(|tx| !tx.is_closed())
            || self
                .ledger
                .server(server)
                .is_some_and(|sv| sv.streams.iter().any(|tx| !tx.is_closed()));
        if heard && let Some(s) = self.ledger.session_mut(session) {
            s.idle_since = Some((now, faults_off));
            self.ledger.idles.push((session, now));
        }
        if error {
            for events in &streams {
                self.post(Notice::SessionEvent(events.clone(), SessionEvent::Error));
            }
            self.broadcast(server, ServerEvent::Error(session));
            self.history
                .push(now, Some(agent.clone()), What::SessionError(session));
        }
        for events in streams {
            self.post(Notice::SessionEvent(events, SessionEvent::Idle));
        }
        self.broadcast(server, ServerEvent::Idle(session));
        self.history
            .push(now, Some(agent), What::SessionIdle(session));
    }

    /// An abort lands on `session`: a prompt of it whose request is in flight either reached
    /// the server before the abort, and its turn is cut short (the prompt answers 200 at once,
    /// docs/real-system.md), or it had not, and runs afterwards as a fresh turn: the decision
    /// stream says which. The session ends (its own streams with it), and the server publishes
    /// the run's end: `session.error` (`MessageAbortedError`) when a turn was cut short, then
    /// `session.idle`, which an abort of an idle session publishes too.
    fn abort_effect(&mut self, session: SessionId) {
        let now = self.now_ms;
        let mut cut = false;
        for p in &mut self.parked {
            let running = matches!(p.call, Call::Prompt(s) | Call::PromptOn(_, s) if s == session)
                && !p.spent
                && !p.cut_short
                && matches!(p.fault, None | Some(Fault::Lie) | Some(Fault::LostReply));
            // Choice 0: the prompt, sent first, reached the server first.
            if running && self.decisions.below(2) == 0 {
                p.cut_short = true;
                p.due_ms = now;
                cut = true;
            }
        }
        self.ledger.kill_session(session);
        self.publish_end(session, cut);
    }

    /// Records a server's close as it happens, for the checker to judge after this step (I3
    /// at close): what the manager tracked then, and which sessions still ran on it.
    fn note_closing(&mut self, server: ServerId) {
        let Some(snapshot) = self.snapshot.as_ref().map(|f| f()) else {
            return;
        };
        let closing = Closing::of(&self.ledger, server, snapshot);
        self.report(RunEvent::Closed(closing));
    }
}
