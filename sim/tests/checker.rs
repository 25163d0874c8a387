//! The checker excuses nothing it need not: panics are findings of their own, I7 is judged on
//! an eviction's error too, a manager's "suspect" marking does not excuse a leak at settle, the
//! settle window follows the manager's timers, and a manager that stops making progress with
//! the faults off fails L2. Each is shown on a test-only manager: `AgentManager` with one
//! planted defect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use agent_lifecycle::{
    AgentId, AgentManager, BackendError, Lifecycle, LifecycleError, ManagerConfig, Snapshot,
    StartRequest, Status,
};
use lifecycle_sim::decisions::Decisions;
use lifecycle_sim::run::{RunConfig, run_scenario, settle_window_ms};
use lifecycle_sim::scenario::faults::FaultConfig;
use lifecycle_sim::scenario::workload::{Op, OpKind, OpMix, Trigger, Workload};
use lifecycle_sim::world::backend::FakeBackend;
use lifecycle_sim::world::history::{History, What};
use lifecycle_sim::{FaultMode, Invariant, Model, Outcome, Scenario, ScenarioSpec, Settings};

/// A scenario with these agents' workdirs and these operations at these times.
fn spec(workdirs: &[u8], ops: &[(OpKind, u64)], faults: FaultConfig) -> ScenarioSpec {
    let workload = Workload {
        workdirs: workdirs.to_vec(),
        ops: ops
            .iter()
            .map(|&(kind, at)| Op {
                kind,
                when: Trigger::At(at),
            })
            .collect(),
        mix: OpMix::all(),
    };
    Settings::default().spec(workload, faults)
}

/// `config` with an idle timeout no run reaches. Every turn now ends with `session.idle` (as
/// `kilo serve`'s does), so a double whose defect needs its agent still running at a later
/// step keeps it running this way.
fn never_idles(config: ManagerConfig) -> ManagerConfig {
    ManagerConfig {
        idle_timeout: std::time::Duration::from_secs(3600),
        ..config
    }
}

/// `spec` with an idle timeout of 1 s: L3 (idle exit) holds a manager to the scenario's idle
/// timeout, so a double run with [`never_idles`] has its defect judged first (at settle, at
/// an eviction) and is caught by L3 only after that.
fn idling_late(mut spec: ScenarioSpec) -> ScenarioSpec {
    spec.timing.idle_timeout_ms = 1_000;
    spec
}

fn run<M: Lifecycle<FakeBackend>>(spec: &ScenarioSpec, seed: u64) -> Outcome {
    run_scenario::<M>(
        spec,
        Decisions::from_seed(seed),
        seed,
        &RunConfig::default(),
    )
}

/// When the first event matching `f` happened.
fn first_at(history: &History, f: impl Fn(&What) -> bool) -> Option<u64> {
    history.events.iter().find(|e| f(&e.what)).map(|e| e.at_ms)
}

fn issued_at(history: &History, op: u32) -> u64 {
    first_at(history, |w| matches!(w, What::OpIssued(id, _) if *id == op))
        .unwrap_or_else(|| panic!("op#{op} was never issued"))
}

fn violated(outcome: &Outcome) -> Option<Invariant> {
    outcome.violation.as_ref().map(|v| v.invariant)
}

fn report(outcome: &Outcome) -> String {
    let verdict = match &outcome.violation {
        Some(v) => format!("{}: {}", v.invariant, v.detail),
        None => "pass".into(),
    };
    format!("{verdict}\n{}", outcome.history.timeline())
}

/// Delegates every call to `AgentManager`.
macro_rules! delegate {
    (snapshot) => {
        fn snapshot(&self) -> Snapshot {
            self.inner.snapshot()
        }
    };
    (evict) => {
        async fn evict(&self) -> Result<(), LifecycleError> {
            self.inner.evict().await
        }
    };
    (start) => {
        async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
            self.inner.start(request).await
        }
    };
    (stop) => {
        async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
            self.inner.stop(agent).await
        }
    };
}

