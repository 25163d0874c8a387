//! One system run: a `town` host running the town's control plane and a `container` host
//! running the product's control server, on turmoil's network, stepped a millisecond at a
//! time. Every control call crosses the network; the backend's calls are answered by the
//! harness as in every run; the invariants are judged after every step, and the system's
//! agreement once the network healed and the town had time to converge.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_lifecycle::{AgentId, Lifecycle, ManagerConfig};

use super::container::{SharedRequests, lock_requests, system_container};
use super::spec::SystemSpec;
use super::town::{Belief, SharedTown, Town, lock_town, run_town};
use super::{CONTAINER_HOST, TOWN_HOST, TOWN_PORT, serve_on};
use crate::check::{Invariant, View, Violation, check_settled, check_step};
use crate::decisions::Decisions;
use crate::run::panics::snapshot_of;
use crate::scenario::names::agent_of;
use crate::scenario::spec::Strategy;
use crate::scenario::workload::OpKind;
use crate::world::backend::{FakeBackend, lock};
use crate::world::history::{History, OpId, What};
use crate::world::mailbox::SameInstant;
use crate::world::{BackendConfig, HEARTBEAT_MS, Happening, World};

pub struct SystemOutcome {
    pub violation: Option<Violation>,
    pub history: History,
    pub elapsed: Duration,
    /// The town's dispatches, as it saw them end.
    pub dispatches: Vec<super::town::DispatchRecord>,
}

/// Runs the system scenario of `seed` with the container manager `M`. `detach`: each control
/// request runs to its end whatever its client does (a JS handler), instead of being dropped
/// with its connection.
pub fn run_system<M: Lifecycle<FakeBackend>>(
    spec: &SystemSpec,
    seed: u64,
    detach: bool,
) -> SystemOutcome {
    let world = Arc::new(Mutex::new(World::new(
        Decisions::from_seed(seed.wrapping_add(0x5157_e111)),
        BackendConfig {
            faults: spec.faults,
            max_latency_ms: spec.max_latency_ms,
            call_timeout_ms: spec.call_timeout_ms,
            same_instant: SameInstant::Drawn,
            heartbeat_ms: HEARTBEAT_MS,
        },
        Strategy::Random,
        0,
    )));
    let requests = SharedRequests::default();
    let town = Town::new(&spec.agents);
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .rng_seed(seed)
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(spec.max_message_latency_ms))
        .simulation_duration(Duration::from_secs(24 * 3600))
        .build();
    let config = ManagerConfig {
        call_timeout: Duration::from_millis(spec.call_timeout_ms),
        idle_timeout: Duration::from_millis(30),
        retry_pause: Duration::from_millis(10),
        request_lifetime: Duration::from_millis(spec.call_timeout_ms + 41),
    };
    let heartbeat = Duration::from_millis(spec.town.heartbeat_ms);
    let heartbeat_phase = Duration::from_millis(spec.heartbeat_phase_ms);
    let (host_world, host_requests) = (world.clone(), requests.clone());
    let boots = Arc::new(Mutex::new(0u32));
    sim.host(CONTAINER_HOST, move || {
        let boot = {
            let mut b = boots.lock().unwrap_or_else(|p| p.into_inner());
            *b += 1;
            format!("boot-{b}")
        };
        system_container::<M>(
            host_world.clone(),
            host_requests.clone(),
            config.clone(),
            heartbeat,
            heartbeat_phase,
            boot,
            detach,
        )
    });
    let (host_town, policy, timing) = (town.clone(), spec.policy, spec.town);
    sim.host(TOWN_HOST, move || {
        let town = host_town.clone();
        async move {
            tokio::spawn(serve_on(TOWN_PORT, super::town_api::api(town.clone())));
            run_town(town, policy, timing).await;
            Ok(())
        }
    });
    let mut judge = Judge::default();
    let violation = judge.drive(&mut sim, spec, &world, &requests, &town).err();
    let mut w = lock(&world);
    w.snapshot = None;
    w.inbox = None;
    let elapsed = Duration::from_millis(w.now_ms);
    let dispatches = lock_town(&town).dispatches.clone();
    SystemOutcome {
        violation,
        history: std::mem::take(&mut w.history),
        elapsed,
        dispatches,
    }
}

#[derive(Default)]
struct Judge {
    in_flight: BTreeMap<OpId, OpKind>,
    stop_barriers: BTreeMap<AgentId, OpId>,
    partitioned: bool,
}

impl Judge {
    fn drive(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        spec: &SystemSpec,
        world: &Arc<Mutex<World>>,
        requests: &SharedRequests,
        town: &SharedTown,
    ) -> Result<(), Violation> {
        let end_ms = spec.chaos_ms + spec.converge_ms();
        loop {
            let now = sim.elapsed().as_millis() as u64;
            let cut =
                now < spec.chaos_ms && spec.partitions.iter().any(|&(a, b)| a <= now && now < b);
            if cut != self.partitioned {
                if cut {
                    sim.partition(TOWN_HOST, CONTAINER_HOST);
                } else {
                    sim.repair(TOWN_HOST, CONTAINER_HOST);
                }
                lock(world).history.push(
                    now,
                    None,
                    if cut {
                        What::Partitioned
                    } else {
                        What::Repaired
                    },
                );
                self.partitioned = cut;
            }
            if now == spec.chaos_ms {
                let mut w = lock(world);
                w.healed = true;
                w.history.push(now, None, What::FaultsHealed);
            }
            instant(&mut lock(world), now);
            sim.step().expect("the hosts run for ever");
            self.observe(world, requests, town, now);
            self.check(world, now)?;
            if now >= end_ms {
                return converged(&lock(world), town, requests, &spec.town);
            }
        }
    }

