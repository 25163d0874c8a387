//! One system run: a `town` host running the town's control plane and a `container` host
//! running the product's control server, on turmoil's network, stepped a millisecond at a
//! time. Every control call crosses the network; the backend's calls are answered by the
//! harness as in every run; the network holds and cuts messages and fails connections, the
//! container is evicted and boots again from its registry; the invariants are judged after
//! every step, and the system's agreement once the network healed and the town had time to
//! converge.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_lifecycle::{AgentId, Lifecycle, ManagerConfig, Snapshot};
use tokio::sync::Notify;

use super::alarm::run_town;
use super::control_host::{ContainerSetup, SharedRequests, lock_requests, system_container};
use super::dialer::Dialer;
use super::registry::{RegistryStyle, SimRegistry};
use super::scenario::SystemSpec;
use super::town::{SharedTown, Town, lock_town};
use super::verdict::{converged, not_resurrected, one_working_session};
use super::{CONTAINER_HOST, TOWN_HOST, TOWN_PORT, serve_on};
use crate::check::{Checker, UserInvariant, Violation};
use crate::decisions::Decisions;
use crate::run::EventCounts;
use crate::run::drive::{Flow, Scene, Time, container_died, drive};
use crate::run::panics::snapshot_of;
use crate::scenario::names::agent_name;
use crate::scenario::spec::{Strategy, Timing};
use crate::scenario::workload::OpKind;
use crate::world::backend::{FakeBackend, lock};
use crate::world::history::{History, What};
use crate::world::mailbox::SameInstant;
use crate::world::{BackendConfig, Began, HEARTBEAT_MS, Happening, World};

/// What one system run left.
pub struct SystemOutcome {
    /// The first invariant it broke, if any.
    pub violation: Option<Violation>,
    /// Everything that happened, in order.
    pub history: History,
    /// The simulated time it took.
    pub elapsed: Duration,
    /// The town's dispatches, as it saw them end.
    pub dispatches: Vec<super::town::DispatchRecord>,
    /// The run's event stream.
    pub events: EventCounts,
}

/// How a container model runs in the system: how its handlers outlive their requests, and
/// how it writes its registry.
#[derive(Clone, Copy, Debug)]
pub struct ContainerStyle {
    /// Each control request runs to its end whatever its client does (a JS handler),
    /// instead of being dropped with its connection.
    pub detach: bool,
    /// How it writes its registry.
    pub registry: RegistryStyle,
    /// How its stop route answers for an agent it does not know.
    pub stop_route: control_server::StopRoute,
}

