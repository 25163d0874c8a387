//! The production manager against a small in-memory backend, in paused tokio time. The
//! simulation harness (sim/) explores interleavings; these pin the basic contract.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_lifecycle::{
    AgentId, AgentManager, BackendError, Lifecycle, LifecycleError, ManagerConfig, ServerId,
    SessionBackend, SessionEvent, SessionId, StartRequest, Status, Workdir,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

#[derive(Default)]
struct Backend {
    servers: BTreeMap<ServerId, (Workdir, bool)>,
    sessions: BTreeMap<SessionId, (AgentId, ServerId, bool)>,
    /// Creates that succeed but answer an error.
    lying_creates: u32,
    failing_aborts: u32,
    create_delay: Duration,
    /// Open event streams (no events are sent; they stay open).
    streams: Vec<UnboundedSender<SessionEvent>>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Backend>>);

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Backend) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    fn live_sessions(&self) -> Vec<SessionId> {
        self.with(|b| {
            b.sessions
                .iter()
                .filter(|(_, s)| s.2)
                .map(|(id, _)| *id)
                .collect()
        })
    }

    fn open_servers(&self) -> usize {
        self.with(|b| b.servers.values().filter(|s| s.1).count())
    }
}

impl SessionBackend for Shared {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        Ok(self.with(|b| {
            if let Some((id, _)) = b
                .servers
                .iter()
                .find(|(_, (w, open))| w == workdir && *open)
            {
                return *id;
            }
            let id = ServerId(b.servers.len() as u64 + 1);
            b.servers.insert(id, (workdir.clone(), true));
            id
        }))
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        self.with(|b| {
            b.servers.get_mut(&server).unwrap().1 = false;
            for s in b.sessions.values_mut().filter(|s| s.1 == server) {
                s.2 = false;
            }
        });
        Ok(())
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        let delay = self.with(|b| b.create_delay);
        tokio::time::sleep(delay).await;
        self.with(|b| {
            let id = SessionId(b.sessions.len() as u64 + 1);
            b.sessions.insert(id, (agent.clone(), server, true));
            if b.lying_creates > 0 {
                b.lying_creates -= 1;
                return Err(BackendError::Failed("reply lost".into()));
            }
            Ok(id)
        })
    }

    async fn prompt(&self, _session: SessionId, _text: &str) -> Result<(), BackendError> {
        Ok(())
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        self.with(|b| {
            if b.failing_aborts > 0 {
                b.failing_aborts -= 1;
                return Err(BackendError::Failed("abort failed".into()));
            }
            b.sessions.get_mut(&session).unwrap().2 = false;
            Ok(())
        })
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        Ok(self.with(|b| {
            b.sessions
                .iter()
                .filter(|(_, s)| s.1 == server && s.2)
                .map(|(id, s)| (*id, s.0.clone()))
                .collect()
        }))
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        Ok(self.with(|b| {
            b.servers
                .iter()
                .filter(|(_, s)| s.1)
                .map(|(id, s)| (*id, s.0.clone()))
                .collect()
        }))
    }

    async fn subscribe(
        &self,
        _session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        let (tx, rx) = unbounded_channel();
        self.with(|b| b.streams.push(tx));
        Ok(rx)
    }
}

fn request(agent: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new("repo"),
        prompt: "go".into(),
    }
}

fn manager(backend: &Shared) -> AgentManager<Shared> {
    let config = ManagerConfig {
        call_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        retry_pause: Duration::from_millis(100),
        request_lifetime: Duration::from_secs(10),
    };
    AgentManager::new(backend.clone(), config)
}

#[tokio::test(start_paused = true)]
async fn stopping_an_unknown_agent_is_a_no_op() {
    let backend = Shared::default();
    let m = manager(&backend);
    assert_eq!(m.stop(&AgentId::new("nobody")).await, Ok(()));
    assert!(m.snapshot().agents.is_empty());
}

#[tokio::test(start_paused = true)]
async fn start_then_stop_leaves_nothing_running() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a")).await.unwrap();
    let snap = m.snapshot();
    assert_eq!(snap.agents[0].status, Status::Running);
    assert_eq!(snap.servers[0].count, 1);
    assert_eq!(
        backend.live_sessions(),
        vec![snap.agents[0].session.unwrap()]
    );

    m.stop(&AgentId::new("a")).await.unwrap();
    assert_eq!(m.snapshot().agents[0].status, Status::Exited);
    assert!(m.snapshot().servers.is_empty());
    assert!(backend.live_sessions().is_empty());
    assert_eq!(backend.open_servers(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_restart_during_a_slow_create_leaves_exactly_one_session() {
    let backend = Shared::default();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let m = manager(&backend);
    let (first, second) = tokio::join!(m.start(request("a")), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.start(request("a")).await
    });
    assert_eq!(first, Err(LifecycleError::Cancelled));
    assert_eq!(second, Ok(()));
    let snap = m.snapshot();
    assert_eq!(
        backend.live_sessions(),
        vec![snap.agents[0].session.unwrap()]
    );
    assert_eq!(snap.servers[0].count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_create_that_lies_is_reconciled() {
    let backend = Shared::default();
    backend.with(|b| b.lying_creates = 1);
    let m = manager(&backend);
    assert!(matches!(
        m.start(request("a")).await,
        Err(LifecycleError::Backend(_))
    ));
    assert!(
        backend.live_sessions().is_empty(),
        "the orphan of the lying create survived"
    );
    assert_eq!(m.snapshot().agents[0].status, Status::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_abort_keeps_the_session_tracked_until_a_retry_succeeds() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a")).await.unwrap();
    backend.with(|b| b.failing_aborts = 1);
    assert!(m.stop(&AgentId::new("a")).await.is_err());
    let snap = m.snapshot();
    assert_eq!(snap.agents[0].status, Status::Stopping);
    assert_eq!(
        backend.live_sessions(),
        vec![snap.agents[0].session.unwrap()]
    );

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(m.snapshot().agents[0].status, Status::Exited);
    assert!(backend.live_sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn eviction_stops_everything_and_refuses_new_starts() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a")).await.unwrap();
    m.start(request("b")).await.unwrap();
    m.evict().await.unwrap();
    assert!(backend.live_sessions().is_empty());
    assert_eq!(backend.open_servers(), 0);
    assert_eq!(m.start(request("c")).await, Err(LifecycleError::Evicting));
}
