//! One play of a race's workload on a manager, in whatever time the current tokio runtime
//! keeps (real in the stress test, turmoil's on a turmoil host, tokio's paused clock under
//! proptest), judged by the harness's checks where a test written with another tool would
//! assert: when a server closes (I3), when an eviction returns (I7), and once the manager has
//! settled after the faults stop (tracked == live, counts). The harness judges after every
//! step as well; a contender is not asked to.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_lifecycle::{AgentManager, Lifecycle, StartRequest, Workdir};
use lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};
use lifecycle_sim::check::{check_evicted, check_settled};
use lifecycle_sim::run::{CRASH_WINDOW_MS, settle_window_ms};
use lifecycle_sim::scenario::names::{agent_id, agent_name, workdir_name};
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::{OpKind, Trigger};
use lifecycle_sim::world::history::OpId;
use lifecycle_sim::{Model, Violation};
use tokio::task::JoinSet;

use crate::plain_backend::{PlainBackend, lock};

/// Plays `spec`'s workload once on `model`, its backend's randomness seeded by `seed`: the
/// first violation the checks saw, if any.
pub async fn play(model: Model, spec: &ScenarioSpec, seed: u64) -> Option<Violation> {
    match model {
        Model::Legacy => play_on::<LegacyManager<PlainBackend>>(spec, seed).await,
        Model::AbortToken => play_on::<AbortTokenManager<PlainBackend>>(spec, seed).await,
        Model::StartLock => play_on::<StartLockManager<PlainBackend>>(spec, seed).await,
        Model::Owned => play_on::<AgentManager<PlainBackend>>(spec, seed).await,
        // `Model` is non-exhaustive: a model added to the harness is not on this panel yet.
        other => panic!("head-to-head has no plain-backend manager for {other:?}"),
    }
}

/// A fresh manager on a fresh backend, with the checks wired in.
pub fn boot<M: Lifecycle<PlainBackend>>(spec: &ScenarioSpec, seed: u64) -> (Arc<M>, PlainBackend) {
    let config = spec.manager_config();
    let backend = PlainBackend::new(
        spec.faults,
        spec.timing.max_latency_ms,
        config.call_timeout,
        seed,
    );
    let manager = Arc::new(M::new(backend.clone(), config));
    let weak = Arc::downgrade(&manager);
    backend.watch(move || weak.upgrade().map(|m| m.snapshot()));
    (manager, backend)
}

async fn play_on<M: Lifecycle<PlainBackend>>(spec: &ScenarioSpec, seed: u64) -> Option<Violation> {
    let (manager, backend) = boot::<M>(spec, seed);
    backend.schedule_crashes(CRASH_WINDOW_MS);
    let verdict = run_workload(&manager, &backend, spec).await;
    backend.end();
    verdict
}

/// How long to wait, once every operation has returned and the faults stopped, before
/// judging the settled state: twice the harness's settle window (every timer the manager
/// keeps, plus its retry pause), since a contender cannot see when the manager went quiet.
pub fn settle_wait(spec: &ScenarioSpec) -> Duration {
    Duration::from_millis(2 * settle_window_ms(&spec.manager_config()))
}

enum Returned {
    Op,
    /// An eviction returned: the harness bounces the container here; a contender's scenario
    /// ends, judged by I7.
    Evicted(Option<Violation>),
}

/// What a start of agent `a` asks for, as the harness's driver issues it.
pub fn start_request(spec: &ScenarioSpec, a: u8) -> StartRequest {
    StartRequest {
        agent: agent_id(a),
        workdir: Workdir::new(&workdir_name(spec.workload.workdirs[usize::from(a)])),
        prompt: format!("task for {}", agent_name(a)),
    }
}

async fn run_workload<M: Lifecycle<PlainBackend>>(
    manager: &Arc<M>,
    backend: &PlainBackend,
    spec: &ScenarioSpec,
) -> Option<Violation> {
    let began = tokio::time::Instant::now();
    let in_flight: Arc<Mutex<BTreeMap<OpId, OpKind>>> = Arc::default();
    let mut ops = JoinSet::new();
    for (i, op) in spec.workload.ops.iter().enumerate() {
        let Trigger::At(at) = op.when else {
            unreachable!("the panel admits timed operations only")
        };
        let (id, kind) = (i as OpId + 1, op.kind);
        let (manager, backend, in_flight) = (manager.clone(), backend.clone(), in_flight.clone());
        let request = kind.agent().map(|a| start_request(spec, a));
        ops.spawn(async move {
            tokio::time::sleep_until(began + Duration::from_millis(at)).await;
            lock(&in_flight).insert(id, kind);
            let outcome = match kind {
                OpKind::Start(_) => manager.start(request.expect("a start has an agent")).await,
                OpKind::Stop(a) => manager.stop(&agent_id(a)).await,
                OpKind::Evict => manager.evict().await,
                OpKind::Refresh => manager.refresh().await,
                OpKind::Update(a) => manager.update(&agent_id(a), "model").await,
                // A peer has no container to reboot and no subject's operations.
                OpKind::Reboot | OpKind::Custom(_) => {
                    unreachable!("the panel's workloads have no {kind}")
                }
            };
            let mut in_flight = lock(&in_flight);
            in_flight.remove(&id);
            if kind != OpKind::Evict {
                return Returned::Op;
            }
            let snapshot = manager.snapshot();
            Returned::Evicted(backend.judge(|ledger, closed| {
                closed
                    .cloned()
                    .or_else(|| check_evicted(ledger, &snapshot, id, &outcome, &in_flight).err())
            }))
        });
    }
    while let Some(returned) = ops.join_next().await {
        if let Ok(Returned::Evicted(verdict)) = returned {
            return verdict.or_else(|| backend.judge(|_, closed| closed.cloned()));
        }
    }
    backend.heal();
    tokio::time::sleep(settle_wait(spec)).await;
    let snapshot = manager.snapshot();
    backend.judge(|ledger, closed| {
        closed
            .cloned()
            .or_else(|| check_settled(ledger, &snapshot).err())
    })
}
