//! The manager as a sequential system under test (what proptest-state-machine drives): one
//! operation at a time, each awaited to its end on a current-thread tokio runtime with a
//! paused clock (time moves only when everything waits), the plain backend seeded by the test
//! case. Judged as a play is: at every close, at a long turn, at a cancelled start's and an
//! eviction's return, when an operation does not return within the liveness bound (the test's
//! timeout), and, at the end of the case, once settled with the faults stopped. An eviction
//! bounces the manager, as the harness does: a fresh one, on a fresh backend, takes the rest
//! of the case; a reboot boots a fresh one that hydrates what the old one persisted, and the
//! hydration is the operation.

use std::sync::{Arc, Mutex};

use agent_lifecycle::Lifecycle;
use lifecycle_sim::Violation;
use lifecycle_sim::check::{check_evicted, check_settled};
use lifecycle_sim::run::CRASH_WINDOW_MS;
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::OpKind;
use lifecycle_sim::world::history::OpId;
use std::time::Duration;
use tokio::runtime::Runtime;

use crate::plain_backend::{PlainBackend, lock};
use crate::play::{
    InFlight, boot, context, judge_return, operate, reboot, settle_wait, stalled, start_request,
};
use crate::target::{OnManager, Target};

/// A manager taking one operation at a time.
pub trait Sequential {
    /// Runs `kind` to its end; a violation it revealed.
    fn op(&mut self, kind: OpKind) -> Option<Violation>;
    /// Stops the faults, waits for the manager to settle, and judges it.
    fn settle(&mut self) -> Option<Violation>;
}

/// `target`'s manager as a sequential system, its backend seeded by `seed`.
pub fn sequential(target: Target, spec: &ScenarioSpec, seed: u64) -> Box<dyn Sequential> {
    target.on_plain_backend(Build { spec, seed })
}

struct Build<'a> {
    spec: &'a ScenarioSpec,
    seed: u64,
}

impl OnManager for Build<'_> {
    type Output = Box<dyn Sequential>;

    fn on<M: Lifecycle<PlainBackend>>(self) -> Box<dyn Sequential> {
        Box::new(On::<M>::new(self.spec, self.seed))
    }
}

struct On<M> {
    runtime: Runtime,
    spec: ScenarioSpec,
    seed: u64,
    container: (Arc<M>, PlainBackend),
    in_flight: Arc<Mutex<InFlight>>,
    ops: OpId,
}

impl<M: Lifecycle<PlainBackend>> On<M> {
    fn new(spec: &ScenarioSpec, seed: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a tokio runtime");
        let in_flight: Arc<Mutex<InFlight>> = Arc::default();
        let container = runtime.block_on(async {
            let container = boot::<M>(spec, seed, &in_flight);
            container.1.schedule_crashes(CRASH_WINDOW_MS);
            container
        });
        Self {
            runtime,
            spec: spec.clone(),
            seed,
            container,
            in_flight,
            ops: 0,
        }
    }
}

impl<M: Lifecycle<PlainBackend>> Sequential for On<M> {
    fn op(&mut self, kind: OpKind) -> Option<Violation> {
        self.ops += 1;
        let id = self.ops;
        let seed = self.seed.wrapping_add(u64::from(id));
        let registry = (kind == OpKind::Reboot).then(|| {
            let (fresh, registry) = self.runtime.block_on(async {
                reboot::<M>(&self.container, &self.spec, seed, &self.in_flight)
            });
            self.container = fresh;
            registry
        });
        lock(&self.in_flight).issue(id, kind);
        let (manager, spec) = (self.container.0.clone(), &self.spec);
        let request = kind.agent().map(|a| start_request(spec, a));
        let bound = Duration::from_millis(spec.timing.liveness_bound_ms + 1);
        let outcome = self.runtime.block_on(async {
            let work = async {
                match registry {
                    Some(registry) => manager.hydrate(registry).await,
                    None => operate(manager.as_ref(), kind, request).await,
                }
            };
            tokio::time::timeout(bound, context(id, kind).scope(work)).await
        });
        let stuck = lock(&self.in_flight).ops().clone();
        lock(&self.in_flight).ended(id);
        let backend = &self.container.1;
        let Ok(outcome) = outcome else {
            return backend
                .judge(|_, seen| seen.cloned())
                .or_else(|| stalled(&stuck, spec));
        };
        judge_return(backend, id, kind, &outcome);
        let seen = backend.judge(|_, seen| seen.cloned());
        if seen.is_some() || kind != OpKind::Evict {
            return seen;
        }
        let snapshot = self.container.0.snapshot();
        let verdict = backend.judge(|ledger, _| {
            check_evicted(ledger, &snapshot, id, &outcome, &Default::default()).err()
        });
        // The bounce: the container dies with everything in it; a new one boots.
        backend.end();
        self.container = self
            .runtime
            .block_on(async { boot::<M>(&self.spec, seed, &self.in_flight) });
        verdict
    }

    fn settle(&mut self) -> Option<Violation> {
        let backend = &self.container.1;
        backend.heal();
        let wait = settle_wait(&self.spec);
        self.runtime
            .block_on(async { tokio::time::sleep(wait).await });
        let snapshot = self.container.0.snapshot();
        let verdict = backend.judge(|ledger, seen| {
            seen.cloned()
                .or_else(|| check_settled(ledger, &snapshot).err())
        });
        backend.end();
        verdict
    }
}
