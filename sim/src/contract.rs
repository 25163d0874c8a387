//! The fake backend on its own, for a contract suite shared with a real backend:
//! [`on_fake_backend`] runs an async body against a [`FakeBackend`] in a turmoil host, the
//! world answering its calls each simulated millisecond, until the body returns. Time in the
//! body is simulated: a `tokio::time::timeout` of five seconds costs nothing.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::decisions::Decisions;
use crate::scenario::faults::FaultConfig;
use crate::scenario::spec::Strategy;
use crate::world::backend::{FakeBackend, lock};
use crate::world::mailbox::{Notice, SameInstant};
use crate::world::{BackendConfig, HEARTBEAT_MS, World};

/// The longest a contract body may take, in simulated time.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `body` against a fake backend with `faults` (the contract runs it fault-free, with
/// only the event families it needs on), its latencies drawn from `seed`; returns what the
/// body returned. Panics (with the body's own message) when the body panics.
pub fn on_fake_backend<F, Fut, T>(seed: u64, faults: FaultConfig, body: F) -> T
where
    F: FnOnce(FakeBackend) -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
    T: 'static,
{
    let world = Arc::new(Mutex::new(World::new(
        Decisions::from_seed(seed),
        BackendConfig {
            faults,
            max_latency_ms: 20,
            call_timeout_ms: 1_000,
            same_instant: SameInstant::Drawn,
            heartbeat_ms: HEARTBEAT_MS,
            turn_ms: None,
            step_delays: false,
            exact_death: false,
        },
        Strategy::Random,
        0,
    )));
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(1))
        .simulation_duration(LIMIT)
        .build();
    let body = Rc::new(RefCell::new(Some(body)));
    let result: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let (host_world, host_result) = (world.clone(), result.clone());
    sim.client("contract", async move {
        let body = body.borrow_mut().take().expect("the body runs once");
        let (inbox, mut notices) = tokio::sync::mpsc::unbounded_channel::<Vec<Notice>>();
        lock(&host_world).inbox = Some(inbox);
        let delivering = host_world.clone();
        tokio::task::spawn_local(async move {
            while let Some(batch) = notices.recv().await {
                for notice in batch {
                    notice.deliver_in_container(&delivering);
                }
            }
        });
        let out = body(FakeBackend::new(host_world.clone())).await;
        *host_result.borrow_mut() = Some(out);
        Ok(())
    });
    loop {
        let now = sim.elapsed().as_millis() as u64;
        crate::system::scene::instant(&mut lock(&world), now);
        let done = sim.step().expect("the contract body runs within its limit");
        if done {
            break;
        }
    }
    let out = result.borrow_mut().take();
    out.expect("the body finished")
}