// ---------------------------------------------------------------------------------------
// Panics

const PLANTED: &str = "planted panic: the subscription task of a stopped agent";

/// On its first stop, spawns a background task (as a subscription or timer would be) that
/// panics.
struct PanicsInSpawnedTask {
    inner: AgentManager<FakeBackend>,
    stopped: AtomicBool,
}

impl Lifecycle<FakeBackend> for PanicsInSpawnedTask {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, config),
            stopped: AtomicBool::new(false),
        }
    }
    delegate!(start);
    delegate!(evict);
    delegate!(snapshot);

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            tokio::spawn(async { panic!("{PLANTED}") });
        }
        self.inner.stop(agent).await
    }
}

/// Panics inside its first stop call itself (the operation's own task).
struct PanicsInStop {
    inner: AgentManager<FakeBackend>,
}

impl Lifecycle<FakeBackend> for PanicsInStop {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, config),
        }
    }
    delegate!(start);
    delegate!(evict);
    delegate!(snapshot);

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        let snapshot = self.inner.snapshot();
        if snapshot.agents.iter().any(|r| &r.agent == agent) {
            panic!("planted panic in stop({agent})");
        }
        self.inner.stop(agent).await
    }
}

fn start_then_stop(faults: FaultConfig) -> ScenarioSpec {
    spec(
        &[0],
        &[(OpKind::Start(0), 0), (OpKind::Stop(0), 90)],
        faults,
    )
}

#[test]
fn a_panic_in_a_spawned_task_is_reported_at_its_step_with_its_message() {
    let spec = start_then_stop(FaultConfig::none());
    for seed in 0..20 {
        let outcome = run::<PanicsInSpawnedTask>(&spec, seed);
        let v = outcome
            .violation
            .as_ref()
            .unwrap_or_else(|| panic!("seed {seed}: no violation\n{}", report(&outcome)));
        assert_eq!(
            v.invariant,
            Invariant::Panic,
            "seed {seed}: {}",
            report(&outcome)
        );
        assert!(v.detail.contains(PLANTED), "seed {seed}: {}", v.detail);
        assert!(
            v.detail.contains("checker.rs:"),
            "no location: {}",
            v.detail
        );
        assert!(
            v.detail.starts_with("a task of the container panicked"),
            "{}",
            v.detail
        );
        // The stop spawned the task when it was issued; the violation ends that very step
        // (elapsed is the end of the step), not 10 s later as L1.
        let stop_at = issued_at(&outcome.history, 1);
        assert_eq!(
            outcome.elapsed.as_millis() as u64,
            stop_at + 1,
            "seed {seed}: {}",
            report(&outcome)
        );
        let last = outcome.history.events.last().unwrap().at_ms;
        assert!(last <= stop_at, "seed {seed}: events after the panic");
    }
}

#[test]
fn a_panic_in_an_operation_names_the_operation() {
    let spec = start_then_stop(FaultConfig::none());
    let outcome = run::<PanicsInStop>(&spec, 3);
    let v = outcome.violation.as_ref().expect("a violation");
    assert_eq!(v.invariant, Invariant::Panic, "{}", report(&outcome));
    assert!(
        v.detail
            .starts_with("op#1's task panicked: 'planted panic in stop(a0)' at "),
        "{}",
        v.detail
    );
    assert_eq!(
        outcome.elapsed.as_millis() as u64,
        issued_at(&outcome.history, 1) + 1
    );
}

/// Panics as the container boots (its software's own task, not a spawned one).
struct PanicsOnBoot;

impl Lifecycle<FakeBackend> for PanicsOnBoot {
    fn new(_backend: FakeBackend, _config: ManagerConfig) -> Self {
        panic!("planted panic while booting")
    }

    async fn start(&self, _request: StartRequest) -> Result<(), LifecycleError> {
        Ok(())
    }

