//! The manager as a sequential system under test (what proptest-state-machine drives): one
//! operation at a time, each awaited to its end on a current-thread tokio runtime with a
//! paused clock (time moves only when everything waits), the plain backend seeded by the test
//! case. Judged as a play is: at every close, at an eviction's return, and, at the end of the
//! case, once settled with the faults stopped. An eviction bounces the manager, as the harness
//! does: a fresh one, on a fresh backend, takes the rest of the case.

use std::collections::BTreeMap;

use agent_lifecycle::{AgentManager, Lifecycle};
use lifecycle_models::{AbortTokenManager, LegacyManager, StartLockManager};
use lifecycle_sim::check::{check_evicted, check_settled};
use lifecycle_sim::run::CRASH_WINDOW_MS;
use lifecycle_sim::scenario::names::agent_id;
use lifecycle_sim::scenario::spec::ScenarioSpec;
use lifecycle_sim::scenario::workload::OpKind;
use lifecycle_sim::world::history::OpId;
use lifecycle_sim::{Model, Violation};
use std::sync::Arc;
use tokio::runtime::Runtime;

use crate::plain_backend::PlainBackend;
use crate::play::{boot, settle_wait, start_request};

/// A manager taking one operation at a time.
pub trait Sequential {
    /// Runs `kind` to its end; a violation it revealed.
    fn op(&mut self, kind: OpKind) -> Option<Violation>;
    /// Stops the faults, waits for the manager to settle, and judges it.
    fn settle(&mut self) -> Option<Violation>;
}

/// `model` as a sequential system, its backend seeded by `seed`.
pub fn sequential(model: Model, spec: &ScenarioSpec, seed: u64) -> Box<dyn Sequential> {
    match model {
        Model::Legacy => Box::new(On::<LegacyManager<PlainBackend>>::new(spec, seed)),
        Model::AbortToken => Box::new(On::<AbortTokenManager<PlainBackend>>::new(spec, seed)),
        Model::StartLock => Box::new(On::<StartLockManager<PlainBackend>>::new(spec, seed)),
        Model::Owned => Box::new(On::<AgentManager<PlainBackend>>::new(spec, seed)),
        // `Model` is non-exhaustive: a model added to the harness is not on this panel yet.
        other => panic!("head-to-head has no plain-backend manager for {other:?}"),
    }
}

struct On<M> {
    runtime: Runtime,
    spec: ScenarioSpec,
    seed: u64,
    manager: Arc<M>,
    backend: PlainBackend,
    ops: OpId,
}

impl<M: Lifecycle<PlainBackend>> On<M> {
    fn new(spec: &ScenarioSpec, seed: u64) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a tokio runtime");
        let (manager, backend) = runtime.block_on(async {
            let (manager, backend) = boot::<M>(spec, seed);
            backend.schedule_crashes(CRASH_WINDOW_MS);
            (manager, backend)
        });
        Self {
            runtime,
            spec: spec.clone(),
            seed,
            manager,
            backend,
            ops: 0,
        }
    }
}

impl<M: Lifecycle<PlainBackend>> Sequential for On<M> {
    fn op(&mut self, kind: OpKind) -> Option<Violation> {
        self.ops += 1;
        let (id, manager, spec) = (self.ops, self.manager.clone(), &self.spec);
        let outcome = self.runtime.block_on(async {
            match kind {
                OpKind::Start(a) => manager.start(start_request(spec, a)).await,
                OpKind::Stop(a) => manager.stop(&agent_id(a)).await,
                OpKind::Evict => manager.evict().await,
                OpKind::Refresh => manager.refresh().await,
                OpKind::Update(a) => manager.update(&agent_id(a), "model").await,
                // A peer has no container to reboot and no subject's operations.
                OpKind::Reboot | OpKind::Custom(_) => {
                    unreachable!("the panel's workloads have no {kind}")
                }
            }
        });
        let closed = self.backend.judge(|_, closed| closed.cloned());
        if closed.is_some() || kind != OpKind::Evict {
            return closed;
        }
        let snapshot = self.manager.snapshot();
        let verdict = self.backend.judge(|ledger, _| {
            check_evicted(ledger, &snapshot, id, &outcome, &BTreeMap::new()).err()
        });
        // The bounce: the container dies with everything in it; a new one boots.
        self.backend.end();
        let seed = self.seed.wrapping_add(u64::from(id));
        let (manager, backend) = self.runtime.block_on(async { boot::<M>(&self.spec, seed) });
        (self.manager, self.backend) = (manager, backend);
        verdict
    }

    fn settle(&mut self) -> Option<Violation> {
        self.backend.heal();
        let wait = settle_wait(&self.spec);
        self.runtime
            .block_on(async { tokio::time::sleep(wait).await });
        let snapshot = self.manager.snapshot();
        let verdict = self.backend.judge(|ledger, closed| {
            closed
                .cloned()
                .or_else(|| check_settled(ledger, &snapshot).err())
        });
        self.backend.end();
        verdict
    }
}
