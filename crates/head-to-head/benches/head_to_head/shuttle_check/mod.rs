//! shuttle (`check_random`, `check_pct`), as a team using it writes the test. shuttle schedules
//! only its own primitives, so the managers' own source is compiled against shuttle's tokio
//! (`on-shuttle/`: shuttle-tokio-impl, the route its authors advise). Every operation of the
//! race is spawned at once and shuttle picks the interleaving; the backend's calls are
//! scheduling points; faults are drawn from shuttle's rng. shuttle does not model time:
//! shuttle-tokio's `sleep` is a yield and its `timeout` never fires on its own, so a race that
//! needs a call to time out (a hang, a late effect, a silently lost reply) cannot be expressed,
//! and a manager that reads the clock (the drain of an eviction polls `Instant::now()`) runs
//! on the wall clock, which breaks shuttle's replay; nor can it judge what is a matter of time
//! (L5: a turn that has outlasted a request). The real bugs' managers (`crates/real-bugs`)
//! are compiled the same way (`on-shuttle/real-bugs`). Each operation runs in a request
//! context naming it, as the container's HTTP layer runs it, so the backend knows which start
//! created a session. The checks are the harness's, restated on the recompiled types: I3 when
//! a server closes, I6 when a start returns cancelled, I1 and I3 once every operation has
//! returned; L1 (operations that never return) is shuttle's own report of a deadlock, every
//! task blocked. A reboot is played as the other tools play it (see `play`).
//!
//! A trap met here: shuttle's `JoinHandle::abort` is a scheduling point (shuttle-std 0.1.5), so a
//! manager that calls it while holding a `std` lock (the historical models abort an idle
//! timer with their table locked) can be switched out holding it, and the next task to take
//! the lock blocks the whole test in the kernel.

mod backend;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use head_to_head::contenders::{Contender, first_seed};
use head_to_head::{Attempt, Race, RealBug, Target, cpu};
use lifecycle_sim::scenario::names::{agent_name, workdir_name};
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::OpKind;
use lifecycle_sim::{Invariant, Model};
use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};
use shuttle_agent_lifecycle::{
    AgentId, AgentManager, Lifecycle, LifecycleError, ManagerConfig, RequestContext, StartRequest,
    Workdir,
};
use shuttle_lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};
use shuttle_real_bugs::{
    AbortOrphan, HydrationLock, RefreshOrphan, RefreshStarting, ServerLeak, StuckStarting,
};

use backend::{Backend, FOUND};

/// A manager on a fresh backend: one boot of the container.
fn boot<M: Lifecycle<Backend>>(spec: &ScenarioSpec, invariant: &str) -> (Arc<M>, Backend) {
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
    (manager, backend)
}

/// One execution: every operation spawned at once, then the settled check. A reboot splits
/// the workload in two boots: it waits until every operation before it has begun, kills those
/// still in flight and the first boot's backend (every server dies with the container), and
/// boots a fresh manager that hydrates what the first one persisted; the operations after it
/// wait for that boot and run on it, beside the hydration.
async fn play<M: Lifecycle<Backend>>(spec: &ScenarioSpec, invariant: &str) {
    let first = boot::<M>(spec, invariant);
    let ops = &spec.workload.ops;
    let reboot_at = ops.iter().position(|op| op.kind == OpKind::Reboot);
    // Permits: one for each operation before the reboot that has begun; one for each after
    // it once the second boot is up.
    let (begun, booted) = (
        Arc::new(shuttle_tokio::sync::Semaphore::new(0)),
        Arc::new(shuttle_tokio::sync::Semaphore::new(0)),
    );
    let second: Arc<std::sync::OnceLock<(Arc<M>, Backend)>> = Arc::default();
    let mut handles = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let (id, kind) = (i as u64 + 1, op.kind);
        let after_reboot = reboot_at.is_some_and(|r| i > r);
        let (first, second, begun, booted) =
            (first.clone(), second.clone(), begun.clone(), booted.clone());
        let workdirs = spec.workload.workdirs.clone();
        let context = RequestContext {
            id,
            agent: kind.agent().map(|a| AgentId::new(&agent_name(a))),
        };
        let (spec, invariant) = (spec.clone(), invariant.to_string());
        let earlier: Vec<_> = handles
            .iter()
            .map(|h: &shuttle_tokio::task::JoinHandle<()>| h.abort_handle())
            .collect();
        handles.push(shuttle_tokio::spawn(context.scope(async move {
            let (manager, backend) = if after_reboot {
                booted.acquire().await.expect("never closed").forget();
                second.get().expect("booted").clone()
            } else {
                first
            };
            if kind == OpKind::Reboot {
                let before = u32::try_from(earlier.len()).expect("a small workload");
                begun
                    .acquire_many(before)
                    .await
                    .expect("never closed")
                    .forget();
                for op in earlier {
                    op.abort();
                }
                let registry = manager.registry();
                backend.end();
                let (fresh, _) = second.get_or_init(|| boot::<M>(&spec, &invariant)).clone();
                booted.add_permits(ops_after(&spec, id));
                let _ = fresh.hydrate(registry).await;
                return;
            }
            begun.add_permits(1);
            let outcome = match kind {
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
                OpKind::Refresh => manager.refresh().await,
                OpKind::Update(a) => manager.update(&AgentId::new(&agent_name(a)), "model").await,
                OpKind::Reboot => unreachable!("handled above"),
                // A peer has no subject's own operations.
                OpKind::Custom(_) => unreachable!("the panel's workloads have no {kind:?}"),
            };
            if matches!(kind, OpKind::Start(_)) && outcome == Err(LifecycleError::Cancelled) {
                backend.cancelled(id);
            }
        })));
    }
    for handle in handles {
        let _ = handle.await;
    }
    let (manager, backend) = second.get().cloned().unwrap_or(first);
    // Let the manager's own tasks run out (sleeps are yields here).
    for _ in 0..64 {
        backend.flush();
        shuttle_tokio::task::yield_now().await;
    }
    backend.settled(&manager.snapshot());
}

