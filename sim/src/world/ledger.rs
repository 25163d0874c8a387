//! The fake backend's ground truth: every server and session that ever existed, who made it,
//! and whether it is still live. The checker judges the manager against this.

use agent_lifecycle::{AgentId, BackendError, ServerId, SessionEvent, SessionId, Workdir};
use lifecycle_models::ServerEvent;
use tokio::sync::mpsc::UnboundedSender;

use crate::world::history::OpId;

/// A server that was started, and what became of it.
pub struct ServerRecord {
    /// Its id.
    pub id: ServerId,
    /// The workdir it serves.
    pub workdir: Workdir,
    /// Whether it is running.
    pub open: bool,
    /// Server-wide SSE streams (the models' `client.event.subscribe()`).
    pub streams: Vec<UnboundedSender<Result<ServerEvent, BackendError>>>,
    /// Started by a call whose caller never heard of it (a lost reply or a late effect).
    pub ambiguous: bool,
    /// It died by crashing, not by a close.
    pub crashed: bool,
    /// A `list_servers` reply that reached the manager named it: from then on the manager
    /// has been told it runs.
    pub revealed: bool,
}

/// A session that was created, and what became of it.
#[derive(Clone)]
pub struct SessionRecord {
    /// Its id.
    pub id: SessionId,
    /// The agent it was created for.
    pub agent: AgentId,
    /// The server it lives on.
    pub server: ServerId,
    /// The workload operation whose call created it.
    pub creator: Option<OpId>,
    /// Created, not aborted since its last prompt, and its server running (docs/real-system.md).
    /// An abort ends it; its server's death too; a `session.error` does not (the real
    /// session persists, idle); a prompt after an abort starts a fresh run and makes it live
    /// again.
    pub live: bool,
    /// Its open event streams (a server takes any number of subscriptions); dropped when the
    /// session dies, which ends them.
    pub events: Vec<UnboundedSender<SessionEvent>>,
    /// Created by a call whose caller never heard of it (a lost reply or a late effect).
    pub ambiguous: bool,
    /// Its turn ended and `session.idle` went out on a stream someone held open, at this
    /// instant, with the faults off then or not; cleared when a prompt reaches it (L3).
    pub idle_since: Option<(u64, bool)>,
    /// A prompt's turn is under way: since when, and the operation that sent it (L5).
    pub turn: Option<(u64, Option<OpId>)>,
    /// A turn of it ended in `session.error` since its last prompt (L6: a death of its own).
    pub errored: bool,
    /// Its last turn ended (`session.idle` published, heard or not) and no prompt reached it
    /// since (L6: an idle exit may end it).
    pub idle: bool,
    /// Created while the faults were on: a fault may have struck its life (L6).
    pub born_faulty: bool,
}

/// What ended a session (L6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A call made by this operation (an abort, a server's close).
    Op(OpId),
    /// A call made outside any operation: the manager's own background work (an idle exit,
    /// a retry, a reaper).
    Background,
    /// Its server crashed.
    Crash,
    /// The container died with everything in it (an eviction's return, a reboot).
    Bounce,
}

/// A live session ended (L6).
#[derive(Clone, Debug)]
pub struct Death {
    /// The session.
    pub session: SessionId,
    /// Its agent.
    pub agent: AgentId,
    /// When.
    pub at_ms: u64,
    /// What ended it.
    pub cause: Cause,
    /// Whether it was idle (its idle event published since its last prompt) or had errored.
    pub idle_or_errored: bool,
    /// Whether the faults were on then, or when the session was created: a call faulted
    /// while it lived may be what its manager answered.
    pub faults_on: bool,
}

/// Every server and session the backend ever made, live or not: the ground truth the
/// invariants judge the manager's snapshot against.
///
/// Ids are dense from 1, so a record is found by index.
#[derive(Default)]
pub struct Ledger {
    /// Every server, in id order.
    pub servers: Vec<ServerRecord>,
    /// Every session, in id order.
    pub sessions: Vec<SessionRecord>,
    /// Every death of a live session, in order (L6 reads it from where it left off).
    pub deaths: Vec<Death>,
    /// Every idle event that went out on an open stream: the session and the instant (L3).
    pub idles: Vec<(SessionId, u64)>,
    /// What the next deaths are put down to; set by the world around each call's effect.
    pub cause: Option<Cause>,
    /// The instant, for the deaths' log.
    pub now_ms: u64,
    /// Whether the faults are on, for the deaths' log.
    pub faults_on: bool,
    /// How many calls a fault struck so far, and servers crashed (L4).
    pub faulted_calls: u64,
}

impl Ledger {
    /// The running server for `workdir`, if there is one.
    pub fn open_server_for(&self, workdir: &Workdir) -> Option<ServerId> {
        self.servers
            .iter()
            .find(|s| s.open && &s.workdir == workdir)
            .map(|s| s.id)
    }