    async fn stop(&self, _agent: &AgentId) -> Result<(), LifecycleError> {
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::default()
    }
}

#[test]
fn a_panic_while_the_container_boots_is_a_finding_not_a_harness_crash() {
    let outcome = run::<PanicsOnBoot>(&start_then_stop(FaultConfig::none()), 0);
    let v = outcome.violation.as_ref().expect("a violation");
    assert_eq!(v.invariant, Invariant::Panic);
    assert!(
        v.detail
            .starts_with("a task of the container panicked: 'planted panic while booting' at "),
        "{}",
        v.detail
    );
    // The first step (the step that fails ends before the clock moves on).
    assert!(outcome.elapsed.as_millis() <= 1);
}

#[test]
fn panic_findings_replay_identically_and_stay_on_their_own_thread() {
    // Scenarios on several threads at once (as `--jobs N` runs them): each panic is reported
    // by its own scenario, and the scenarios beside it are not disturbed.
    let spec = Arc::new(start_then_stop(FaultConfig::none()));
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let spec = spec.clone();
            std::thread::spawn(move || {
                let outcome = if i % 2 == 0 {
                    run::<PanicsInSpawnedTask>(&spec, i)
                } else {
                    run::<AgentManager<FakeBackend>>(&spec, i)
                };
                (
                    i,
                    violated(&outcome),
                    outcome.history.digest(),
                    outcome.violation.map(|v| v.detail),
                )
            })
        })
        .collect();
    for t in threads {
        let (i, found, digest, detail) = t.join().unwrap();
        if i % 2 == 0 {
            assert_eq!(found, Some(Invariant::Panic), "thread {i}");
            let again = run::<PanicsInSpawnedTask>(&spec, i);
            assert_eq!(again.history.digest(), digest);
            assert_eq!(again.violation.map(|v| v.detail), detail);
        } else {
            assert_eq!(found, None, "thread {i}: {detail:?}");
        }
    }
}

#[test]
fn a_panic_outside_a_scenario_is_an_ordinary_panic() {
    // The hook is installed by the first scenario; afterwards a panic on a thread that runs
    // no container code still unwinds as usual.
    let _ = run::<AgentManager<FakeBackend>>(&start_then_stop(FaultConfig::none()), 0);
    let caught = std::panic::catch_unwind(|| panic!("an ordinary panic"));
    let payload = caught.expect_err("it panicked");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"an ordinary panic"));
}

#[test]
fn the_new_findings_have_codes() {
    assert_eq!(Invariant::parse("panic"), Some(Invariant::Panic));
    assert_eq!(Invariant::parse("PANIC"), Some(Invariant::Panic));
    assert_eq!(Invariant::parse("l2"), Some(Invariant::L2));
    assert_eq!(Invariant::Panic.code(), "panic");
    assert_eq!(Invariant::L2.code(), "L2");
    assert_eq!(Invariant::Panic.to_string(), "panic a task panicked");
    assert_eq!(Invariant::L2.to_string(), "L2 progress");
    for i in Invariant::ALL {
        assert_eq!(Invariant::parse(&i.code()), Some(i));
    }
}

// ---------------------------------------------------------------------------------------
// I7 on an eviction's error

/// Evicts nothing, says it failed, and forgets what it tracked: its sessions are left live
/// and untracked.
struct EvictGivesUp {
    inner: AgentManager<FakeBackend>,
    forgot: AtomicBool,
}

impl Lifecycle<FakeBackend> for EvictGivesUp {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, never_idles(config)),
            forgot: Default::default(),
        }
    }
    delegate!(start);
    delegate!(stop);

    fn snapshot(&self) -> Snapshot {
        if self.forgot.load(Ordering::Relaxed) {
            Snapshot::default()
        } else {
            self.inner.snapshot()
        }
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.forgot.store(true, Ordering::Relaxed);
        Err(LifecycleError::Backend(BackendError::Failed(
            "close failed".into(),
        )))
    }
}

