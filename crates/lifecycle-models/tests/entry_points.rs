//! The models' other entry points (update, refresh, registry, hydrate) against a small
//! in-memory SDK that answers at once (or after a set delay), in paused tokio time: each test
//! pins one step of the real code the module docs cite.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_lifecycle::{
    AgentId, BackendError, Lifecycle, LifecycleError, ManagerConfig, ServerId, SessionBackend,
    SessionEvent, SessionId, StartRequest, Status, Workdir,
};
use lifecycle_models::{
    AbortTokenManager, EventStream, KiloSdk, LegacyManager, ServerEvent, StartLockManager,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

#[derive(Default)]
struct State {
    /// Each server's workdir and whether it runs.
    servers: BTreeMap<ServerId, (Workdir, bool)>,
    /// Each session's server and whether it is live.
    sessions: BTreeMap<SessionId, (ServerId, bool)>,
    streams: Vec<(ServerId, UnboundedSender<Result<ServerEvent, BackendError>>)>,
    worker_delay: Duration,
    spawn_delay: Duration,
    failing_creates: u32,
}

#[derive(Clone, Default)]
struct Sdk(Arc<Mutex<State>>);

impl Sdk {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap())
    }

    fn open_servers(&self) -> Vec<ServerId> {
        self.with(|s| {
            s.servers
                .iter()
                .filter(|(_, v)| v.1)
                .map(|(k, _)| *k)
                .collect()
        })
    }

    fn live_sessions(&self) -> Vec<SessionId> {
        self.with(|s| {
            s.sessions
                .iter()
                .filter(|(_, v)| v.1)
                .map(|(k, _)| *k)
                .collect()
        })
    }

    fn open(&self, server: ServerId) -> bool {
        self.with(|s| s.servers.get(&server).is_some_and(|v| v.1))
    }
}

impl SessionBackend for Sdk {
    async fn ensure_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        self.spawn_server(workdir).await
    }
    async fn close_server(&self, server: ServerId) -> Result<(), BackendError> {
        self.kill_server(server);
        Ok(())
    }
    async fn create_session(
        &self,
        server: ServerId,
        _agent: &AgentId,
    ) -> Result<SessionId, BackendError> {
        self.with(|s| {
            if !s.servers.get(&server).is_some_and(|v| v.1) {
                return Err(BackendError::Gone("server".into()));
            }
            if s.failing_creates > 0 {
                s.failing_creates -= 1;
                return Err(BackendError::Failed("500".into()));
            }
            let id = SessionId(s.sessions.len() as u64 + 1);
            s.sessions.insert(id, (server, true));
            Ok(id)
        })
    }
    async fn prompt(&self, _session: SessionId, _text: &str) -> Result<(), BackendError> {
        Ok(())
    }
    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        self.with(|s| s.sessions.get_mut(&session).map(|v| v.1 = false));
        Ok(())
    }
    async fn list_sessions(
        &self,
        server: ServerId,
    ) -> Result<Vec<(SessionId, AgentId)>, BackendError> {
        Ok(self.with(|s| {
            s.sessions
                .iter()
                .filter(|(_, v)| v.0 == server && v.1)
                .map(|(k, _)| (*k, AgentId::new("?")))
                .collect()
        }))
    }
    async fn list_servers(&self) -> Result<Vec<(ServerId, Workdir)>, BackendError> {
        Ok(Vec::new())
    }
    async fn subscribe(
        &self,
        _session: SessionId,
    ) -> Result<UnboundedReceiver<SessionEvent>, BackendError> {
        Err(BackendError::Failed("not used by the models".into()))
    }
}

impl KiloSdk for Sdk {
    async fn spawn_server(&self, workdir: &Workdir) -> Result<ServerId, BackendError> {
        let delay = self.with(|s| s.spawn_delay);
        tokio::time::sleep(delay).await;
        Ok(self.with(|s| {
            let id = ServerId(s.servers.len() as u64 + 1);
            s.servers.insert(id, (workdir.clone(), true));
            id
        }))
    }
    fn kill_server(&self, server: ServerId) {
        self.with(|s| {
            if let Some(v) = s.servers.get_mut(&server) {
                v.1 = false;
            }
            for v in s.sessions.values_mut().filter(|v| v.0 == server) {
                v.1 = false;
            }
            // A closed server's streams end.
            s.streams.retain(|(on, _)| *on != server);
        });
    }
    async fn abort_on(
        &self,
        server: ServerId,
        session: Option<SessionId>,
    ) -> Result<(), BackendError> {
        if !self.open(server) {
            return Err(BackendError::Gone("server".into()));
        }
        match session {
            None => Err(BackendError::Failed("404".into())),
            Some(session) => self.abort_session(session).await,
        }
    }
    async fn prompt_on(
        &self,
        server: ServerId,
        _session: SessionId,
        _text: &str,
    ) -> Result<(), BackendError> {
        if self.open(server) {
            Ok(())
        } else {
            Err(BackendError::Gone("server".into()))
        }
    }
    async fn subscribe_server(&self, server: ServerId) -> Result<EventStream, BackendError> {
        let (tx, rx) = unbounded_channel();
        let _ = tx.send(Ok(ServerEvent::Connected));
        self.with(|s| s.streams.push((server, tx)));
        Ok(rx)
    }
    async fn worker(&self, _what: &'static str) {
        let delay = self.with(|s| s.worker_delay);
        tokio::time::sleep(delay).await;
    }
}