/// Runs the system scenario of `seed` with the container manager `M`, judged by every
/// invariant of the checker, `invariants` (the subject's own) and the system's S1-S4.
pub fn run_system<M: Lifecycle<FakeBackend>>(
    spec: &SystemSpec,
    seed: u64,
    style: ContainerStyle,
    invariants: &[UserInvariant],
) -> SystemOutcome {
    let world = Arc::new(Mutex::new(World::new(
        Decisions::from_seed(seed.wrapping_add(0x5157_e111)),
        BackendConfig {
            faults: spec.faults,
            max_latency_ms: spec.max_latency_ms,
            call_timeout_ms: spec.call_timeout_ms,
            same_instant: SameInstant::Drawn,
            heartbeat_ms: HEARTBEAT_MS,
            turn_ms: None,
            step_delays: false,
            exact_death: false,
        },
        Strategy::Random,
        0,
    )));
    let requests = SharedRequests::default();
    let town = Town::new(&spec.agents, &spec.town_stops, spec.policy);
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(spec.max_message_latency_ms))
        .simulation_duration(Duration::from_secs(24 * 3600))
        .build();
    let dialer = Dialer::new(seed, spec.connect_failures_per_mille, spec.chaos_ms);
    let registry = SimRegistry::new(style.registry, seed);
    let sigterm = Arc::new(Notify::new());
    let setup = Arc::new(ContainerSetup {
        world: world.clone(),
        requests: requests.clone(),
        config: ManagerConfig {
            call_timeout: Duration::from_millis(spec.call_timeout_ms),
            // An agent works on its bead until the town closes it: the real initial prompt's
            // turn is the bead's work, and the agent closes its bead (gt_done) before it goes
            // idle. The idle exit (120 s real) comes after every run here ends, so a turn's
            // session.idle never sends a working agent round the dispatch loop.
            idle_timeout: Duration::from_secs(3600),
            retry_pause: Duration::from_millis(10),
            request_lifetime: Duration::from_millis(spec.call_timeout_ms + 41),
        },
        heartbeat: Duration::from_millis(spec.town.heartbeat_ms),
        heartbeat_phase: Duration::from_millis(spec.heartbeat_phase_ms),
        detach: style.detach,
        registry: registry.clone(),
        stop_route: style.stop_route,
        dialer: dialer.clone(),
        sigterm: sigterm.clone(),
    });
    let boots = Arc::new(Mutex::new(0u32));
    sim.host(CONTAINER_HOST, move || {
        let boot = {
            let mut b = boots.lock().unwrap_or_else(|p| p.into_inner());
            *b += 1;
            format!("boot-{b}")
        };
        system_container::<M>(setup.clone(), boot)
    });
    let (host_town, policy, timing) = (town.clone(), spec.policy, spec.town);
    sim.host(TOWN_HOST, move || {
        let (town, dialer) = (host_town.clone(), dialer.clone());
        async move {
            tokio::spawn(serve_on(TOWN_PORT, super::town_api::api(town.clone())));
            run_town(town, policy, timing, dialer).await;
            Ok(())
        }
    });
    let scene = Mutex::new(SystemScene {
        world: world.clone(),
        spec: spec.clone(),
        requests,
        town: town.clone(),
        registry,
        sigterm,
        link: Link::Whole,
        draining_since: None,
        down_until: None,
        // L1's bound is a scenario's (scaled) default.
        checker: Checker::new(
            invariants.to_vec(),
            &Timing {
                max_latency_ms: spec.max_latency_ms,
                call_timeout_ms: spec.call_timeout_ms,
                // The container's idle timeout (above): no idle exit within a run.
                idle_timeout_ms: 3_600_000,
                ..Timing::default()
            },
        ),
    });
    let violation = drive(&mut sim, &scene, Time::Millisecond);
    let mut w = lock(&world);
    w.snapshot = None;
    w.inbox = None;
    let elapsed = Duration::from_millis(w.now_ms);
    let dispatches = lock_town(&town).dispatches.clone();
    SystemOutcome {
        events: EventCounts::of(&w),
        violation,
        history: std::mem::take(&mut w.history),
        elapsed,
        dispatches,
    }
}

/// The state of the link between the town and the container.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    Whole,
    Held,
    Cut,
}

/// The system around the container: the town, the network between them, the container's
/// evictions and boots.
struct SystemScene {
    world: Arc<Mutex<World>>,
    spec: SystemSpec,
    requests: SharedRequests,
    town: SharedTown,
    registry: SimRegistry,
    sigterm: Arc<Notify>,
    link: Link,
    /// Since when the container drains (SIGTERM sent, not yet killed).
    draining_since: Option<u64>,
    /// Until when the killed container stays down.
    down_until: Option<u64>,
    checker: Checker,
}

impl Scene for SystemScene {
    fn world(&self) -> &Arc<Mutex<World>> {
        &self.world
    }

    fn checker(&mut self) -> &mut Checker {
        &mut self.checker
    }

    fn outside(&mut self, sim: &mut turmoil::Sim<'_>, now: u64) {
        self.network(sim, now);
        if self.down_until.is_some_and(|at| at <= now) {
            self.down_until = None;
            sim.bounce(CONTAINER_HOST);
            self.note(now, "the container boots again".into());
        }
        if self.spec.evictions.contains(&now) && self.draining_since.is_none() {
            self.sigterm.notify_one();
            self.draining_since = Some(now);
            self.note(now, "SIGTERM: heartbeats stop, the drain begins".into());
        }
    }

    /// The drain's eviction ends with the container's exit, which [`Scene::after`] sees.
    fn eviction_bounces(&self) -> bool {
        false
    }

    fn act(&mut self, now: u64) {
        if now == self.spec.chaos_ms {
            let mut w = lock(&self.world);
            w.healed = true;
            w.history.push(now, None, What::FaultsHealed);
        }
        self.registry.land(now);
        instant(&mut lock(&self.world), now);
    }