/// Evicts nothing and says so, but still tracks everything it leaves: an honest failure.
struct EvictFailsHonestly {
    inner: AgentManager<FakeBackend>,
}

impl Lifecycle<FakeBackend> for EvictFailsHonestly {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, config),
        }
    }
    delegate!(start);
    delegate!(stop);
    delegate!(snapshot);

    async fn evict(&self) -> Result<(), LifecycleError> {
        Err(LifecycleError::Backend(BackendError::Failed(
            "close failed".into(),
        )))
    }
}

#[test]
fn an_eviction_error_that_leaves_everything_tracked_is_not_i7() {
    let spec = spec(
        &[0],
        &[(OpKind::Start(0), 0), (OpKind::Evict, 150)],
        FaultConfig::none(),
    );
    for seed in 0..10 {
        let outcome = run::<EvictFailsHonestly>(&spec, seed);
        assert_ne!(
            violated(&outcome),
            Some(Invariant::I7),
            "{}",
            report(&outcome)
        );
    }
}

#[test]
fn an_eviction_that_returns_an_error_is_still_judged() {
    let spec = idling_late(spec(
        &[0],
        &[(OpKind::Start(0), 0), (OpKind::Evict, 150)],
        FaultConfig::none(),
    ));
    for seed in 0..10 {
        let outcome = run::<EvictGivesUp>(&spec, seed);
        let v = outcome.violation.as_ref().expect("a violation");
        assert_eq!(v.invariant, Invariant::I7, "{}", report(&outcome));
        assert!(
            v.detail
                .starts_with("op#1 evict returned error (backend failed: close failed), yet s1"),
            "{}",
            v.detail
        );
        // The same scenario holds on the real manager.
        let owned = run::<AgentManager<FakeBackend>>(&spec, seed);
        assert_eq!(violated(&owned), None, "{}", report(&owned));
    }
}

// ---------------------------------------------------------------------------------------
// The suspect excuse

/// Forgets a0's session in its snapshot and claims instead that a failed create on its
/// server may have left one: the live session stays excused, for ever, unless the checker
/// limits the excuse.
struct ForgetsButSuspects {
    inner: AgentManager<FakeBackend>,
}

impl Lifecycle<FakeBackend> for ForgetsButSuspects {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, never_idles(config)),
        }
    }
    delegate!(start);
    delegate!(stop);
    delegate!(evict);

    fn snapshot(&self) -> Snapshot {
        let mut snapshot = self.inner.snapshot();
        let server = snapshot.servers.first().map(|s| s.server);
        for r in &mut snapshot.agents {
            if r.session.is_some() && !r.status.is_terminal() {
                r.session = None;
                r.suspect_on = server;
            }
        }
        snapshot
    }
}

#[test]
fn a_suspect_marking_does_not_excuse_a_live_session_at_settle() {
    let spec = idling_late(spec(&[0], &[(OpKind::Start(0), 0)], FaultConfig::none()));
    let outcome = run::<ForgetsButSuspects>(&spec, 0);
    let v = outcome.violation.as_ref().expect("a violation");
    assert_eq!(v.invariant, Invariant::I1, "{}", report(&outcome));
    assert_eq!(
        v.detail,
        "settled, s1 (agent a0, on srv1, created by op#0) is live, but no live record tracks it \
         (agent a0's Running record only suspects a session on srv1)"
    );
    // Found at settle, not before: per step, the live record's suspicion excuses it.
    let healed = first_at(&outcome.history, |w| *w == What::FaultsHealed).unwrap();
    assert!(outcome.elapsed.as_millis() as u64 > healed);
    assert_eq!(first_at(&outcome.history, |w| *w == What::Recovering), None);
}

/// Marks its record Exited while the session still runs, and suspects it.
struct EndsButSuspects {
    inner: AgentManager<FakeBackend>,
}

