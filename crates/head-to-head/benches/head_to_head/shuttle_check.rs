//! shuttle (`check_random`, `check_pct`), as a team using it writes the test. shuttle schedules
//! only its own primitives, so the managers' own source is compiled against shuttle's tokio
//! (`on-shuttle/`: shuttle-tokio-impl, the route its authors advise). Every operation of the
//! race is spawned at once and shuttle picks the interleaving; the backend's calls are
//! scheduling points; faults are drawn from shuttle's rng. shuttle does not model time:
//! shuttle-tokio's `sleep` is a yield and its `timeout` never fires on its own, so a race that
//! needs a call to time out (a hang, a late effect, a silently lost reply) cannot be expressed,
//! and a manager that reads the clock (the drain of an eviction polls `Instant::now()`) runs
//! on the wall clock, which breaks shuttle's replay. The checks are the harness's, restated
//! on the recompiled types: I3 when a server closes, I1 once every operation has returned.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use head_to_head::contenders::{Contender, first_seed};
use head_to_head::{Attempt, Race, cpu};
use lifecycle_sim::Model;
use lifecycle_sim::scenario::names::{agent_name, workdir_name};
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::OpKind;
use shuttle::rand::Rng as _;
use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};
use shuttle_agent_lifecycle::{
    AgentId, AgentManager, BackendError, Lifecycle, ManagerConfig, ServerId, SessionBackend,
    SessionEvent, SessionId, Snapshot, StartRequest, Status, Workdir,
};
use shuttle_lifecycle_models::{
    AbortTokenManager, EventStream, KiloSdk, LegacyManager, ServerEvent, StartLockManager,
};
use shuttle_tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

const FOUND: &str = "race found: ";

type ServerStream = UnboundedSender<Result<ServerEvent, BackendError>>;
type SnapshotFn = Box<dyn Fn() -> Option<Snapshot> + Send + Sync>;

#[derive(Default)]
struct Ledger {
    /// Workdir, open, server-wide streams.
    servers: Vec<(Workdir, bool, Vec<ServerStream>)>,
    /// Agent, server, live, event streams.
    sessions: Vec<(AgentId, ServerId, bool, Vec<UnboundedSender<SessionEvent>>)>,
    /// Dead servers' streams: SDK 7.2.14 retries them for ever in silence.
    silent: Vec<ServerStream>,
    /// Events to send, and streams to end, once no lock is held: a shuttle channel's send
    /// and its last sender's drop are scheduling points, and another task may then want this
    /// ledger (or the manager's own std lock, under which `kill_server` is called).
    outbox: Vec<(ServerStream, Result<ServerEvent, BackendError>)>,
    ended: Vec<UnboundedSender<SessionEvent>>,
    ended_servers: Vec<ServerStream>,
}

#[derive(Clone)]
struct Backend {
    ledger: Arc<Mutex<Ledger>>,
    faults: lifecycle_sim::FaultConfig,
    snapshot: Arc<OnceLock<SnapshotFn>>,
    invariant: String,
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
    fn flush(&self) {
        let (outbox, ended, ended_servers) = {
            let mut ledger = self.ledger();
            (
                std::mem::take(&mut ledger.outbox),
                std::mem::take(&mut ledger.ended),
                std::mem::take(&mut ledger.ended_servers),
            )
        };
        for (stream, event) in outbox {
            let _ = stream.send(event);
        }
        drop((ended, ended_servers));
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
        let errors = self.faults.stream_errors;
        let streams = std::mem::take(&mut ledger.servers[server.0 as usize - 1].2);
        for stream in streams {
            if percent(errors) {
                let lost = Err(gone(format!("{server}: event stream lost")));
                ledger.outbox.push((stream.clone(), lost));
                ledger.ended_servers.push(stream);
            } else {
                ledger.silent.push(stream);
            }
        }
        ledger.servers[server.0 as usize - 1].1 = false;
        let mut ended = Vec::new();
        for s in ledger.sessions.iter_mut().filter(|s| s.1 == server) {
            s.2 = false;
            ended.append(&mut s.3);
        }
        ledger.ended.append(&mut ended);
    }

