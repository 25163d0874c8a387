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

mod backend;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use head_to_head::contenders::{Contender, first_seed};
use head_to_head::{Attempt, Race, cpu};
use lifecycle_sim::Model;
use lifecycle_sim::scenario::names::{agent_name, workdir_name};
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::OpKind;
use shuttle::scheduler::{PctScheduler, RandomScheduler, Scheduler};
use shuttle::{Config, FailurePersistence, Runner};
use shuttle_agent_lifecycle::{
    AgentId, AgentManager, Lifecycle, ManagerConfig, StartRequest, Workdir,
};
use shuttle_lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};

use backend::{Backend, FOUND};

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
                OpKind::Refresh => manager.refresh().await,
                OpKind::Update(a) => manager.update(&AgentId::new(&agent_name(a)), "model").await,
                // A peer has no container to reboot and no subject's operations.
                OpKind::Reboot | OpKind::Custom(_) => {
                    unreachable!("the panel's workloads have no {kind:?}")
                }
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
                // `Model` is non-exhaustive: a model added to the harness is not on shuttle yet.
                other => panic!("no shuttle build of {other:?}"),
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
            if let Err(message) = outcome
                && message.contains(FOUND)
            {
                found = true;
                break;
            }
        }
        drop(quiet);
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
