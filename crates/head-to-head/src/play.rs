//! One play of a race's workload on a manager, in whatever time the current tokio runtime
//! keeps (real in the stress test, turmoil's on a turmoil host, tokio's paused clock under
//! proptest), judged by the harness's checks where a test written with another tool would
//! assert: when a server closes (I3), when a start's turn has outlasted any request (L5), when
//! a start returns cancelled (I6), when an eviction returns (I7), when no operation has
//! returned for the liveness bound (L1, the test's timeout), and once the manager has settled
//! after the faults stop (tracked == live, counts). The harness judges after every step as
//! well; a contender is not asked to.
//!
//! Each operation runs in its own task, in a request context naming it (as the container's
//! HTTP layer runs a request), so the backend can say which start created a session. A reboot
//! is the container's restart as a test in one process writes it: the manager is dropped with
//! its backend (every server dies with the container), the operations in flight die with it,
//! and a fresh manager on a fresh backend hydrates what the old one persisted, beside the
//! operations that arrive meanwhile. (The old manager's background tasks are not killed, as a
//! real restart's would be: they only ever reach the dead backend. The faults' server crashes
//! are scheduled on the first boot only.)

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_lifecycle::{Lifecycle, LifecycleError, RequestContext, StartRequest, Workdir};
use lifecycle_sim::Violation;
use lifecycle_sim::check::{
    check_cancelled_start, check_evicted, check_settled, stalled_in_flight,
};
use lifecycle_sim::run::{CRASH_WINDOW_MS, settle_window_ms};
use lifecycle_sim::scenario::names::{agent_id, agent_name, workdir_name};
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::{OpKind, Trigger};
use lifecycle_sim::world::history::OpId;
use tokio::task::{AbortHandle, JoinSet};

use crate::plain_backend::{PlainBackend, lock};
use crate::target::{OnManager, Target};

/// Plays `spec`'s workload once on `target`'s manager, its backend's randomness seeded by
/// `seed`: the first violation the checks saw, if any.
pub async fn play(target: Target, spec: &ScenarioSpec, seed: u64) -> Option<Violation> {
    target.on_plain_backend(Play { spec, seed }).await
}

struct Play<'a> {
    spec: &'a ScenarioSpec,
    seed: u64,
}

impl<'a> OnManager for Play<'a> {
    type Output = Pin<Box<dyn Future<Output = Option<Violation>> + Send + 'a>>;

    fn on<M: Lifecycle<PlainBackend>>(self) -> Self::Output {
        Box::pin(play_on::<M>(self.spec, self.seed))
    }
}

/// The operations in flight, and the starts among them that another operation of their
/// agent disturbed: L5 judges only the others, as the harness does (a disturbed start's
/// record may rightly be anything).
#[derive(Default)]
pub struct InFlight {
    ops: BTreeMap<OpId, OpKind>,
    disturbed: BTreeSet<OpId>,
}

impl InFlight {
    pub fn issue(&mut self, op: OpId, kind: OpKind) {
        for (&other, &other_kind) in &self.ops {
            if let OpKind::Start(a) = other_kind
                && concerns(kind, a)
            {
                self.disturbed.insert(other);
            }
            if let OpKind::Start(a) = kind
                && concerns(other_kind, a)
            {
                self.disturbed.insert(op);
            }
        }
        self.ops.insert(op, kind);
    }

    /// `op` returned, or died with its container.
    pub fn ended(&mut self, op: OpId) {
        self.ops.remove(&op);
        self.disturbed.remove(&op);
    }

    pub fn undisturbed_start(&self, op: OpId) -> bool {
        matches!(self.ops.get(&op), Some(OpKind::Start(_))) && !self.disturbed.contains(&op)
    }

    pub fn ops(&self) -> &BTreeMap<OpId, OpKind> {
        &self.ops
    }
}

/// An operation of `kind` concerns agent `a`: it is `a`'s, or every agent's.
fn concerns(kind: OpKind, a: u8) -> bool {
    kind.agent().is_none_or(|b| b == a)
}