    /// I1 once everything returned: every live session is a live record's, and every live
    /// record's session is live.
    fn settled(&self, snapshot: &Snapshot) {
        let ledger = self.ledger();
        let live_records: Vec<_> = snapshot
            .agents
            .iter()
            .filter(|r| !r.status.is_terminal())
            .collect();
        for (i, s) in ledger.sessions.iter().enumerate() {
            let id = SessionId(i as u64 + 1);
            if s.2 && !live_records.iter().any(|r| r.session == Some(id)) && self.invariant == "I1"
            {
                panic!("{FOUND}I1: {id} of agent {} is live and untracked", s.0);
            }
        }
        for r in live_records {
            if let Some(id) = r.session
                && !ledger.sessions[id.0 as usize - 1].2
                && self.invariant == "I1"
            {
                panic!(
                    "{FOUND}I1: agent {}'s record tracks {id}, which is dead",
                    r.agent
                );
            }
        }
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
        self.call(true, false, |l, _| {
            match l.servers.get(server.0 as usize - 1) {
                Some(s) if s.1 => {
                    l.sessions.push((agent.clone(), server, true, Vec::new()));
                    Ok(SessionId(l.sessions.len() as u64))
                }
                _ => Err(gone(format!("{server} is not running"))),
            }
        })
        .await
    }

    async fn prompt(&self, session: SessionId, _text: &str) -> Result<(), BackendError> {
        self.call(false, false, |l, _| {
            match l.sessions.get(session.0 as usize - 1) {
                Some(s) if s.2 => Ok(()),
                _ => Err(gone(format!("{session} is not live"))),
            }
        })
        .await
    }