impl Lifecycle<FakeBackend> for EndsButSuspects {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, config),
        }
    }
    delegate!(start);
    delegate!(stop);
    delegate!(evict);

    fn snapshot(&self) -> Snapshot {
        let mut snapshot = self.inner.snapshot();
        let server = snapshot.servers.first().map(|s| s.server);
        let mut ended = Vec::new();
        for r in &mut snapshot.agents {
            if r.status == Status::Running {
                r.status = Status::Exited;
                r.session = None;
                r.suspect_on = server;
                ended.push(r.agent.clone());
            }
        }
        // Nor does it show the ended record's stream (that alone would be I5): only the
        // session is left for I1 to judge.
        snapshot.side.retain(|s| !ended.contains(&s.agent));
        snapshot
    }
}

#[test]
fn a_finished_record_excuses_nothing() {
    let spec = spec(&[0], &[(OpKind::Start(0), 0)], FaultConfig::none());
    let outcome = run::<EndsButSuspects>(&spec, 0);
    let v = outcome.violation.as_ref().expect("a violation");
    assert_eq!(v.invariant, Invariant::I1, "{}", report(&outcome));
    assert!(
        v.detail.contains("is live, but no record tracks it"),
        "{}",
        v.detail
    );
}

// ---------------------------------------------------------------------------------------
// The settle window

#[test]
fn the_settle_window_follows_the_manager_timers() {
    let mut spec = spec(
        &[0],
        &[(OpKind::Start(0), 0)],
        FaultConfig {
            idle_events: 100,
            ..FaultConfig::none()
        },
    );
    spec.timing.idle_timeout_ms = 500;
    assert_eq!(settle_window_ms(&spec.manager_config()), 500 + 10 + 1);
    assert_eq!(
        settle_window_ms(
            &Settings::default()
                .spec(spec.workload.clone(), FaultConfig::none())
                .manager_config()
        ),
        // The default request lifetime (call timeout + 40 ms + 1) is the longest timer.
        141 + 10 + 1
    );
    for seed in 0..10 {
        let outcome = run::<AgentManager<FakeBackend>>(&spec, seed);
        assert_eq!(violated(&outcome), None, "{}", report(&outcome));
        let h = &outcome.history;
        let healed = first_at(h, |w| *w == What::FaultsHealed).unwrap();
        let recovering = first_at(h, |w| *w == What::Recovering).unwrap();
        let stopping = first_at(h, |w| *w == What::StoppingAll).unwrap();
        assert!(
            recovering - healed >= 500,
            "seed {seed}: settled after {} ms\n{}",
            recovering - healed,
            report(&outcome)
        );
        // The idle exit (the manager's own abort, 500 ms after the idle event) fell inside
        // the settle phase, before the recovery.
        let idle_exit = first_at(h, |w| {
            matches!(
                w,
                What::CallStarted {
                    op: None,
                    kind: lifecycle_sim::scenario::workload::CallKind::AbortSession,
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("seed {seed}: no idle exit\n{}", report(&outcome)));
        let idle = first_at(h, |w| matches!(w, What::SessionIdle(_))).unwrap();
        assert!(idle_exit >= idle + 500);
        assert!(healed < idle_exit && idle_exit < recovering, "seed {seed}");
        // The second settle, after the recovery starts returned, is as long.
        let recovered = h
            .events
            .iter()
            .filter(|e| {
                (recovering..=stopping).contains(&e.at_ms) && matches!(e.what, What::OpReturned(..))
            })
            .map(|e| e.at_ms)
            .max()
            .unwrap();
        assert!(stopping - recovered >= 500, "seed {seed}");
    }
}

// ---------------------------------------------------------------------------------------
// Progress (L2) and the recovery phase

fn server_closed() -> LifecycleError {
    LifecycleError::Backend(BackendError::Failed("server closed".into()))
}

/// After its first stop of any agent, every start fails: a manager that keeps pointing at
/// the server it closed.
struct KeepsClosedServer {
    inner: AgentManager<FakeBackend>,
    stopped: AtomicBool,
}

impl Lifecycle<FakeBackend> for KeepsClosedServer {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, config),
            stopped: AtomicBool::new(false),
        }
    }
    delegate!(evict);
    delegate!(snapshot);

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(server_closed());
        }
        self.inner.start(request).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.stopped.store(true, Ordering::SeqCst);
        self.inner.stop(agent).await
    }
}