    fn observe(
        &mut self,
        world: &Arc<Mutex<World>>,
        requests: &SharedRequests,
        town: &SharedTown,
        now: u64,
    ) {
        let mut r = lock_requests(requests);
        let mut w = lock(world);
        for (at, agent, what) in std::mem::take(&mut lock_town(town).log) {
            w.history
                .push(at, Some(AgentId::new(&agent)), What::Town(what));
        }
        for (op, kind) in std::mem::take(&mut r.arrived) {
            w.history
                .push(now, agent_of(kind), What::OpIssued(op, kind));
            self.in_flight.insert(op, kind);
        }
        for (op, kind, result) in std::mem::take(&mut r.ended) {
            if let (OpKind::Stop(a), Ok(())) = (kind, &result) {
                self.stop_barriers
                    .insert(crate::scenario::names::agent_id(a), op);
            }
            w.history
                .push(now, agent_of(kind), What::OpReturned(op, kind, result));
            self.in_flight.remove(&op);
        }
        for (op, kind) in std::mem::take(&mut r.dropped) {
            w.history
                .push(now, agent_of(kind), What::OpDropped(op, kind));
            self.in_flight.remove(&op);
        }
    }

    fn check(&self, world: &Arc<Mutex<World>>, now: u64) -> Result<(), Violation> {
        let w = lock(world);
        let snapshot = snapshot_of(&w);
        let view = View {
            now_ms: now,
            ledger: &w.ledger,
            snapshot: &snapshot,
            in_flight: &self.in_flight,
            quiescent: self.in_flight.is_empty() && w.is_idle(),
            stop_barriers: &self.stop_barriers,
        };
        check_step(&view)?;
        one_working_session(&w)
    }
}

/// What the world makes happen this millisecond (backend events, answers), in a drawn order.
fn instant(w: &mut World, now: u64) {
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

/// S1: at most one live session of an agent doing work at any instant (a session no caller
/// ever heard of, from a lost reply or a late effect, was never prompted: it does no work).
fn one_working_session(w: &World) -> Result<(), Violation> {
    let mut seen: BTreeMap<&AgentId, Vec<agent_lifecycle::SessionId>> = BTreeMap::new();
    for s in w.ledger.live_sessions().filter(|s| !s.ambiguous) {
        seen.entry(&s.agent).or_default().push(s.id);
    }
    match seen.into_iter().find(|(_, ids)| ids.len() > 1) {
        None => Ok(()),
        Some((agent, ids)) => {
            let list: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
            Err(Violation::new(
                Invariant::S1,
                format!(
                    "{agent} has {} live sessions at once: {}",
                    ids.len(),
                    list.join(", ")
                ),
                ids,
            ))
        }
    }
}

/// After convergence: the container settled (I1 at settle), the town and the container agree
/// (S2), and no dispatch the town wrote off took effect (S3).
fn converged(
    w: &World,
    town: &SharedTown,
    requests: &SharedRequests,
    timing: &super::town::TownTiming,
) -> Result<(), Violation> {
    let snapshot = snapshot_of(w);
    check_settled(&w.ledger, &snapshot)?;
    let t = lock_town(town);
    for (name, agent) in &t.agents {
        let id = AgentId::new(name);
        let live: Vec<_> = w
            .ledger
            .live_sessions()
            .filter(|s| s.agent == id)
            .map(|s| s.id)
            .collect();
        let agrees = match agent.belief {
            Belief::Working => live.len() == 1,
            Belief::Idle | Belief::Done => live.is_empty(),
        };
        if !agrees {
            return Err(Violation::new(
                Invariant::S2,
                format!(
                    "converged, the town believes {name} {:?} and the container runs {} live sessions of it",
                    agent.belief,
                    live.len()
                ),
                live,
            ));
        }
        // Working on the evidence of heartbeats, not of the town's own dispatches: a town that
        // keeps re-dispatching an agent it never hears from has not converged.
        let heard = agent
            .last_heartbeat_ms
            .is_some_and(|at| w.now_ms - at <= timing.liveness_ms);
        if agent.belief == Belief::Working && !heard {
            return Err(Violation::new(
                Invariant::S2,
                format!(
                    "converged, the town believes {name} working but has heard no heartbeat of it for {} ms (last: {:?})",
                    timing.liveness_ms, agent.last_heartbeat_ms
                ),
                live,
            ));
        }
    }
    let r = lock_requests(requests);
    for record in t.dispatches.iter().filter(|d| d.written_off) {
        if let Some((op, ..)) = r
            .dispatches
            .iter()
            .find(|(_, dispatch, started)| *started && *dispatch == record.dispatch)
        {
            // A duplicate only if the town sent the agent another dispatch after it.
            let again = t
                .dispatches
                .iter()
                .filter(|d| {
                    d.agent == record.agent
                        && d.dispatch != record.dispatch
                        && d.sent_ms > record.sent_ms
                })
                .count();
            if again == 0 {
                continue;
            }
            return Err(Violation::new(
                Invariant::S3,
                format!(
                    "the town wrote off {}'s dispatch {} ({}), but the container started it (op#{op}); the town dispatched {} again {again} time(s)",
                    record.agent, record.dispatch, record.outcome, record.agent
                ),
                Vec::new(),
            ));
        }
    }
    Ok(())
}