/// A fresh manager on a fresh backend, with the checks wired in (`in_flight` tells L5 which
/// starts it judges).
pub fn boot<M: Lifecycle<PlainBackend>>(
    spec: &ScenarioSpec,
    seed: u64,
    in_flight: &Arc<Mutex<InFlight>>,
) -> (Arc<M>, PlainBackend) {
    let config = spec.manager_config();
    let backend = PlainBackend::new(
        spec.faults,
        spec.timing.max_latency_ms,
        config.call_timeout,
        seed,
    )
    .with_turns(spec.timing.turn_ms);
    let manager = Arc::new(M::new(backend.clone(), config));
    let weak = Arc::downgrade(&manager);
    backend.watch(move || weak.upgrade().map(|m| m.snapshot()));
    let in_flight = in_flight.clone();
    backend.watch_starts(move |op| lock(&in_flight).undisturbed_start(op));
    (manager, backend)
}

/// A reboot: the manager's registry (what it persisted), read as the container dies; its
/// backend ends, every server with it. The first violation the old backend saw carries over.
pub fn reboot<M: Lifecycle<PlainBackend>>(
    old: &(Arc<M>, PlainBackend),
    spec: &ScenarioSpec,
    seed: u64,
    in_flight: &Arc<Mutex<InFlight>>,
) -> ((Arc<M>, PlainBackend), Vec<StartRequest>) {
    let registry = old.0.registry();
    old.1.end();
    let (manager, backend) = boot::<M>(spec, seed, in_flight);
    if let Some(seen) = old.1.judge(|_, seen| seen.cloned()) {
        backend.saw(seen);
    }
    ((manager, backend), registry)
}

/// Runs one operation of `kind` on `manager` (a reboot's hydration is run by the caller).
pub async fn operate<M: Lifecycle<PlainBackend>>(
    manager: &M,
    kind: OpKind,
    request: Option<StartRequest>,
) -> Result<(), LifecycleError> {
    match kind {
        OpKind::Start(_) => manager.start(request.expect("a start has an agent")).await,
        OpKind::Stop(a) => manager.stop(&agent_id(a)).await,
        OpKind::Evict => manager.evict().await,
        OpKind::Refresh => manager.refresh().await,
        OpKind::Update(a) => manager.update(&agent_id(a), "model").await,
        // A peer has no subject's own operations.
        OpKind::Reboot | OpKind::Custom(_) => {
            unreachable!("the panel's workloads have no {kind}")
        }
    }
}

/// The request context `op` runs in.
pub fn context(op: OpId, kind: OpKind) -> RequestContext {
    RequestContext {
        id: u64::from(op),
        agent: kind.agent().map(agent_id),
    }
}

/// I6 at a start's return: a start that returned cancelled left no session it created live.
pub fn judge_return(
    backend: &PlainBackend,
    op: OpId,
    kind: OpKind,
    outcome: &Result<(), LifecycleError>,
) {
    if matches!(kind, OpKind::Start(_))
        && *outcome == Err(LifecycleError::Cancelled)
        && let Some(v) = backend.judge(|ledger, _| check_cancelled_start(ledger, op).err())
    {
        backend.saw(v);
    }
}

/// L1: operations still in flight more than the liveness bound after the last one was issued
/// or returned.
pub fn stalled(in_flight: &BTreeMap<OpId, OpKind>, spec: &ScenarioSpec) -> Option<Violation> {
    let bound = spec.timing.liveness_bound_ms;
    stalled_in_flight(in_flight, bound + 1, bound).err()
}