    fn gather(&mut self, w: &mut World) {
        for (at, agent, what) in std::mem::take(&mut lock_town(&self.town).log) {
            w.history
                .push(at, Some(AgentId::new(&agent)), What::Town(what));
        }
    }

    fn on_began(&mut self, began: &Began) -> Result<(), Violation> {
        match began.kind {
            OpKind::Start(a) if began.hydration => {
                not_resurrected(&self.town, &agent_name(a), began.op)
            }
            _ => Ok(()),
        }
    }

    fn judge(&mut self, now: u64, w: &mut World, _snapshot: &Snapshot) -> Result<bool, Violation> {
        one_working_session(w)?;
        self.checker.on_waiting(now)?;
        Ok(false)
    }

    fn after(&mut self, sim: &mut turmoil::Sim<'_>, now: u64) -> Flow {
        if let Some(since) = self.draining_since {
            let drained = lock_requests(&self.requests).drained;
            if drained || now >= since + self.spec.drain_deadline_ms {
                self.kill(sim, now, drained);
                self.down_until = Some(now + self.spec.boot_delay_ms);
            }
        }
        if now < self.spec.chaos_ms + self.spec.converge_ms() {
            return Flow::Go;
        }
        let w = lock(&self.world);
        let snapshot = snapshot_of(&w);
        let end = self
            .checker
            .on_settled(&w.ledger, &snapshot)
            .and_then(|()| converged(&w, &self.town, &self.requests, &self.spec.town));
        Flow::Done(end.err())
    }
}

impl SystemScene {
    /// Cuts, holds, repairs and releases the link as the scenario says for this millisecond.
    fn network(&mut self, sim: &mut turmoil::Sim<'_>, now: u64) {
        let spec = &self.spec;
        let within = |windows: &[(u64, u64)]| {
            now < spec.chaos_ms && windows.iter().any(|&(a, b)| a <= now && now < b)
        };
        let want = if within(&spec.partitions) {
            Link::Cut
        } else if within(&spec.holds) {
            Link::Held
        } else {
            Link::Whole
        };
        if want == self.link {
            return;
        }
        let (a, b) = (TOWN_HOST, CONTAINER_HOST);
        let mut events = Vec::new();
        match self.link {
            Link::Held => {
                sim.release(a, b);
                events.push(What::Released);
            }
            Link::Cut => {
                sim.repair(a, b);
                events.push(What::Repaired);
            }
            Link::Whole => {}
        }
        match want {
            Link::Held => {
                sim.hold(a, b);
                events.push(What::Held);
            }
            Link::Cut => {
                sim.partition(a, b);
                events.push(What::Partitioned);
            }
            Link::Whole => {}
        }
        let mut w = lock(&self.world);
        for what in events {
            w.history.push(now, None, what);
        }
        self.link = want;
    }

    fn note(&self, now: u64, what: String) {
        lock(&self.world)
            .history
            .push(now, None, What::Container(what));
    }

    /// The container is killed (its drain returned, or its deadline passed): every process in
    /// it dies, and what was in flight with them.
    fn kill(&mut self, sim: &mut turmoil::Sim<'_>, now: u64, drained: bool) {
        self.note(
            now,
            if drained {
                "the drain returned: the container exits".into()
            } else {
                "the drain ran over its deadline: the container is killed".into()
            },
        );
        sim.crash(CONTAINER_HOST);
        self.draining_since = None;
        lock_requests(&self.requests).drained = false;
        container_died(self, now);
    }
}

/// What the world makes happen this millisecond (backend events, answers), in a drawn order.
pub(crate) fn instant(w: &mut World, now: u64) {
    enum Due {
        Backend(Happening),
        Answer(u64),
    }
    w.now_ms = now;
    w.forget_abandoned();
    let mut due = Vec::new();
    for happening in w.take_due_happenings() {
        if w.is_unheard(&happening) {
            w.happen(happening);
        } else {
            due.push(Due::Backend(happening));
        }
    }
    due.extend(w.scheduled_calls().into_iter().map(Due::Answer));
    let order = w.draw_order(due.len());
    w.begin_batch();
    for i in order {
        match &due[i] {
            Due::Backend(happening) => w.happen(*happening),
            Due::Answer(call) => w.answer_call(*call),
        }
    }
    w.end_batch();
}