    /// Starts a server for `workdir`.
    pub fn start_server(&mut self, workdir: &Workdir) -> ServerId {
        let id = ServerId(self.servers.len() as u64 + 1);
        self.servers.push(ServerRecord {
            id,
            workdir: workdir.clone(),
            open: true,
            streams: Vec::new(),
            ambiguous: false,
            crashed: false,
            revealed: false,
        });
        id
    }

    /// The record of server `id`.
    pub fn server(&self, id: ServerId) -> Option<&ServerRecord> {
        self.servers.get((id.0 as usize).wrapping_sub(1))
    }

    /// The record of server `id`, to change.
    pub fn server_mut(&mut self, id: ServerId) -> Option<&mut ServerRecord> {
        self.servers.get_mut((id.0 as usize).wrapping_sub(1))
    }

    /// Whether `id` is a running server.
    pub fn server_is_open(&self, id: ServerId) -> bool {
        self.server(id).is_some_and(|s| s.open)
    }

    /// Whether `session` exists and lives on `server` (alive or not).
    pub fn session_is_on(&self, session: SessionId, server: ServerId) -> bool {
        self.session(session).is_some_and(|s| s.server == server)
    }

    /// The record of session `id`.
    pub fn session(&self, id: SessionId) -> Option<&SessionRecord> {
        self.sessions.get((id.0 as usize).wrapping_sub(1))
    }

    /// The record of session `id`, to change.
    pub fn session_mut(&mut self, id: SessionId) -> Option<&mut SessionRecord> {
        self.sessions.get_mut((id.0 as usize).wrapping_sub(1))
    }

    /// Creates a live session for `agent` on `server`; `creator` is the operation whose call
    /// made it.
    pub fn create_session(
        &mut self,
        server: ServerId,
        agent: &AgentId,
        creator: Option<OpId>,
    ) -> SessionId {
        let id = SessionId(self.sessions.len() as u64 + 1);
        self.sessions.push(SessionRecord {
            id,
            agent: agent.clone(),
            server,
            creator,
            live: true,
            events: Vec::new(),
            ambiguous: false,
            idle_since: None,
            turn: None,
            errored: false,
            idle: false,
            born_faulty: self.faults_on,
        });
        id
    }

    /// Session `id` dies: it is no longer live, and its event streams end.
    pub fn kill_session(&mut self, id: SessionId) {
        let (cause, now, faults_on) = (
            self.cause.unwrap_or(Cause::Background),
            self.now_ms,
            self.faults_on,
        );
        if let Some(s) = self.session_mut(id) {
            let death = s.live.then(|| Death {
                session: s.id,
                agent: s.agent.clone(),
                at_ms: now,
                cause,
                idle_or_errored: s.idle || s.errored,
                faults_on: faults_on || s.born_faulty,
            });
            s.live = false;
            s.events.clear();
            self.deaths.extend(death);
        }
    }

    /// A prompt ran on an aborted session of a running server: it works again.
    pub fn revive_session(&mut self, id: SessionId) {
        if let Some(s) = self.session_mut(id) {
            s.live = true;
        }
    }

    /// Closing a server kills every session on it.
    pub fn close_server(&mut self, id: ServerId) {
        if let Some(server) = self.servers.get_mut((id.0 as usize).wrapping_sub(1)) {
            server.open = false;
            server.streams.clear();
        }
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|s| s.server == id)
            .map(|s| s.id)
            .collect();
        for session in ids {
            self.kill_session(session);
        }
    }

    /// The container died: every server and session on it with it.
    pub fn kill_all(&mut self) {
        self.cause = Some(Cause::Bounce);
        for id in 1..=self.servers.len() as u64 {
            self.close_server(ServerId(id));
        }
        self.cause = None;
    }

    /// The servers running now, in id order.
    pub fn open_servers(&self) -> Vec<ServerId> {
        self.servers
            .iter()
            .filter(|s| s.open)
            .map(|s| s.id)
            .collect()
    }

    /// The sessions live now.
    pub fn live_sessions(&self) -> impl Iterator<Item = &SessionRecord> {
        self.sessions.iter().filter(|s| s.live)
    }

    /// What listing the servers answers: each running one and its workdir, in id order.
    pub fn server_list(&self) -> Vec<(ServerId, Workdir)> {
        self.servers
            .iter()
            .filter(|s| s.open)
            .map(|s| (s.id, s.workdir.clone()))
            .collect()
    }

    /// The sessions live on `server`.
    pub fn live_on(&self, server: ServerId) -> impl Iterator<Item = &SessionRecord> {
        self.live_sessions().filter(move |s| s.server == server)
    }

    /// Takes a dying server's SSE streams: what each does next is the death's to decide.
    pub fn take_streams(
        &mut self,
        server: ServerId,
    ) -> Vec<UnboundedSender<Result<ServerEvent, BackendError>>> {
        self.server_mut(server)
            .map(|s| std::mem::take(&mut s.streams))
            .unwrap_or_default()
    }
}