fn config() -> ManagerConfig {
    ManagerConfig {
        call_timeout: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(3600),
        ..ManagerConfig::default()
    }
}

fn request(agent: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new(&format!("/w/{agent}")),
        prompt: "go".into(),
    }
}

async fn started<M: Lifecycle<Sdk>>(sdk: &Sdk, agents: &[&str]) -> M {
    let manager = M::new(sdk.clone(), config());
    for agent in agents {
        manager
            .start(request(agent))
            .await
            .expect("the start succeeds");
    }
    manager
}

#[tokio::test(start_paused = true)]
async fn an_update_moves_the_agent_to_a_new_server_and_closes_the_old_one() {
    for model in 0..3 {
        let sdk = Sdk::default();
        let a0 = AgentId::new("a0");
        let snapshot = match model {
            0 => {
                let m: LegacyManager<Sdk> = started(&sdk, &["a0"]).await;
                m.update(&a0, "m2").await.unwrap();
                m.snapshot()
            }
            1 => {
                let m: AbortTokenManager<Sdk> = started(&sdk, &["a0"]).await;
                m.update(&a0, "m2").await.unwrap();
                m.snapshot()
            }
            _ => {
                let m: StartLockManager<Sdk> = started(&sdk, &["a0"]).await;
                m.update(&a0, "m2").await.unwrap();
                m.snapshot()
            }
        };
        // u4-u9: server 2 mapped with the new session counted once; server 1 closed.
        assert_eq!(sdk.open_servers(), vec![ServerId(2)], "model {model}");
        assert_eq!(snapshot.servers.len(), 1);
        assert_eq!(
            (snapshot.servers[0].server, snapshot.servers[0].count),
            (ServerId(2), 1)
        );
        assert_eq!(snapshot.agents[0].session, Some(SessionId(2)));
        assert_eq!(sdk.live_sessions(), vec![SessionId(2)]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_maps_the_old_server_back_and_leaves_the_new_one_running() {
    let sdk = Sdk::default();
    let m: AbortTokenManager<Sdk> = started(&sdk, &["a0"]).await;
    sdk.with(|s| s.failing_creates = 1);
    let a0 = AgentId::new("a0");
    assert!(matches!(
        m.update(&a0, "m2").await,
        Err(LifecycleError::Backend(_))
    ));
    let snapshot = m.snapshot();
    assert_eq!(snapshot.servers[0].server, ServerId(1));
    assert_eq!(snapshot.agents[0].session, Some(SessionId(1)));
    // The catch never closes the new server: it runs on, unmapped.
    assert_eq!(sdk.open_servers(), vec![ServerId(1), ServerId(2)]);
}

#[tokio::test(start_paused = true)]
async fn an_update_of_an_agent_with_no_live_record_is_refused() {
    let sdk = Sdk::default();
    let m: StartLockManager<Sdk> = started(&sdk, &["a0"]).await;
    let a1 = AgentId::new("a1");
    assert_eq!(m.update(&a1, "m2").await, Err(LifecycleError::NotRunning));
    m.stop(&AgentId::new("a0")).await.unwrap();
    assert_eq!(
        m.update(&AgentId::new("a0"), "m2").await,
        Err(LifecycleError::NotRunning)
    );
}

#[tokio::test(start_paused = true)]
async fn a_refresh_restarts_each_running_agents_server_keeping_its_session() {
    let sdk = Sdk::default();
    let m: StartLockManager<Sdk> = started(&sdk, &["a0", "a1"]).await;
    m.refresh().await.unwrap();
    let snapshot = m.snapshot();
    // r1-r6: new servers 3 and 4, each counting its agent once; the old ones closed.
    assert_eq!(sdk.open_servers(), vec![ServerId(3), ServerId(4)]);
    let counts: Vec<(ServerId, i64)> = snapshot
        .servers
        .iter()
        .map(|s| (s.server, s.count))
        .collect();
    assert_eq!(counts, vec![(ServerId(3), 1), (ServerId(4), 1)]);
    // r3: the list on the new server is empty, so each keeps its id (never creates).
    let sessions: Vec<_> = snapshot.agents.iter().map(|a| a.session).collect();
    assert_eq!(sessions, vec![Some(SessionId(1)), Some(SessionId(2))]);
    assert!(snapshot.agents.iter().all(|a| a.status == Status::Running));
}

#[tokio::test(start_paused = true)]
async fn a_refresh_whose_spawn_is_too_slow_rolls_back_and_reaps_the_late_server() {
    let sdk = Sdk::default();
    let m: StartLockManager<Sdk> = started(&sdk, &["a0"]).await;
    // Longer than REFRESH_AGENT_TIMEOUT_MS (a fifth of the call timeout, F1).
    sdk.with(|s| s.spawn_delay = Duration::from_millis(50));
    m.refresh().await.unwrap();
    assert_eq!(m.snapshot().servers[0].server, ServerId(1), "catch A/B");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The reaper closed the late server and left the old one mapped.
    assert_eq!(sdk.open_servers(), vec![ServerId(1)]);
    assert_eq!(m.snapshot().servers[0].server, ServerId(1));
}

#[tokio::test(start_paused = true)]
async fn pre_and_post_have_no_refresh() {
    let sdk = Sdk::default();
    let pre: LegacyManager<Sdk> = started(&sdk, &[]).await;
    let post: AbortTokenManager<Sdk> = started(&sdk, &[]).await;
    assert_eq!(pre.refresh().await, Err(LifecycleError::Unsupported));
    assert_eq!(post.refresh().await, Err(LifecycleError::Unsupported));
}

#[tokio::test(start_paused = true)]
async fn the_registry_is_what_sync_registry_last_wrote() {
    let sdk = Sdk::default();
    let pre: LegacyManager<Sdk> = started(&sdk, &["a0"]).await;
    assert!(pre.registry().is_empty(), "PRE has no registry");
    let m: AbortTokenManager<Sdk> = started(&sdk, &["a0", "a1"]).await;
    assert_eq!(m.registry(), vec![request("a0"), request("a1")]);
    m.stop(&AgentId::new("a0")).await.unwrap();
    assert_eq!(m.registry(), vec![request("a1")]);
    // stopAll does not sync: after drainAll's sync, the drain's stragglers stay written.
    m.evict().await.unwrap();
    assert!(m.registry().is_empty());
}

#[tokio::test(start_paused = true)]
async fn hydration_starts_the_registry_again_and_latest_holds_starts_at_its_gate() {
    let sdk = Sdk::default();
    sdk.with(|s| s.worker_delay = Duration::from_millis(10));
    let m = Arc::new(StartLockManager::new(sdk.clone(), config()));
    let hydrating = {
        let m = m.clone();
        tokio::spawn(async move { m.hydrate(vec![request("a0")]).await })
    };
    tokio::task::yield_now().await;
    // The registry stays the old one until the new boot's first sync (R3).
    assert_eq!(m.registry(), vec![request("a0")]);
    let waiting = {
        let m = m.clone();
        tokio::spawn(async move {
            m.start(request("a1")).await.unwrap();
            tokio::time::Instant::now()
        })
    };
    hydrating.await.unwrap().unwrap();
    let hydrated_at = tokio::time::Instant::now();
    let started_at = waiting.await.unwrap();
    assert!(started_at >= hydrated_at, "the start waited for the gate");
    assert_eq!(m.registry(), vec![request("a0"), request("a1")]);
}

#[tokio::test(start_paused = true)]
async fn post_hydration_has_no_gate() {
    let sdk = Sdk::default();
    sdk.with(|s| s.worker_delay = Duration::from_millis(10));
    let m = Arc::new(AbortTokenManager::new(sdk.clone(), config()));
    let hydrating = {
        let m = m.clone();
        tokio::spawn(async move { m.hydrate(vec![request("a0")]).await })
    };
    tokio::task::yield_now().await;
    m.start(request("a1")).await.unwrap();
    // a1 ran its whole start while the hydration was still on its way.
    assert!(!hydrating.is_finished());
    hydrating.await.unwrap().unwrap();
    assert_eq!(m.snapshot().agents.len(), 2);
}