/// Stops nothing and says it failed.
struct StopGivesUp {
    inner: AgentManager<FakeBackend>,
}

impl Lifecycle<FakeBackend> for StopGivesUp {
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, never_idles(config)),
        }
    }
    delegate!(start);
    delegate!(evict);
    delegate!(snapshot);

    async fn stop(&self, _agent: &AgentId) -> Result<(), LifecycleError> {
        Err(LifecycleError::Backend(BackendError::Failed("busy".into())))
    }
}

#[test]
fn a_healthy_start_that_fails_is_a_progress_violation() {
    // start, stop, start again: the second start fails in the chaos phase, faults off.
    let spec = spec(
        &[0, 0],
        &[
            (OpKind::Start(0), 0),
            (OpKind::Start(1), 0),
            (OpKind::Stop(0), 90),
            (OpKind::Start(0), 200),
        ],
        FaultConfig::none(),
    );
    for seed in 0..10 {
        let outcome = run::<KeepsClosedServer>(&spec, seed);
        let v = outcome.violation.as_ref().expect("a violation");
        assert_eq!(v.invariant, Invariant::L2, "{}", report(&outcome));
        assert_eq!(
            v.detail,
            "with the faults off, op#3 start a0 returned error (backend failed: server closed), \
             though nothing superseded it"
        );
        assert_eq!(
            outcome.elapsed.as_millis() as u64,
            issued_at(&outcome.history, 3) + 1
        );
        let owned = run::<AgentManager<FakeBackend>>(&spec, seed);
        assert_eq!(violated(&owned), None, "{}", report(&owned));
    }
}

#[test]
fn the_recovery_phase_catches_a_manager_that_cannot_start_again() {
    // No start after the stop in the workload: only the recovery phase starts a0 again. With
    // idle events on, the chaos phase is not judged by L2, the recovery is.
    for faults in [
        FaultConfig::none(),
        FaultConfig {
            idle_events: 100,
            ..FaultConfig::none()
        },
    ] {
        let spec = spec(
            &[0],
            &[(OpKind::Start(0), 0), (OpKind::Stop(0), 90)],
            faults,
        );
        for seed in 0..10 {
            let outcome = run::<KeepsClosedServer>(&spec, seed);
            let v = outcome.violation.as_ref().expect("a violation");
            assert_eq!(v.invariant, Invariant::L2, "{}", report(&outcome));
            assert!(
                v.detail
                    .starts_with("with the faults off, op#2 start a0 returned error"),
                "{}",
                v.detail
            );
            let recovering = first_at(&outcome.history, |w| *w == What::Recovering)
                .expect("reached the recovery phase");
            // Issued at the first step of the phase: the next millisecond when time steps,
            // the same look when it jumps (the phase begins where the clockwork looks).
            let first_step = recovering + u64::from(!spec.jumps_time());
            assert_eq!(issued_at(&outcome.history, 2), first_step);
            let owned = run::<AgentManager<FakeBackend>>(&spec, seed);
            assert_eq!(violated(&owned), None, "{}", report(&owned));
            assert!(
                owned
                    .history
                    .events
                    .iter()
                    .any(|e| matches!(&e.what, What::OpReturned(2, OpKind::Start(0), Ok(())))),
                "{}",
                report(&owned)
            );
        }
    }
}