/// How many operations come after operation `id` (numbered from 1).
fn ops_after(spec: &ScenarioSpec, id: u64) -> usize {
    spec.workload.ops.len() - id as usize
}

fn test_fn(race: &Race) -> impl Fn() + Send + Sync + 'static {
    let (target, spec, invariant) = (race.target, race.spec.clone(), race.invariant.code());
    move || {
        let (spec, invariant) = (spec.clone(), invariant.clone());
        shuttle::future::block_on(async move {
            match target {
                Target::Model(Model::Legacy) => {
                    play::<LegacyManager<Backend>>(&spec, &invariant).await
                }
                Target::Model(Model::AbortToken) => {
                    play::<AbortTokenManager<Backend>>(&spec, &invariant).await
                }
                Target::Model(Model::StartLock) => {
                    play::<StartLockManager<Backend>>(&spec, &invariant).await
                }
                Target::Model(Model::Owned) => {
                    play::<AgentManager<Backend>>(&spec, &invariant).await
                }
                // `Model` is non-exhaustive: a model added to the harness is not on shuttle yet.
                Target::Model(other) => panic!("no shuttle build of {other:?}"),
                Target::RealBug { bug, fixed: false } => {
                    play_real_bug::<false>(bug, &spec, &invariant).await
                }
                Target::RealBug { bug, fixed: true } => {
                    play_real_bug::<true>(bug, &spec, &invariant).await
                }
            }
        })
    }
}

/// A real bug's manager, compiled against shuttle's tokio, on one execution.
async fn play_real_bug<const FIXED: bool>(bug: RealBug, spec: &ScenarioSpec, invariant: &str) {
    match bug {
        RealBug::AbortOrphan => play::<AbortOrphan<Backend, FIXED>>(spec, invariant).await,
        RealBug::ServerLeak => play::<ServerLeak<Backend, FIXED>>(spec, invariant).await,
        RealBug::RefreshStarting => play::<RefreshStarting<Backend, FIXED>>(spec, invariant).await,
        RealBug::RefreshOrphan => play::<RefreshOrphan<Backend, FIXED>>(spec, invariant).await,
        RealBug::HydrationLock => play::<HydrationLock<Backend, FIXED>>(spec, invariant).await,
        RealBug::StuckStarting => play::<StuckStarting<Backend, FIXED>>(spec, invariant).await,
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
        if race.invariant == Invariant::L5 {
            return Some(
                "L5 is a matter of time (a start's turn that has outlasted any request while its agent shows starting): shuttle does not model time, and shuttle-tokio's sleeps are yields".into(),
            );
        }
        if let Target::RealBug {
            bug: RealBug::RefreshOrphan,
            ..
        } = race.target
        {
            return Some(
                "needs a refresh's server spawn to outlast the refresh's own timeout (#2835's REFRESH_AGENT_TIMEOUT_MS): shuttle does not model time, and shuttle-tokio's timeouts never fire on their own".into(),
            );
        }
        let reboots = race
            .spec
            .workload
            .ops
            .iter()
            .filter(|op| op.kind == OpKind::Reboot)
            .count();
        if reboots > 1 {
            return Some(
                "more than one reboot: this test splits the workload in two boots at its reboot"
                    .into(),
            );
        }
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
        let quiet = crate::quiet::Quiet::new();
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
            // L1 is shuttle's own finding: a deadlock, every task blocked.
            let deadlock = race.invariant == Invariant::L1 && message_has(&outcome, "deadlock");
            if deadlock || message_has(&outcome, FOUND) {
                found = true;
                break;
            }
        }
        drop(quiet);
        Attempt::new(found, runs.load(Ordering::Relaxed), cpu::thread() - began)
    }
}

fn message_has(outcome: &Result<(), String>, what: &str) -> bool {
    outcome.as_ref().is_err_and(|m| m.contains(what))
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