async fn play_on<M: Lifecycle<PlainBackend>>(spec: &ScenarioSpec, seed: u64) -> Option<Violation> {
    let in_flight: Arc<Mutex<InFlight>> = Arc::default();
    let container = boot::<M>(spec, seed, &in_flight);
    container.1.schedule_crashes(CRASH_WINDOW_MS);
    let container = Arc::new(Mutex::new(container));
    let verdict = run_workload(&container, &in_flight, spec, seed).await;
    lock(&container).1.end();
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

/// The manager of the container's current boot, and its backend.
type Container<M> = Arc<Mutex<(Arc<M>, PlainBackend)>>;

async fn run_workload<M: Lifecycle<PlainBackend>>(
    container: &Container<M>,
    in_flight: &Arc<Mutex<InFlight>>,
    spec: &ScenarioSpec,
    seed: u64,
) -> Option<Violation> {
    let began = tokio::time::Instant::now();
    let shared_spec = Arc::new(spec.clone());
    let handles: Arc<Mutex<BTreeMap<OpId, AbortHandle>>> = Arc::default();
    let mut ops = JoinSet::new();
    let mut last_at = 0;
    for (i, op) in spec.workload.ops.iter().enumerate() {
        let Trigger::At(at) = op.when else {
            unreachable!("the panel admits timed operations only")
        };
        last_at = last_at.max(at);
        let (id, kind) = (i as OpId + 1, op.kind);
        let (container, in_flight, others) =
            (container.clone(), in_flight.clone(), handles.clone());
        let spec = shared_spec.clone();
        let request = kind.agent().map(|a| start_request(&spec, a));
        let handle = ops.spawn(async move {
            tokio::time::sleep_until(began + Duration::from_millis(at)).await;
            let mut boot = lock(&container).clone();
            lock(&in_flight).issue(id, kind);
            let outcome = if kind == OpKind::Reboot {
                // The container goes, and the operations in flight with it.
                let killed: Vec<OpId> = lock(&in_flight)
                    .ops()
                    .keys()
                    .copied()
                    .filter(|&op| op != id)
                    .collect();
                for op in killed {
                    if let Some(handle) = lock(&others).get(&op) {
                        handle.abort();
                    }
                    lock(&in_flight).ended(op);
                }
                let (fresh, registry) =
                    reboot::<M>(&boot, &spec, seed.wrapping_add(u64::from(id)), &in_flight);
                *lock(&container) = fresh.clone();
                boot = fresh;
                context(id, kind).scope(boot.0.hydrate(registry)).await
            } else {
                context(id, kind)
                    .scope(operate(boot.0.as_ref(), kind, request))
                    .await
            };
            let (manager, backend) = boot;
            let mut in_flight = lock(&in_flight);
            in_flight.ended(id);
            judge_return(&backend, id, kind, &outcome);
            if kind != OpKind::Evict {
                return Returned::Op;
            }
            let snapshot = manager.snapshot();
            Returned::Evicted(backend.judge(|ledger, seen| {
                seen.cloned().or_else(|| {
                    check_evicted(ledger, &snapshot, id, &outcome, in_flight.ops()).err()
                })
            }))
        });
        lock(&handles).insert(id, handle);
    }
    let seen = || lock(container).1.judge(|_, seen| seen.cloned());
    // The liveness bound runs from the last issue or return, as the harness's L1.
    let bound = Duration::from_millis(spec.timing.liveness_bound_ms + 1);
    let mut progress = began + Duration::from_millis(last_at);
    loop {
        tokio::select! {
            returned = ops.join_next() => match returned {
                None => break,
                Some(Ok(Returned::Evicted(verdict))) => return verdict.or_else(seen),
                // An operation returned, or died with its container.
                Some(_) => progress = progress.max(tokio::time::Instant::now()),
            },
            () = tokio::time::sleep_until(progress + bound) => {
                let stuck = lock(in_flight).ops().clone();
                return seen().or_else(|| stalled(&stuck, spec));
            }
        }
    }
    let backend = lock(container).1.clone();
    backend.heal();
    tokio::time::sleep(settle_wait(spec)).await;
    let snapshot = lock(container).0.snapshot();
    backend.judge(|ledger, seen| {
        seen.cloned()
            .or_else(|| check_settled(ledger, &snapshot).err())
    })
}