#[test]
fn a_healthy_stop_that_leaves_the_agent_running_is_a_progress_violation() {
    let spec = spec(
        &[0],
        &[(OpKind::Start(0), 0), (OpKind::Stop(0), 90)],
        FaultConfig::none(),
    );
    let outcome = run::<StopGivesUp>(&spec, 0);
    let v = outcome.violation.as_ref().expect("a violation");
    assert_eq!(v.invariant, Invariant::L2, "{}", report(&outcome));
    assert_eq!(
        v.detail,
        "with the faults off, op#1 stop a0 returned error (backend failed: busy), but its record is Running"
    );
}

#[test]
fn owned_makes_progress_over_fault_free_seeds_and_the_closed_server_manager_does_not() {
    let settings = Settings {
        faults: FaultMode::Fixed(FaultConfig::none()),
        ..Settings::default()
    };
    let mut caught = 0;
    for seed in 0..300 {
        let owned = Scenario::from_seed(&settings, seed).run(&Model::Owned);
        assert_eq!(violated(&owned), None, "seed {seed}: {}", report(&owned));
        let scenario = Scenario::from_seed(&settings, seed);
        let broken = run::<KeepsClosedServer>(&scenario.spec, seed);
        // The same scenario (the seed's workload; the run's own draws differ in where they
        // start, which does not matter here).
        if let Some(v) = broken.violation {
            assert_eq!(v.invariant, Invariant::L2, "seed {seed}: {}", v.detail);
            caught += 1;
        }
    }
    assert!(caught > 50, "only {caught} of 300 caught");
}

// ---------------------------------------------------------------------------------------
// Metrics

#[test]
fn the_interleaving_digest_ignores_ids_and_times() {
    // The same calls answered in the same order: once as op#0 at 0 ms, once as op#1 at 7 ms
    // (after a stop of the unknown agent, which makes no call).
    let plain = spec(&[0], &[(OpKind::Start(0), 0)], FaultConfig::none());
    let shifted = spec(
        &[0],
        &[(OpKind::Stop(0), 0), (OpKind::Start(0), 7)],
        FaultConfig::none(),
    );
    for seed in 0..20 {
        let a = run::<AgentManager<FakeBackend>>(&plain, seed);
        let b = run::<AgentManager<FakeBackend>>(&shifted, seed);
        assert_eq!(violated(&a), None);
        assert_eq!(violated(&b), None);
        assert_ne!(a.history.digest(), b.history.digest());
        assert_eq!(
            a.history.interleaving_digest(),
            b.history.interleaving_digest(),
            "seed {seed}\n{}\n{}",
            a.history.timeline(),
            b.history.timeline()
        );
    }
}

#[test]
fn the_interleaving_digest_tells_answer_orders_apart() {
    // Two agents in one workdir start together: whose calls are answered first, and how the
    // two startups interleave, is the seed's choice.
    let spec = spec(
        &[0, 0],
        &[(OpKind::Start(0), 0), (OpKind::Start(1), 0)],
        FaultConfig::none(),
    );
    let mut digests = std::collections::BTreeSet::new();
    let mut orders = std::collections::BTreeSet::new();
    for seed in 0..100 {
        let outcome = run::<AgentManager<FakeBackend>>(&spec, seed);
        // The answer order, written out with agents named by first answer.
        let mut names: Vec<AgentId> = Vec::new();
        let order: Vec<String> = outcome
            .history
            .events
            .iter()
            .filter_map(|e| match &e.what {
                What::CallReturned { kind, reply, .. } => {
                    let lane = e.agent.as_ref().map(|a| {
                        names.iter().position(|n| n == a).unwrap_or_else(|| {
                            names.push(a.clone());
                            names.len() - 1
                        })
                    });
                    Some(format!("{kind} {lane:?} {}", reply.starts_with("error")))
                }
                _ => None,
            })
            .collect();
        digests.insert(outcome.history.interleaving_digest());
        orders.insert(order);
    }
    assert!(orders.len() > 1);
    assert_eq!(digests.len(), orders.len());
}

// ---------------------------------------------------------------------------------------
// I5, side state

