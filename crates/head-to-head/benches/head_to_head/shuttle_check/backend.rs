//! The shuttle test's backend: the race's server in memory, each call a scheduling point,
//! faults drawn from shuttle's rng, and the checks (I3 at a close, I6 at a cancelled start's
//! return, I1 and I3 once settled) restated on the recompiled manager's types.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use shuttle::rand::Rng as _;
use shuttle_agent_lifecycle::{
    AgentId, BackendError, RequestContext, ServerId, SessionBackend, SessionEvent, SessionId,
    Snapshot, Status, Workdir,
};
use shuttle_lifecycle_models::{EventStream, KiloSdk, ServerEvent};
use shuttle_tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

mod checks;
mod turns;

/// What a check's panic starts with: the race's own invariant broke.
pub const FOUND: &str = "race found: ";

type ServerStream = UnboundedSender<Result<ServerEvent, BackendError>>;
type SnapshotFn = Box<dyn Fn() -> Option<Snapshot> + Send + Sync>;

#[derive(Default)]
pub struct Ledger {
    /// Workdir, open, server-wide streams.
    servers: Vec<(Workdir, bool, Vec<ServerStream>)>,
    /// Agent, server, live, event streams.
    sessions: Vec<(AgentId, ServerId, bool, Vec<UnboundedSender<SessionEvent>>)>,
    /// The operation whose call created each session, where one did (its request context).
    creators: Vec<(SessionId, u64)>,
    /// Dead servers' streams: SDK 7.2.14 retries them for ever in silence.
    silent: Vec<ServerStream>,
    /// Events to send, and streams to end, once no lock is held: a shuttle channel's send
    /// and its last sender's drop are scheduling points, and the task shuttle switches to may
    /// want this ledger: a `std` lock it would block on in the kernel, for ever.
    outbox: Vec<(ServerStream, Result<ServerEvent, BackendError>)>,
    ended: Vec<UnboundedSender<SessionEvent>>,
    ended_servers: Vec<ServerStream>,
    /// Session events to send once no lock is held, as `outbox`.
    session_outbox: Vec<(UnboundedSender<SessionEvent>, SessionEvent)>,
    /// Prompts whose turn is running: the session, and the flag an abort sets to cut it short.
    turns: Vec<(SessionId, Arc<AtomicBool>)>,
    /// The container died (a reboot): nothing answers any more.
    dead: bool,
}

#[derive(Clone)]
pub struct Backend {
    pub ledger: Arc<Mutex<Ledger>>,
    pub faults: lifecycle_sim::FaultConfig,
    pub snapshot: Arc<OnceLock<SnapshotFn>>,
    pub invariant: String,
}

fn gone(what: String) -> BackendError {
    BackendError::Gone(what)
}

fn percent(p: u32) -> bool {
    p > 0 && shuttle::rand::thread_rng().gen_range(0..100) < p
}

impl Backend {
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends what the ledger's effects queued, with no lock held.
    pub fn flush(&self) {
        let (outbox, session_outbox, ended, ended_servers) = {
            let mut ledger = self.ledger();
            (
                std::mem::take(&mut ledger.outbox),
                std::mem::take(&mut ledger.session_outbox),
                std::mem::take(&mut ledger.ended),
                std::mem::take(&mut ledger.ended_servers),
            )
        };
        for (stream, event) in outbox {
            let _ = stream.send(event);
        }
        for (stream, event) in session_outbox {
            let _ = stream.send(event);
        }
        drop((ended, ended_servers));
    }

    /// The container dies (a reboot): every server with it, every session, every stream; what
    /// its old manager still calls finds nothing.
    pub fn end(&self) {
        {
            let mut ledger = self.ledger();
            ledger.dead = true;
            let mut streams = Vec::new();
            for server in &mut ledger.servers {
                server.1 = false;
                streams.append(&mut server.2);
            }
            let mut ended = Vec::new();
            for session in &mut ledger.sessions {
                session.2 = false;
                ended.append(&mut session.3);
            }
            ledger.ended_servers.append(&mut streams);
            ledger.ended.append(&mut ended);
        }
        self.flush();
    }

    /// Nothing answers once the container died.
    pub(super) fn gone_if_ended(&self) -> Result<(), BackendError> {
        if self.ledger().dead {
            return Err(gone("the container is gone".into()));
        }
        Ok(())
    }

    /// A call: a scheduling point, then its effect, unless a fault stops it.
    async fn call<T>(
        &self,
        create: bool,
        abort: bool,
        effect: impl FnOnce(&mut Ledger, &Backend) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        self.flush();
        shuttle_tokio::task::yield_now().await;
        self.gone_if_ended()?;
        let f = self.faults;
        if percent(f.call_errors) || (abort && percent(f.abort_fails)) {
            return Err(BackendError::Failed("injected fault".into()));
        }
        let lie = (create && percent(f.create_lies)) || percent(f.lost_replies);
        let outcome = effect(&mut self.ledger(), self);
        self.flush();
        if lie {
            return Err(BackendError::Failed("reply lost".into()));
        }
        outcome
    }

