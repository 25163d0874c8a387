//! The state the simulation driver and the fake backend share: the ledger, the backend calls
//! in flight, the history, and the decision stream.
//!
//! Backend calls do not complete on their own: each one is *parked* here with a due time drawn
//! from the decision stream, and the driver answers it between simulation steps. That is what
//! makes the order in which concurrent calls resume a function of the seed; tokio alone would
//! resume them first in, first out.

pub mod backend;
mod call;
mod calls;
mod clock;
mod drops;
pub(crate) mod events;
mod happenings;
pub mod history;
pub mod ledger;
pub(crate) mod mailbox;
mod server;
mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_lifecycle::{AgentId, BackendError, Snapshot};
use tokio::sync::mpsc::UnboundedSender;

use crate::decisions::Decisions;
use crate::scenario::faults::FaultConfig;
use crate::scenario::spec::{ScenarioSpec, Strategy};
use crate::scenario::workload::CallKind;
use crate::schedule::Schedule;
use crate::world::call::Parked;
use crate::world::history::{History, OpId};
use crate::world::ledger::Ledger;
use crate::world::mailbox::{Notice, SameInstant};
use lifecycle_models::ServerEvent;

pub(crate) use call::{Call, Command, Reply};
pub(crate) use events::{AtReturn, Began, RunEvent, RunEvents};
pub(crate) use happenings::Happening;
pub use server::Closing;

pub(crate) type SnapshotFn = Arc<dyn Fn() -> Snapshot + Send + Sync>;
pub(crate) type RegistryFn = Arc<dyn Fn() -> Vec<agent_lifecycle::StartRequest> + Send + Sync>;

/// How often a server sends `server.heartbeat` on its SSE streams: 8 ms, against the simulated
/// idle timeout of 30 ms. This was set when the real interval was assumed to be 30 s (a quarter
/// of the real 120 s idle timeout); the contract since recorded 10 s (kilo 7.0.33 and 7.7.9,
/// `crates/kilo-contract/recorded`), a twelfth. What the findings rest on (a heartbeat comes
/// well within one idle timeout) holds either way; a twelfth would be three times the events.
pub const HEARTBEAT_MS: u64 = 8;

/// Knobs of the simulated backend.
#[derive(Clone, Debug)]
pub(crate) struct BackendConfig {
    /// The fault families injected into calls.
    pub faults: FaultConfig,
    /// Each call takes 1..=max_latency_ms simulated milliseconds.
    pub max_latency_ms: u32,
    /// The manager's call timeout: a late effect lands 1-40 ms after it.
    pub call_timeout_ms: u64,
    /// How the events of one millisecond are ordered.
    pub same_instant: SameInstant,
    /// How often a server heartbeats: [`HEARTBEAT_MS`], or under a clockwork (version 3) the
    /// same share of the idle timeout (8 of 30), so that real timing constants do not wake
    /// the clockwork every few milliseconds (32 s against 120 s; a real server sends one every
    /// 10 s, see [`HEARTBEAT_MS`]).
    pub heartbeat_ms: u64,
    /// How long a turn lasts (`Timing::turn_ms`): `None`, the prompt's drawn latency.
    pub turn_ms: Option<u64>,
    /// Whether walk and dfs may hold the call they picked (version 5).
    pub step_delays: bool,
    /// Whether the container dies at the instant its death is seen (version 5).
    pub exact_death: bool,
}

impl BackendConfig {
    /// The backend a scenario runs against: its faults, its latencies, and the same-instant
    /// order its version calls for.
    pub fn of(spec: &ScenarioSpec) -> Self {
        let engine = crate::scenario::engine::Engine::of(spec);
        Self {
            faults: spec.faults,
            max_latency_ms: spec.timing.max_latency_ms,
            call_timeout_ms: spec.timing.call_timeout_ms,
            same_instant: engine.same_instant,
            heartbeat_ms: if engine.jumps_time {
                (spec.timing.idle_timeout_ms * HEARTBEAT_MS / 30).max(1)
            } else {
                HEARTBEAT_MS
            },
            turn_ms: spec.timing.turn_ms,
            step_delays: engine.step_delays,
            exact_death: engine.exact_death,
        }
    }
}

pub use crate::scenario::spec::LATE_EFFECT_MS;