mod side_state {
    use std::collections::BTreeMap;

    use agent_lifecycle::{AgentId, AgentSnapshot, SideKind, SideSnapshot, Snapshot, Status};
    use lifecycle_sim::Invariant;
    use lifecycle_sim::check::check_side_state;
    use lifecycle_sim::world::ledger::Ledger;

    fn a0() -> AgentId {
        AgentId::new("a0")
    }

    fn snapshot(record: (u64, Status), side: &[(SideKind, u64)]) -> Snapshot {
        Snapshot {
            agents: vec![AgentSnapshot {
                agent: a0(),
                incarnation: record.0,
                status: record.1,
                session: None,
                suspect_on: None,
            }],
            servers: Vec::new(),
            side: side
                .iter()
                .map(|&(kind, incarnation)| SideSnapshot {
                    agent: a0(),
                    kind,
                    incarnation,
                })
                .collect(),
        }
    }

    fn verdict(s: &Snapshot, stopped: &BTreeMap<AgentId, u64>) -> Option<Invariant> {
        check_side_state(s, stopped, &Ledger::default())
            .err()
            .map(|v| v.invariant)
    }

    #[test]
    fn an_ended_records_subscription_still_running_is_i5() {
        let none = BTreeMap::new();
        for end in [Status::Exited, Status::Failed] {
            let left = snapshot((2, end), &[(SideKind::Subscription, 2)]);
            assert_eq!(verdict(&left, &none), Some(Invariant::I5), "{end:?}");
            // An earlier incarnation's stream is judged by the stream-slot rule, not this one.
            let earlier = snapshot((2, end), &[(SideKind::Subscription, 1)]);
            assert_eq!(verdict(&earlier, &none), None, "{end:?}");
        }
        let live = snapshot(
            (2, Status::Running),
            &[(SideKind::Subscription, 2), (SideKind::StreamSlot, 2)],
        );
        assert_eq!(verdict(&live, &none), None);
    }

    #[test]
    fn an_earlier_incarnations_timer_in_a_live_agents_slot_is_i5() {
        let none = BTreeMap::new();
        let own = snapshot((2, Status::Running), &[(SideKind::IdleTimer, 2)]);
        assert_eq!(verdict(&own, &none), None);
        let old = snapshot((2, Status::Running), &[(SideKind::IdleTimer, 1)]);
        assert_eq!(verdict(&old, &none), Some(Invariant::I5));
        // A finished record has nothing left to displace.
        let done = snapshot((2, Status::Exited), &[(SideKind::IdleTimer, 1)]);
        assert_eq!(verdict(&done, &none), None);
    }

    #[test]
    fn a_running_stream_a_stop_cannot_reach_is_i5() {
        let none = BTreeMap::new();
        let reachable = snapshot(
            (2, Status::Running),
            &[(SideKind::Subscription, 2), (SideKind::StreamSlot, 2)],
        );
        assert_eq!(verdict(&reachable, &none), None);
        let lost = snapshot((2, Status::Running), &[(SideKind::Subscription, 2)]);
        assert_eq!(verdict(&lost, &none), Some(Invariant::I5));
        let taken = snapshot(
            (2, Status::Running),
            &[(SideKind::Subscription, 2), (SideKind::StreamSlot, 1)],
        );
        assert_eq!(verdict(&taken, &none), Some(Invariant::I5));
    }

    #[test]
    fn a_timer_of_a_stopped_incarnation_armed_after_the_stop_is_i5() {
        let stopped = BTreeMap::from([(a0(), 2)]);
        let rearmed = snapshot((2, Status::Exited), &[(SideKind::IdleTimer, 2)]);
        assert_eq!(verdict(&rearmed, &stopped), Some(Invariant::I5));
        // A later start's timer is its own business.
        let later = snapshot((3, Status::Running), &[(SideKind::IdleTimer, 3)]);
        assert_eq!(verdict(&later, &stopped), None);
    }
}