    /// I3: a server may close only when no Starting or Running record's live session is on it.
    fn closing(&self, ledger: &mut Ledger, server: ServerId) {
        if let Some(snapshot) = self.snapshot.get().and_then(|f| f()) {
            let on_it = |s: SessionId| {
                ledger
                    .sessions
                    .get(s.0 as usize - 1)
                    .is_some_and(|r| r.1 == server && r.2)
            };
            if let Some(r) = snapshot.agents.iter().find(|r| {
                matches!(r.status, Status::Starting | Status::Running)
                    && r.session.is_some_and(on_it)
            }) && self.invariant == "I3"
            {
                panic!(
                    "{FOUND}I3: {server} closed under agent {}'s {:?} record",
                    r.agent, r.status
                );
            }
        }
        // A closed server shuts down gracefully: its streams end normally (dropped once the
        // lock is released, as the world's do).
        let streams = std::mem::take(&mut ledger.servers[server.0 as usize - 1].2);
        ledger.ended_servers.extend(streams);
        ledger.servers[server.0 as usize - 1].1 = false;
        let mut ended = Vec::new();
        for s in ledger.sessions.iter_mut().filter(|s| s.1 == server) {
            s.2 = false;
            ended.append(&mut s.3);
        }
        ledger.ended.append(&mut ended);
    }
}

impl SessionBackend for Backend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        self.call(false, false, |l, _| {
            if let Some(i) = l.servers.iter().position(|s| &s.0 == workdir && s.1) {
                return Ok(ServerId(i as u64 + 1));
            }
            l.servers.push((workdir.clone(), true, Vec::new()));
            Ok(ServerId(l.servers.len() as u64))
        })
        .await
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        self.call(false, false, |l, me| {
            me.closing(l, server);
            Ok(())
        })
        .await
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let creator = RequestContext::current().map(|c| c.id);
        self.call(true, false, |l, _| {
            match l.servers.get(server.0 as usize - 1) {
                Some(s) if s.1 => {
                    l.sessions.push((agent.clone(), server, true, Vec::new()));
                    let id = SessionId(l.sessions.len() as u64);
                    if let Some(op) = creator {
                        l.creators.push((id, op));
                    }
                    Ok(id)
                }
                _ => Err(gone(format!("{server} is not running"))),
            }
        })
        .await
    }

    async fn prompt(&self, session: SessionId, _text: &str) -> Result<(), BackendError> {
        self.prompt_via(None, session).await
    }

    /// Idempotent: `Ok` for a session aborted before; only a dead server's session fails.
    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        self.call(false, true, |l, me| {
            let server = l.sessions.get(session.0 as usize - 1).map(|s| s.1);
            match server {
                Some(server) if l.servers[server.0 as usize - 1].1 => {
                    me.abort_effect(l, session);
                    Ok(())
                }
                _ => Err(gone(format!("{session}'s server is gone"))),
            }
        })
        .await
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        self.call(false, false, |l, _| {
            Ok(l.sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.1 == server && s.2)
                .map(|(i, s)| (SessionId(i as u64 + 1), s.0.clone()))
                .collect())
        })
        .await
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        self.call(false, false, |l, _| {
            Ok(l.servers
                .iter()
                .enumerate()
                .filter(|(_, s)| s.1)
                .map(|(i, s)| (ServerId(i as u64 + 1), s.0.clone()))
                .collect())
        })
        .await
    }

    async fn subscribe(
        &self,
        session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        self.call(false, false, |l, _| {
            match l.sessions.get_mut(session.0 as usize - 1) {
                Some(s) if s.2 => {
                    let (tx, rx) = unbounded_channel();
                    s.3.push(tx);
                    Ok(rx)
                }
                _ => Err(gone(format!("{session} is not live"))),
            }
        })
        .await
    }
}

impl KiloSdk for Backend {
    async fn spawn_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        self.call(false, false, |l, _| {
            l.servers.push((workdir.clone(), true, Vec::new()));
            Ok(ServerId(l.servers.len() as u64))
        })
        .await
    }

    fn kill_server(&self, server: ServerId) {
        let mut ledger = self.ledger();
        self.closing(&mut ledger, server);
    }

    async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        self.call(false, true, |l, me| {
            if !l.servers.get(server.0 as usize - 1).is_some_and(|s| s.1) {
                return Err(gone(format!("{server} is not running")));
            }
            let Some(session) = session else {
                return Err(BackendError::Failed("session '' not found".into()));
            };
            // 200 `true` for any well-formed id: aborted before, or another server's.
            if l.sessions
                .get(session.0 as usize - 1)
                .is_some_and(|s| s.1 == server)
            {
                me.abort_effect(l, session);
            }
            Ok(())
        })
        .await
    }

    async fn prompt_on(
        &self,
        server: ServerId,
        session: SessionId,
        _text: &str,
    ) -> Result<(), BackendError> {
        self.prompt_via(Some(server), session).await
    }

    async fn subscribe_server(&self, server: ServerId) -> Result<EventStream, BackendError> {
        self.call(false, false, |l, _| {
            let (tx, rx) = unbounded_channel();
            // A dead server's stream yields nothing, not even `server.connected`.
            let open = l.servers.get(server.0 as usize - 1).is_some_and(|s| s.1);
            if open {
                l.outbox.push((tx.clone(), Ok(ServerEvent::Connected)));
                l.servers[server.0 as usize - 1].2.push(tx);
            } else {
                l.silent.push(tx);
            }
            Ok(rx)
        })
        .await
    }

    async fn worker(&self, _what: &'static str) {
        shuttle_tokio::task::yield_now().await;
    }
}
