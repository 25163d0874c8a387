//! The simulation driver: one scenario on one model, in a turmoil world.
//!
//! The container is a turmoil host whose software builds the manager and runs every command
//! it receives as its own task. Between steps the driver issues due operations, answers due
//! backend calls, and judges the invariants; an eviction ends with a bounce of the host, so the
//! manager's memory and every task in it really die.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_lifecycle::{AgentId, Lifecycle, LifecycleError, ManagerConfig, StartRequest, Workdir};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::unbounded_channel;

use crate::backend::{CURRENT_OP, FakeBackend, OpContext, lock};
use crate::check::{
    Invariant, StatusWatch, View, Violation, check_all_stopped, check_cancelled_start,
    check_evicted, check_settled, check_step,
};
use crate::decisions::{Decisions, Draw};
use crate::faults::FaultConfig;
use crate::history::{History, OpId, What};
use crate::schedule::{CLIENT, Ready, Strategy};
use crate::workload::{OpKind, Trigger, Workload, agent_name, workdir_name};
use crate::world::{BackendConfig, Command, World};

const CONTAINER: &str = "container";
const TICK: Duration = Duration::from_millis(1);
/// A fixed epoch: turmoil's default is the wall clock.
const EPOCH_SECS: u64 = 1_700_000_000;

/// Everything a scenario needs besides the decision stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSpec {
    pub workload: Workload,
    pub faults: FaultConfig,
    pub timing: Timing,
    pub strategy: Strategy,
}

/// The clocks of a scenario, in simulated milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Each backend call takes 1..=max_latency_ms (random strategy).
    pub max_latency_ms: u32,
    pub call_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub retry_pause_ms: u64,
    /// How long every call in flight may take to return once nothing new is issued (L1).
    pub liveness_bound_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            max_latency_ms: 20,
            call_timeout_ms: 100,
            idle_timeout_ms: 30,
            retry_pause_ms: 10,
            liveness_bound_ms: 10_000,
        }
    }
}

impl ScenarioSpec {
    pub fn manager_config(&self) -> ManagerConfig {
        ManagerConfig {
            call_timeout: Duration::from_millis(self.timing.call_timeout_ms),
            idle_timeout: Duration::from_millis(self.timing.idle_timeout_ms),
            retry_pause: Duration::from_millis(self.timing.retry_pause_ms),
        }
    }

    fn backend_config(&self) -> BackendConfig {
        BackendConfig {
            faults: self.faults,
            max_latency_ms: self.timing.max_latency_ms,
        }
    }
}

pub struct Outcome {
    pub violation: Option<Violation>,
    pub history: History,
    pub elapsed: Duration,
    /// What the run drew (after the scenario's own draws), enough to replay it.
    pub draws: Vec<Draw>,
    /// The (agent state, operation) pairs the run issued, for coverage.
    pub coverage: BTreeSet<String>,
}

impl Outcome {
    /// The run's choices, as a case records them.
    pub fn choices(&self) -> Vec<u32> {
        self.draws.iter().map(|d| d.choice).collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The workload's operations.
    Chaos,
    /// Faults healed, nothing issued: the manager's background work (idle exits, retries)
    /// runs out, and then what it tracks must be exactly what is live.
    Settle { since_ms: u64 },
    /// Every agent stopped.
    Wrapup,
}

/// How long nothing may have been in flight (no operation, no call, no backend event due) before
/// the manager counts as settled: longer than any of its own timers (idle timeout 30 ms, retry
/// pause 10 ms), which it cannot show us.
const QUIET_MS: u64 = 45;

struct Driver<'w> {
    world: &'w Arc<Mutex<World>>,
    spec: &'w ScenarioSpec,
    /// Operations to issue, in order; `None` once issued.
    queue: Vec<Option<(OpKind, Trigger)>>,
    in_flight: BTreeMap<OpId, OpKind>,
    next_op: OpId,
    phase: Phase,
    /// When the last operation was issued; L1's clock starts there.
    quiet_since_ms: u64,
    stop_barriers: BTreeMap<AgentId, OpId>,
    statuses: StatusWatch,
    /// The last step that ended with an operation or a backend call in flight.
    busy_ms: u64,
    coverage: BTreeSet<String>,
}