/// The shared state of one run: the simulated clock, the decision stream, the ledger, the
/// backend calls parked until the driver answers them, and the history.
pub(crate) struct World {
    /// The simulated time, in milliseconds.
    pub now_ms: u64,
    /// Version 3: wakes the clockwork that drives this world from inside the container.
    pub clockwork: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// Version 3: the instant the clockwork will look next; a poke that cannot bring it
    /// sooner is not sent (many tasks poke in one instant).
    pub next_look_ms: u64,
    /// Version 3: the runtime's instant at which this boot's clockwork started, and the
    /// simulated millisecond it was.
    pub clock_base: Option<(tokio::time::Instant, u64)>,
    pub decisions: Decisions,
    pub backend: BackendConfig,
    pub healed: bool,
    pub ledger: Ledger,
    parked: Vec<Parked>,
    next_call: u64,
    pub history: History,
    scheduler: Box<dyn Schedule>,
    scheduled: Vec<(u64, Happening)>,
    /// What the checker must judge, in the order it happened (`events.rs`).
    pub events: RunEvents,
    /// Set by the container software each time it boots: batches of notices, delivered in
    /// order by the container's own task.
    pub inbox: Option<UnboundedSender<Vec<Notice>>>,
    /// While the driver takes one millisecond's events in their drawn order, their notices
    /// wait here, to reach the container as one batch in that order.
    batching: bool,
    outbox: Vec<Notice>,
    /// Tasks that made backend calls outside any operation, by first appearance (tokio task
    /// ids): each is a thread of its own for pct.
    tasks: Vec<u64>,
    pub snapshot: Option<SnapshotFn>,
    /// What the manager persists ([`Lifecycle::registry`]), read when the container dies.
    ///
    /// [`Lifecycle::registry`]: agent_lifecycle::Lifecycle::registry
    pub registry: Option<RegistryFn>,
    /// What the last container persisted when it died: the next boot's hydration, if that
    /// boot is a reboot's.
    pub persisted: Vec<agent_lifecycle::StartRequest>,
    /// A reboot was issued: the container goes at the next look.
    pub reboot: Option<OpId>,
    /// The reboot whose boot this is: its hydration answers as that operation.
    pub rebooted: Option<OpId>,
    /// Operations whose caller will go away: when, and the signal that drops their future.
    drop_plans: BTreeMap<OpId, (u64, Arc<tokio::sync::Notify>)>,
    /// SSE streams of dead servers that the SDK keeps retrying: open, and silent for ever.
    silent_streams: Vec<UnboundedSender<Result<ServerEvent, BackendError>>>,
    /// Whether some millisecond's events ran in a drawn order other than the default one.
    pub reordered: bool,
    /// Version 5: the container died at this instant and waits to be bounced; until then its
    /// tasks still run, but nothing they do reaches the world.
    pub died_at_ms: Option<u64>,
}

impl World {
    /// `pct_steps`: the k over which pct draws its change points.
    pub fn new(
        mut decisions: Decisions,
        backend: BackendConfig,
        strategy: Strategy,
        pct_steps: u32,
    ) -> Self {
        let scheduler = strategy.schedule(
            backend.max_latency_ms,
            pct_steps,
            backend.step_delays,
            &mut decisions,
        );
        Self {
            scheduler,
            now_ms: 0,
            clockwork: None,
            next_look_ms: u64::MAX,
            clock_base: None,
            decisions,
            backend,
            healed: false,
            ledger: Ledger::default(),
            parked: Vec::new(),
            next_call: 1,
            history: History::default(),
            scheduled: Vec::new(),
            events: RunEvents::default(),
            inbox: None,
            snapshot: None,
            registry: None,
            persisted: Vec::new(),
            reboot: None,
            rebooted: None,
            silent_streams: Vec::new(),
            drop_plans: BTreeMap::new(),
            batching: false,
            died_at_ms: None,
            outbox: Vec::new(),
            reordered: false,
            tasks: Vec::new(),
        }
    }

    /// What pct measured of this run (its threads and steps).
    pub fn pct_measure(&self) -> Option<crate::schedule::PctMeasure> {
        self.scheduler.measure()
    }

    /// Whether the events of one millisecond are put in a drawn order.
    pub fn draws_orders(&self) -> bool {
        self.backend.same_instant == SameInstant::Drawn
    }

    /// The fault families in force now: none once the faults have healed.
    pub(crate) fn faults_now(&self) -> FaultConfig {
        if self.healed {
            FaultConfig::none()
        } else {
            self.backend.faults
        }
    }

    /// Whether the faults are off now: a faultless run, or after they healed.
    pub(crate) fn faults_off(&self) -> bool {
        self.faults_now() == FaultConfig::none()
    }

    /// Whether no backend call is in flight.
    pub fn is_idle(&self) -> bool {
        self.parked.is_empty()
    }

    /// The kind of the agent's earliest backend call still in flight: its caller waits for
    /// it, and its effect has not happened yet.
    pub fn call_in_flight_of(&self, agent: &AgentId) -> Option<CallKind> {
        self.parked
            .iter()
            .filter(|p| p.agent.as_ref() == Some(agent) && !p.spent && !p.abandoned)
            .min_by_key(|p| p.id)
            .map(|p| p.call.kind())
    }
}