    async fn abort_session(&self, session: SessionId) -> Result<(), BackendError> {
        self.call(false, true, |l, _| {
            match l.sessions.get_mut(session.0 as usize - 1) {
                Some(s) if s.2 => {
                    s.2 = false;
                    let mut streams = std::mem::take(&mut s.3);
                    l.ended.append(&mut streams);
                    Ok(())
                }
                _ => Err(gone(format!("{session} is not live"))),
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
        self.call(false, true, |l, _| {
            if !l.servers.get(server.0 as usize - 1).is_some_and(|s| s.1) {
                return Err(gone(format!("{server} is not running")));
            }
            match session.and_then(|id| l.sessions.get_mut(id.0 as usize - 1)) {
                Some(s) if s.1 == server => {
                    s.2 = false;
                    let mut streams = std::mem::take(&mut s.3);
                    l.ended.append(&mut streams);
                    Ok(())
                }
                _ => Err(BackendError::Failed("session not found".into())),
            }
        })
        .await
    }

    async fn subscribe_server(&self, server: ServerId) -> Result<EventStream, BackendError> {
        self.call(false, false, |l, _| {
            let (tx, rx) = unbounded_channel();
            l.outbox.push((tx.clone(), Ok(ServerEvent::Connected)));
            match l.servers.get_mut(server.0 as usize - 1) {
                Some(s) if s.1 => s.2.push(tx),
                _ => l.silent.push(tx),
            }
            Ok(rx)
        })
        .await
    }

    async fn worker(&self, _what: &'static str) {
        shuttle_tokio::task::yield_now().await;
    }
}

/// One execution: every operation spawned at once, then the settled check.
async fn play<M: Lifecycle<Backend>>(spec: &ScenarioSpec, invariant: &str) {
    let backend = Backend {
        ledger: Arc::default(),
        faults: spec.faults,
        snapshot: Arc::default(),
        invariant: invariant.to_string(),
    };
    let config = ManagerConfig {
        call_timeout: Duration::from_millis(spec.timing.call_timeout_ms),
        idle_timeout: Duration::from_millis(spec.timing.idle_timeout_ms),
        retry_pause: Duration::from_millis(spec.timing.retry_pause_ms),
        request_lifetime: spec.manager_config().request_lifetime,
    };
    let manager = Arc::new(M::new(backend.clone(), config));
    let weak = Arc::downgrade(&manager);
    let _ = backend
        .snapshot
        .set(Box::new(move || weak.upgrade().map(|m| m.snapshot())));
    let mut ops = Vec::new();
    for op in &spec.workload.ops {
        let manager = manager.clone();
        let kind = op.kind;
        let workdirs = spec.workload.workdirs.clone();
        ops.push(shuttle_tokio::spawn(async move {
            let _ = match kind {
                OpKind::Start(a) => {
                    let request = StartRequest {
                        agent: AgentId::new(&agent_name(a)),
                        workdir: Workdir::new(&workdir_name(workdirs[usize::from(a)])),
                        prompt: format!("task for {}", agent_name(a)),
                    };
                    manager.start(request).await
                }
                OpKind::Stop(a) => manager.stop(&AgentId::new(&agent_name(a))).await,
                OpKind::Evict => manager.evict().await,
            };
        }));
    }
    for op in ops {
        let _ = op.await;
    }
    // Let the manager's own tasks run out (sleeps are yields here).
    for _ in 0..64 {
        backend.flush();
        shuttle_tokio::task::yield_now().await;
    }
    backend.settled(&manager.snapshot());
}

fn test_fn(race: &Race) -> impl Fn() + Send + Sync + 'static {
    let (model, spec, invariant) = (race.model, race.spec.clone(), race.invariant.code());
    move || {
        let (spec, invariant) = (spec.clone(), invariant.clone());
        shuttle::future::block_on(async move {
            match model {
                Model::Legacy => play::<LegacyManager<Backend>>(&spec, &invariant).await,
                Model::AbortToken => play::<AbortTokenManager<Backend>>(&spec, &invariant).await,
                Model::StartLock => play::<StartLockManager<Backend>>(&spec, &invariant).await,
                Model::Owned => play::<AgentManager<Backend>>(&spec, &invariant).await,
            }
        })
    }
}

pub struct Shuttle {
    pub pct: bool,
}

impl Contender for Shuttle {
    fn name(&self) -> String {
        if self.pct {
            "shuttle check_pct (depth 3)".into()
        } else {
            "shuttle check_random".into()
        }
    }

    fn cannot(&self, race: &Race) -> Option<String> {
        let f = race.spec.faults;
        if f.hangs > 0 || f.late_effects > 0 || f.lost_replies > 0 {
            return Some(
                "needs a call to time out (a hang, a late effect or a lost reply): shuttle does not model time, and shuttle-tokio's timeouts never fire on their own".into(),
            );
        }
        if race
            .spec
            .workload
            .ops
            .iter()
            .any(|op| op.kind == OpKind::Evict)
        {
            return Some(
                "an eviction's drain polls the wall clock (`Instant::now()`): under shuttle it runs in real time, and shuttle's replay breaks".into(),
            );
        }
        None
    }

    fn campaign(&self, race: &Race, k: u64, budget: Duration) -> Attempt {
        let began = cpu::thread();
        let runs = Arc::new(AtomicU64::new(0));
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let mut found = false;
        for round in 0u64.. {
            if cpu::thread() - began >= budget {
                break;
            }
            let seed = first_seed(k) + round;
            let mut config = Config::new();
            config.failure_persistence = FailurePersistence::None;
            let counted = runs.clone();
            let test = test_fn(race);
            let counted_test = move || {
                counted.fetch_add(1, Ordering::Relaxed);
                test();
            };
            let outcome = if self.pct {
                run(
                    PctScheduler::new_from_seed(seed, 3, 16),
                    config,
                    counted_test,
                )
            } else {
                run(
                    RandomScheduler::new_from_seed(seed, 16),
                    config,
                    counted_test,
                )
            };
            if let Err(message) = outcome
                && message.contains(FOUND)
            {
                found = true;
                break;
            }
        }
        std::panic::set_hook(hook);
        Attempt::new(found, runs.load(Ordering::Relaxed), cpu::thread() - began)
    }
}

/// Runs shuttle's runner; a failure's message.
fn run<S: Scheduler + 'static>(
    scheduler: S,
    config: Config,
    f: impl Fn() + Send + Sync + 'static,
) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| {
        Runner::new(scheduler, config).run(f);
    }))
    .map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}