/// Crashes happen within this many milliseconds after the workload's window opens.
const CRASH_WINDOW_MS: u32 = 100;

pub fn run_scenario<M: Lifecycle<FakeBackend>>(
    spec: &ScenarioSpec,
    decisions: Decisions,
    turmoil_seed: u64,
) -> Outcome {
    let first_draw = decisions.drawn();
    let world = Arc::new(Mutex::new(World::new(
        decisions,
        spec.backend_config(),
        spec.strategy,
    )));
    lock(&world).schedule_crashes(CRASH_WINDOW_MS);
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .rng_seed(turmoil_seed)
        .tick_duration(TICK)
        .simulation_duration(Duration::from_secs(24 * 3600))
        .build();
    let host_world = world.clone();
    let config = spec.manager_config();
    sim.host(CONTAINER, move || {
        container::<M>(host_world.clone(), config.clone())
    });

    let mut driver = Driver {
        world: &world,
        spec,
        queue: spec
            .workload
            .ops
            .iter()
            .map(|op| Some((op.kind, op.when)))
            .collect(),
        in_flight: BTreeMap::new(),
        next_op: 0,
        phase: Phase::Chaos,
        quiet_since_ms: 0,
        stop_barriers: BTreeMap::new(),
        statuses: StatusWatch::default(),
        busy_ms: 0,
        coverage: BTreeSet::new(),
    };
    let violation = loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        crate::logging::set_sim_now(now_ms);
        driver.before_step(now_ms);
        if let Err(e) = sim.step() {
            // The container software only returns when its inbox closes; an error here is a
            // harness bug, not a finding.
            panic!("simulation step failed: {e}");
        }
        match driver.after_step(now_ms, &mut sim) {
            Ok(true) => break None,
            Ok(false) => {}
            Err(v) => break Some(v),
        }
    };
    let elapsed = sim.elapsed();
    let mut driver_coverage = std::mem::take(&mut driver.coverage);
    drop(sim);
    let mut w = lock(&world);
    // The snapshot closure holds the manager, which holds the world: break the cycle.
    w.snapshot = None;
    w.inbox = None;
    Outcome {
        violation,
        history: std::mem::take(&mut w.history),
        elapsed,
        draws: w.decisions.log()[first_draw..].to_vec(),
        coverage: std::mem::take(&mut driver_coverage),
    }
}

