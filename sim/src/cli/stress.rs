//! The baseline the harness is measured against: a plain real-time stress test, the way the
//! race would be hunted without a simulator. The legacy manager runs on a multi-threaded tokio
//! runtime against an in-memory backend whose calls really sleep 1-20 ms (thread-local random,
//! on purpose: this is the nondeterministic world the simulator replaces), with the
//! late-restart workload, until a session leaks or the time cap runs out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_lifecycle::{
    AgentId, BackendError, Lifecycle, ManagerConfig, ServerId, SessionBackend, SessionEvent,
    SessionId, StartRequest, Workdir,
};
use lifecycle_models::{EventStream, KiloSdk, LegacyManager, ServerEvent};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

#[derive(Default)]
struct Ledger {
    servers: BTreeMap<ServerId, (Workdir, bool)>,
    sessions: BTreeMap<SessionId, (AgentId, ServerId, bool)>,
    streams: Vec<UnboundedSender<SessionEvent>>,
    server_streams: Vec<UnboundedSender<Result<ServerEvent, BackendError>>>,
}

#[derive(Clone, Default)]
struct SleepyBackend(Arc<Mutex<Ledger>>);

impl SleepyBackend {
    async fn call<T>(
        &self,
        f: impl FnOnce(&mut Ledger) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        tokio::time::sleep(Duration::from_millis(rand::random_range(1..=20))).await;
        f(&mut self.0.lock().expect("ledger poisoned"))
    }

    fn leaked(&self, tracked: &[SessionId]) -> bool {
        let ledger = self.0.lock().expect("ledger poisoned");
        ledger
            .sessions
            .iter()
            .any(|(id, s)| s.2 && !tracked.contains(id))
    }
}

fn gone(what: String) -> BackendError {
    BackendError::Gone(what)
}

impl SessionBackend for SleepyBackend {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        self.call(|l| {
            if let Some((id, _)) = l.servers.iter().find(|(_, s)| &s.0 == workdir && s.1) {
                return Ok(*id);
            }
            let id = ServerId(l.servers.len() as u64 + 1);
            l.servers.insert(id, (workdir.clone(), true));
            Ok(id)
        })
        .await
    }

    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        self.call(|l| {
            if let Some(s) = l.servers.get_mut(&server) {
                s.1 = false;
            }
            for s in l.sessions.values_mut().filter(|s| s.1 == server) {
                s.2 = false;
            }
            Ok(())
        })
        .await
    }

    async fn create_session(
        &self,
        server: ServerId,
        agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        self.call(|l| match l.servers.get(&server) {
            Some((_, true)) => {
                let id = SessionId(l.sessions.len() as u64 + 1);
                l.sessions.insert(id, (agent.clone(), server, true));
                Ok(id)
            }
            _ => Err(gone(format!("{server}"))),
        })
        .await
    }

    async fn prompt(&self, session: SessionId, _text: &str) -> Result<(), BackendError> {
        self.call(|l| match l.sessions.get(&session) {
            Some(s) if s.2 => Ok(()),
            _ => Err(gone(format!("{session}"))),
        })
        .await
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        self.call(|l| {
            if let Some(s) = l.sessions.get_mut(&session) {
                s.2 = false;
            }
            Ok(())
        })
        .await
    }

    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        self.call(|l| {
            Ok(l.sessions
                .iter()
                .filter(|(_, s)| s.1 == server && s.2)
                .map(|(id, s)| (*id, s.0.clone()))
                .collect())
        })
        .await
    }

    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        self.call(|l| {
            Ok(l.servers
                .iter()
                .filter(|(_, s)| s.1)
                .map(|(id, s)| (*id, s.0.clone()))
                .collect())
        })
        .await
    }

    async fn subscribe(
        &self,
        _session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        self.call(|l| {
            let (tx, rx) = unbounded_channel();
            l.streams.push(tx);
            Ok(rx)
        })
        .await
    }
}

impl KiloSdk for SleepyBackend {
    async fn spawn_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        self.call(|l| {
            let id = ServerId(l.servers.len() as u64 + 1);
            l.servers.insert(id, (workdir.clone(), true));
            Ok(id)
        })
        .await
    }

    fn kill_server(&self, server: ServerId) {
        let mut l = self.0.lock().expect("ledger poisoned");
        if let Some(s) = l.servers.get_mut(&server) {
            s.1 = false;
        }
        for s in l.sessions.values_mut().filter(|s| s.1 == server) {
            s.2 = false;
        }
    }

    async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        self.call(|l| {
            if !l.servers.get(&server).is_some_and(|s| s.1) {
                return Err(gone(format!("{server}")));
            }
            match session.and_then(|id| l.sessions.get_mut(&id)) {
                Some(s) => {
                    s.2 = false;
                    Ok(())
                }
                None => Err(BackendError::Failed("session not found".into())),
            }
        })
        .await
    }

    async fn subscribe_server(&self, _server: ServerId) -> Result<EventStream, BackendError> {
        self.call(|l| {
            let (tx, rx) = unbounded_channel();
            let _ = tx.send(Ok(ServerEvent::Connected));
            l.server_streams.push(tx);
            Ok(rx)
        })
        .await
    }

    async fn worker(&self, _what: &'static str) {
        tokio::time::sleep(Duration::from_millis(rand::random_range(1..=20))).await;
    }
}

fn request(agent: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new("w0"),
        prompt: "task".into(),
    }
}

/// One late-restart scenario in real time; whether legacy leaked a session.
async fn one_run() -> bool {
    let backend = SleepyBackend::default();
    let config = ManagerConfig {
        call_timeout: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(60),
        retry_pause: Duration::from_millis(10),
        request_lifetime: Duration::from_millis(200),
    };
    let manager = Arc::new(LegacyManager::new(backend.clone(), config));
    let mut tasks = Vec::new();
    for agent in ["a0", "a1", "a2"] {
        let m = manager.clone();
        tasks.push(tokio::spawn(async move { m.start(request(agent)).await }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let m = manager.clone();
    tasks.push(tokio::spawn(async move { m.start(request("a0")).await }));
    for task in tasks {
        let _ = task.await;
    }
    let tracked: Vec<SessionId> = manager
        .snapshot()
        .agents
        .iter()
        .filter(|r| !r.status.is_terminal())
        .filter_map(|r| r.session)
        .collect();
    backend.leaked(&tracked)
}

/// Runs late-restart scenarios in real time until legacy leaks a session or `cap` passes:
/// scenarios run and time taken, if it was found.
pub fn hunt_in_real_time(cap: Duration) -> Option<(u64, Duration)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let began = Instant::now();
    runtime.block_on(async {
        let mut runs = 0;
        while began.elapsed() < cap {
            runs += 1;
            if one_run().await {
                return Some((runs, began.elapsed()));
            }
        }
        None
    })
}