impl Driver<'_> {
    fn command(&self, kind: OpKind) -> Command {
        match kind {
            OpKind::Start(a) => Command::Start(StartRequest {
                agent: AgentId::new(&agent_name(a)),
                workdir: Workdir::new(&workdir_name(self.spec.workload.workdirs[usize::from(a)])),
                prompt: format!("task for {}", agent_name(a)),
            }),
            OpKind::Stop(a) => Command::Stop(AgentId::new(&agent_name(a))),
            OpKind::Evict => Command::Evict,
        }
    }

    /// The abstract state an operation meets: its agent's record status and how many
    /// operations on that agent are already in flight.
    fn state_label(&self, w: &World, kind: OpKind) -> String {
        let Some(agent) = Self::op_agent(kind) else {
            return format!("evict with {} in flight", self.in_flight.len().min(3));
        };
        let status = w
            .snapshot
            .as_ref()
            .and_then(|f| f().agents.into_iter().find(|r| r.agent == agent))
            .map_or_else(|| "none".to_string(), |r| format!("{:?}", r.status));
        let busy = self
            .in_flight
            .values()
            .filter(|&&k| Self::op_agent(k).as_ref() == Some(&agent))
            .count()
            .min(2);
        let verb = match kind {
            OpKind::Start(_) => "start",
            OpKind::Stop(_) => "stop",
            OpKind::Evict => "evict",
        };
        format!("{verb} on {status} with {busy} in flight")
    }

    fn op_agent(kind: OpKind) -> Option<AgentId> {
        match kind {
            OpKind::Start(a) | OpKind::Stop(a) => Some(AgentId::new(&agent_name(a))),
            OpKind::Evict => None,
        }
    }

    /// Issues the operations whose trigger has fired, then answers the calls that are due.
    fn before_step(&mut self, now_ms: u64) {
        let mut w = lock(self.world);
        w.now_ms = now_ms;
        w.deliver_due();
        if w.inbox.is_none() {
            w.release_due(None);
            return;
        }
        if self.spec.strategy != Strategy::Random {
            // pct and dfs schedule operation arrivals too, as steps of a client "thread": each
            // tick either the next operation arrives or one call is answered, by their choice.
            let next = self.queue.iter().position(Option::is_some);
            let mut steps = w.ready_calls();
            if next.is_some() {
                steps.insert(
                    0,
                    Ready {
                        id: 0,
                        op: Some(CLIENT),
                        due_ms: now_ms,
                    },
                );
            }
            let pick = w.pick_one(&steps);
            match (next, pick) {
                (Some(slot), Some(0)) => {
                    self.issue(&mut w, slot, now_ms);
                    w.release_due(Some(None));
                }
                (Some(_), Some(i)) => w.release_due(Some(Some(i - 1))),
                (None, pick) => w.release_due(Some(pick)),
                (Some(_), None) => unreachable!("an arrival is always a step"),
            }
            return;
        }
        let mut raced = false;
        for slot in 0..self.queue.len() {
            let Some((_, when)) = self.queue[slot] else {
                continue;
            };
            let due = match when {
                Trigger::At(t) => t <= now_ms,
                Trigger::WhilePending(call, a) => w.is_pending(call, &AgentId::new(&agent_name(a))),
            };
            if !due {
                // Timed operations go in order; a later one never overtakes an earlier one.
                if matches!(when, Trigger::At(_)) {
                    break;
                }
                continue;
            }
            raced |= matches!(when, Trigger::WhilePending(..));
            self.issue(&mut w, slot, now_ms);
        }
        // An operation aimed at a call in flight must run before that call is answered.
        w.release_due(if raced { Some(None) } else { None });
    }

    fn issue(&mut self, w: &mut World, slot: usize, now_ms: u64) {
        let (kind, _) = self.queue[slot].take().expect("issuing a queued operation");
        self.coverage.insert(self.state_label(w, kind));
        let op = self.next_op;
        self.next_op += 1;
        let inbox = w
            .inbox
            .as_ref()
            .expect("issued only while the container runs");
        inbox
            .send((op, self.command(kind)))
            .expect("the container reads its inbox while it runs");
        w.history
            .push(now_ms, Self::op_agent(kind), What::OpIssued(op, kind));
        self.in_flight.insert(op, kind);
        self.quiet_since_ms = now_ms;
    }

    /// Records what returned, bounces the container after an eviction, and judges the
    /// invariants. `Ok(true)` when the scenario is over and passed.
    fn after_step(&mut self, now_ms: u64, sim: &mut turmoil::Sim<'_>) -> Result<bool, Violation> {
        let mut w = lock(self.world);
        if let Some(v) = w.call_violation.take() {
            return Err(v);
        }
        let mut evicted = false;
        for (op, result) in std::mem::take(&mut w.returned) {
            let kind = self
                .in_flight
                .remove(&op)
                .expect("only issued operations return");
            match (kind, &result) {
                (OpKind::Stop(a), Ok(())) => {
                    self.stop_barriers.insert(AgentId::new(&agent_name(a)), op);
                }
                (OpKind::Start(_), Err(LifecycleError::Cancelled)) => {
                    check_cancelled_start(&w.ledger, op)?;
                }
                (OpKind::Evict, outcome) => {
                    evicted = true;
                    if outcome.is_ok() {
                        check_evicted(&w.ledger, op, &self.in_flight)?;
                    }
                }
                _ => {}
            }
            w.history.push(
                now_ms,
                Self::op_agent(kind),
                What::OpReturned(op, kind, result),
            );
        }
        if evicted {
            drop(w);
            sim.bounce(CONTAINER);
            w = lock(self.world);
            w.kill_container();
            self.statuses.forget();
            for (op, kind) in std::mem::take(&mut self.in_flight) {
                w.history
                    .push(now_ms, Self::op_agent(kind), What::OpKilled(op, kind));
            }
        }
        let snapshot = w.snapshot.as_ref().map(|f| f()).unwrap_or_default();
        let quiescent = self.in_flight.is_empty() && w.is_idle();
        if !quiescent || w.has_scheduled() {
            self.busy_ms = now_ms;
        }
        check_step(&View {
            ledger: &w.ledger,
            snapshot: &snapshot,
            in_flight: &self.in_flight,
            quiescent,
            stop_barriers: &self.stop_barriers,
        })?;
        self.statuses.observe(&snapshot)?;

        let all_issued = self.queue.iter().all(Option::is_none);
        if all_issued && self.in_flight.is_empty() {
            match self.phase {
                Phase::Chaos => {
                    w.healed = true;
                    w.history.push(now_ms, None, What::FaultsHealed);
                    self.phase = Phase::Settle { since_ms: now_ms };
                }
                Phase::Settle { since_ms } => {
                    let settled = now_ms - self.busy_ms >= QUIET_MS;
                    if settled {
                        check_settled(&w.ledger, &snapshot)?;
                        w.history.push(now_ms, None, What::StoppingAll);
                        self.phase = Phase::Wrapup;
                        self.queue = (0..self.spec.workload.agents())
                            .map(|a| Some((OpKind::Stop(a as u8), Trigger::At(0))))
                            .collect();
                    } else if now_ms - since_ms > self.spec.timing.liveness_bound_ms {
                        return Err(Violation {
                            invariant: Invariant::L1,
                            detail: format!(
                                "backend calls still in flight {} ms after the last operation returned",
                                now_ms - since_ms
                            ),
                            sessions: Vec::new(),
                        });
                    }
                }
                Phase::Wrapup => {
                    check_all_stopped(&w.ledger, &snapshot)?;
                    return Ok(true);
                }
            }
        } else if !self.in_flight.is_empty()
            && now_ms.saturating_sub(self.quiet_since_ms) > self.spec.timing.liveness_bound_ms
        {
            let stuck: Vec<String> = self
                .in_flight
                .iter()
                .map(|(op, kind)| format!("op#{op} {kind}"))
                .collect();
            return Err(Violation {
                invariant: Invariant::L1,
                detail: format!(
                    "{} still in flight {} ms after the last operation was issued",
                    stuck.join(", "),
                    now_ms - self.quiet_since_ms
                ),
                sessions: Vec::new(),
            });
        } else if self.in_flight.is_empty() && !all_issued {
            // Only conditional operations are left and nothing is in flight to fire them.
            let never: Vec<usize> = (0..self.queue.len())
                .filter(|&i| self.queue[i].is_some())
                .collect();
            if never
                .iter()
                .all(|&i| matches!(self.queue[i], Some((_, Trigger::WhilePending(..)))))
            {
                for i in never {
                    self.queue[i] = None;
                }
            }
        }
        Ok(false)
    }
}

/// The container's software: a fresh manager each boot, one task per command.
async fn container<M: Lifecycle<FakeBackend>>(
    world: Arc<Mutex<World>>,
    config: ManagerConfig,
) -> turmoil::Result {
    let manager = Arc::new(M::new(FakeBackend::new(world.clone()), config));
    let (inbox, mut commands) = unbounded_channel();
    {
        let mut w = lock(&world);
        w.inbox = Some(inbox);
        let observed = manager.clone();
        w.snapshot = Some(Arc::new(move || observed.snapshot()));
    }
    while let Some((op, command)) = commands.recv().await {
        let manager = manager.clone();
        let world = world.clone();
        let agent = match &command {
            Command::Start(request) => Some(request.agent.clone()),
            Command::Stop(agent) => Some(agent.clone()),
            Command::Evict => None,
        };
        let task = async move {
            let result = match command {
                Command::Start(request) => manager.start(request).await,
                Command::Stop(agent) => manager.stop(&agent).await,
                Command::Evict => manager.evict().await,
            };
            lock(&world).returned.push((op, result));
        };
        tokio::task::spawn_local(CURRENT_OP.scope(OpContext { op, agent }, task));
    }
    Ok(())
}
