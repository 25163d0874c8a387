//! The simulation driver: one scenario on one model, in a turmoil world.
//!
//! The container is a turmoil host whose software builds the manager and runs every command
//! it receives as its own task. Between steps the driver issues due operations, answers due
//! backend calls, and judges the invariants; an eviction ends with a bounce of the host, so the
//! manager's memory and every task in it really die.
//!
//! A scenario runs in phases: chaos (the workload, with its faults), settle (faults healed,
//! nothing issued, until the manager's timers have run out), recovery (every agent started
//! once more, faults still healed), settle again, and wrap-up (every agent stopped).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, SessionId, Snapshot, StartRequest, Status,
    Workdir,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::unbounded_channel;

use crate::backend::{FakeBackend, lock};
use crate::check::{
    Invariant, StatusWatch, View, Violation, check_all_stopped, check_cancelled_start,
    check_evicted, check_settled, check_side_state, check_step,
};
use crate::decisions::{Decisions, Draw};
use crate::faults::FaultConfig;
use crate::history::{History, OpId, What};
use crate::ledger::Ledger;
use crate::mailbox::{Notice, SameInstant};
use crate::schedule::{PCT_STEPS, PctMeasure, Ready, Strategy, Thread, pct_steps_estimate};
use crate::workload::{OpKind, Trigger, Workload, agent_name, workdir_name};
use crate::world::{BackendConfig, Command, Happening, World};

const CONTAINER: &str = "container";
const TICK: Duration = Duration::from_millis(1);
/// A fixed epoch: turmoil's default is the wall clock.
const EPOCH_SECS: u64 = 1_700_000_000;

/// The harness semantics new scenarios run under. A case records the version it was made
/// with and replays under it, so that a change to what the decision stream decides never
/// silently changes what an older case means.
/// - 1: the events of one millisecond in a fixed order; pct puts every task of the manager's
///   own in one thread, draws its change points over 60 steps, and ignores triggers.
/// - 2: the events of one millisecond in a drawn order ([`SameInstant::Drawn`]); pct keeps
///   the workload's triggers, gives each task its own thread, and draws its change points
///   over the scenario's estimated steps.
pub const VERSION: u32 = 2;

/// Everything a scenario needs besides the decision stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioSpec {
    pub workload: Workload,
    pub faults: FaultConfig,
    pub timing: Timing,
    pub strategy: Strategy,
    /// The harness semantics it runs under ([`VERSION`]); absent in cases made before 2.
    #[serde(default = "version_1", skip_serializing_if = "is_version_1")]
    pub version: u32,
}

fn version_1() -> u32 {
    1
}

fn is_version_1(version: &u32) -> bool {
    *version == 1
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
    /// What the manager is told of the backend's request lifetime; `None`: the truth (the call
    /// timeout plus the latest a late effect lands, plus 1 ms). A manager told less trusts its
    /// listings too early: that is how a test plays "a timed-out call did nothing".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_lifetime_ms: Option<u64>,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            max_latency_ms: 20,
            call_timeout_ms: 100,
            idle_timeout_ms: 30,
            retry_pause_ms: 10,
            liveness_bound_ms: 10_000,
            request_lifetime_ms: None,
        }
    }
}

impl ScenarioSpec {
    pub fn manager_config(&self) -> ManagerConfig {
        ManagerConfig {
            call_timeout: Duration::from_millis(self.timing.call_timeout_ms),
            idle_timeout: Duration::from_millis(self.timing.idle_timeout_ms),
            retry_pause: Duration::from_millis(self.timing.retry_pause_ms),
            // The fake backend lands a late effect at most LATE_EFFECT_MS after the timeout.
            request_lifetime: Duration::from_millis(self.timing.request_lifetime_ms.unwrap_or(
                self.timing.call_timeout_ms + u64::from(crate::world::LATE_EFFECT_MS) + 1,
            )),
        }
    }

    fn backend_config(&self) -> BackendConfig {
        BackendConfig {
            faults: self.faults,
            max_latency_ms: self.timing.max_latency_ms,
            call_timeout_ms: self.timing.call_timeout_ms,
            same_instant: self.same_instant(),
        }
    }

    pub fn same_instant(&self) -> SameInstant {
        if self.version >= 2 {
            SameInstant::Drawn
        } else {
            SameInstant::Fixed
        }
    }

    /// The k pct draws its change points over.
    pub fn pct_steps(&self) -> u32 {
        if self.version >= 2 {
            pct_steps_estimate(self.workload.ops.len(), self.workload.agents())
        } else {
            PCT_STEPS
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
    /// pct: the threads and steps the run had, for the bound.
    pub pct: Option<PctMeasure>,
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
    /// runs out, and then what it tracks must be exactly what is live. Then `next`.
    Settle { since_ms: u64, next: AfterSettle },
    /// Faults healed: every agent is started once more, and each start must end Running (L2).
    Recovery,
    /// Every agent stopped.
    Wrapup,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum AfterSettle {
    Recovery,
    Wrapup,
}

/// How long nothing may have been in flight (no operation, no call, no backend event due)
/// before the manager counts as settled: its longest timer plus a retry pause, plus 1 ms. The
/// manager's timers (an idle timeout, a retry pause, a call timeout) are invisible from
/// outside; any of them may still fire up to that long after the last thing we saw.
pub fn settle_window_ms(config: &ManagerConfig) -> u64 {
    let longest = config
        .call_timeout
        .max(config.idle_timeout)
        .max(config.retry_pause)
        .max(config.request_lifetime);
    (longest + config.retry_pause).as_millis() as u64 + 1
}

/// An operation in flight, as L2 (progress) judges it when it returns.
struct Issued {
    kind: OpKind,
    /// Issued with the faults off (a fault-free scenario, or after they healed) and no
    /// eviction in flight: it is expected to succeed.
    healthy: bool,
    /// A later operation superseded it before it returned: a start by a later start, stop or
    /// eviction of its agent; a stop by a later start of its agent.
    superseded: bool,
    /// The agent's record (incarnation, status) when the operation was issued.
    record_before: Option<(u64, Status)>,
}

/// What the container saw the moment an operation returned: the manager's snapshot and the
/// live sessions of the operation's agent.
struct AtReturn {
    snapshot: Snapshot,
    /// With the operation that created each.
    live: Vec<(SessionId, Option<OpId>)>,
}

type Returns = Arc<Mutex<BTreeMap<OpId, AtReturn>>>;

struct Driver<'w> {
    world: &'w Arc<Mutex<World>>,
    spec: &'w ScenarioSpec,
    callers: Callers,
    /// Operations to issue, in order; `None` once issued.
    queue: Vec<Option<(OpKind, Trigger)>>,
    in_flight: BTreeMap<OpId, OpKind>,
    next_op: OpId,
    phase: Phase,
    /// When the last operation was issued; L1's clock starts there.
    quiet_since_ms: u64,
    stop_barriers: BTreeMap<AgentId, OpId>,
    /// For each agent, the newest incarnation that existed when its newest returned stop was
    /// issued (I5, side state): records made later may belong to later starts.
    stopped_incarnations: BTreeMap<AgentId, u64>,
    /// The same, for each stop in flight.
    stop_issue_barrier: BTreeMap<OpId, u64>,
    statuses: StatusWatch,
    /// The last step that ended with an operation or a backend call in flight.
    busy_ms: u64,
    coverage: BTreeSet<String>,
    /// How long the manager must have been quiet to count as settled.
    settle_ms: u64,
    /// Every operation in flight, for L2.
    issued: BTreeMap<OpId, Issued>,
    /// Filled by the container as operations return.
    returns: Returns,
}

/// Crashes happen within this many milliseconds after the workload's window opens.
const CRASH_WINDOW_MS: u32 = 100;

/// Whether the harness may drop an operation's future when its caller goes away (the
/// `drops` family). A JS handler runs to its end whatever its client does, so the historical
/// models' callers always wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callers {
    MayDrop,
    Wait,
}

pub fn run_scenario<M: Lifecycle<FakeBackend>>(
    spec: &ScenarioSpec,
    decisions: Decisions,
    turmoil_seed: u64,
) -> Outcome {
    run_scenario_with::<M>(spec, decisions, turmoil_seed, Callers::MayDrop)
}

pub fn run_scenario_with<M: Lifecycle<FakeBackend>>(
    spec: &ScenarioSpec,
    decisions: Decisions,
    turmoil_seed: u64,
    callers: Callers,
) -> Outcome {
    panics::install();
    // A panic left over from an earlier scenario on this thread (one that unwound out of
    // it) is not this scenario's.
    panics::take();
    let first_draw = decisions.drawn();
    let world = Arc::new(Mutex::new(World::new(
        decisions,
        spec.backend_config(),
        spec.strategy,
        spec.pct_steps(),
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
    let returns = Returns::default();
    let host_returns = returns.clone();
    sim.host(CONTAINER, move || {
        container::<M>(host_world.clone(), config.clone(), host_returns.clone())
    });

    let mut driver = Driver {
        world: &world,
        spec,
        callers,
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
        stopped_incarnations: BTreeMap::new(),
        stop_issue_barrier: BTreeMap::new(),
        statuses: StatusWatch::default(),
        busy_ms: 0,
        coverage: BTreeSet::new(),
        settle_ms: settle_window_ms(&spec.manager_config()),
        issued: BTreeMap::new(),
        returns,
    };
    let violation = loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        crate::logging::set_sim_now(now_ms);
        driver.before_step(now_ms);
        // The manager's code runs here: a panic in any of its tasks is caught by the tokio
        // runtime, and the hook records it for us.
        let stepped = panics::capturing(|| catch_unwind(AssertUnwindSafe(|| sim.step())));
        if let Some(v) = panics::violation() {
            break Some(v);
        }
        match stepped {
            Ok(Ok(_)) => {}
            // The container software only returns when its inbox closes; an error here is a
            // harness bug, not a finding.
            Ok(Err(e)) => panic!("simulation step failed: {e}"),
            Err(payload) => resume_unwind(payload),
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
        pct: w.pct_measure(),
    }
}

/// Panics in the container. A panic in a tokio task is caught by the runtime, which only
/// ends the task: the operation it ran never returns. So a process-wide panic hook, installed
/// once, records the message and location of a panic on a thread that is running container
/// code (a thread-local flag, set around each simulation step and each snapshot) instead of
/// printing it; the driver turns it into a [`Invariant::Panic`] violation at that step. Each
/// scenario runs on one thread (`--jobs N` runs N threads), so thread-locals keep scenarios
/// apart. Any other panic goes to the hook that was there before (tests, fuzz targets).
mod panics {
    use std::cell::{Cell, RefCell};
    use std::sync::Once;

    use crate::backend::current_op;
    use crate::check::{Invariant, Violation};

    thread_local! {
        static CAPTURING: Cell<bool> = const { Cell::new(false) };
        static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
    }

    static INSTALL: Once = Once::new();

    pub fn install() {
        INSTALL.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if !CAPTURING.try_with(Cell::get).unwrap_or(false) {
                    return previous(info);
                }
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic with a non-text payload".to_string());
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_default();
                // Operation tasks carry their operation; tasks the manager spawned do not.
                let task = current_op()
                    .map(|(op, _)| format!("op#{op}'s task"))
                    .unwrap_or_else(|| "a task of the container".to_string());
                let text = format!("{task} panicked: '{message}'{location}");
                let _ = CAUGHT.try_with(|slot| {
                    // The first panic is the finding; later ones are its consequences.
                    slot.borrow_mut().get_or_insert(text);
                });
            }));
        });
    }

    /// Runs `f` (container code) with its panics recorded instead of printed.
    pub fn capturing<T>(f: impl FnOnce() -> T) -> T {
        struct Restore(bool);
        impl Drop for Restore {
            fn drop(&mut self) {
                CAPTURING.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CAPTURING.with(|c| c.replace(true)));
        f()
    }

    /// The panic recorded on this thread, if any, taken.
    pub fn take() -> Option<String> {
        CAUGHT.with(|slot| slot.borrow_mut().take())
    }

    /// The panic recorded on this thread, as a violation.
    pub fn violation() -> Option<Violation> {
        take().map(|text| Violation::new(Invariant::Panic, text, Vec::new()))
    }
}

/// The manager's snapshot, with a panic in it recorded like any other panic of the container
/// (the next [`panics::violation`] reports it).
fn snapshot_of(w: &World) -> Snapshot {
    let Some(f) = w.snapshot.as_ref() else {
        return Snapshot::default();
    };
    panics::capturing(|| catch_unwind(AssertUnwindSafe(|| f()))).unwrap_or_default()
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
    fn state_label(&self, snapshot: &Snapshot, kind: OpKind) -> String {
        let Some(agent) = Self::op_agent(kind) else {
            return format!("evict with {} in flight", self.in_flight.len().min(3));
        };
        let status = snapshot
            .agents
            .iter()
            .find(|r| r.agent == agent)
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
        if w.draws_orders() {
            self.take_the_instant(&mut w, now_ms);
            return;
        }
        // Version 1: a fixed order.
        w.fire_drops();
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
                steps.insert(0, Self::client_step(now_ms));
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
        let (arrivals, raced) = self.due_arrivals(&w, now_ms);
        for slot in arrivals {
            self.issue(&mut w, slot, now_ms);
        }
        // An operation aimed at a call in flight must run before that call is answered.
        w.release_due(if raced { Some(None) } else { None });
    }

    /// The client's next arrival, as a pct or dfs step.
    fn client_step(now_ms: u64) -> Ready {
        Ready {
            id: 0,
            thread: Thread::Client,
            due_ms: now_ms,
        }
    }

    /// Version 2: everything due this millisecond (callers going away, the backend's own
    /// events, the calls the strategy answers, the operations that arrive) happens in an
    /// order drawn from the decision stream: their effects at the server in that order, and
    /// their notices reach the container's tasks in that order.
    fn take_the_instant(&mut self, w: &mut World, now_ms: u64) {
        enum Due {
            CallerGone(OpId),
            Backend(Happening),
            Answer(u64),
            Arrival(usize),
        }
        w.forget_abandoned();
        let mut due: Vec<Due> = w.due_drops().into_iter().map(Due::CallerGone).collect();
        for happening in w.take_due_happenings() {
            if w.is_unheard(&happening) {
                w.happen(happening);
            } else {
                due.push(Due::Backend(happening));
            }
        }
        if w.inbox.is_none() {
            due.extend(w.scheduled_calls().into_iter().map(Due::Answer));
        } else if self.spec.strategy != Strategy::Random {
            // pct and dfs: one step of one thread, the client's next arrival (which keeps its
            // place in the workload and its trigger) or one call's answer.
            let next = self.queue.iter().position(Option::is_some).filter(|&slot| {
                self.queue[slot].is_some_and(|(_, when)| Self::fired(w, when, None))
            });
            let mut steps = w.ready_calls();
            if next.is_some() {
                steps.insert(0, Self::client_step(now_ms));
            }
            match (next, w.pick_one(&steps)) {
                (Some(slot), Some(0)) => due.push(Due::Arrival(slot)),
                (_, Some(i)) => due.push(Due::Answer(steps[i].id)),
                (_, None) => {}
            }
        } else {
            let (arrivals, raced) = self.due_arrivals(w, now_ms);
            // An operation aimed at a call in flight must run before that call is answered.
            if !raced {
                due.extend(w.scheduled_calls().into_iter().map(Due::Answer));
            }
            due.extend(arrivals.into_iter().map(Due::Arrival));
        }
        let order = w.draw_order(due.len());
        w.begin_batch();
        for i in order {
            match due[i] {
                Due::CallerGone(op) => w.fire_drop(op),
                Due::Backend(happening) => w.happen(happening),
                Due::Answer(call) => w.answer_call(call),
                Due::Arrival(slot) => self.issue(w, slot, now_ms),
            }
        }
        w.end_batch();
    }

    /// Whether a trigger has fired: its time has come (`now_ms`; `None`: time is not
    /// modelled, as under pct and dfs), or the call it is aimed at is in flight.
    fn fired(w: &World, when: Trigger, now_ms: Option<u64>) -> bool {
        match when {
            Trigger::At(t) => now_ms.is_none_or(|now| t <= now),
            Trigger::WhilePending(call, a) => w.is_pending(call, &AgentId::new(&agent_name(a))),
        }
    }

    /// The queued operations whose trigger has fired (random strategy), and whether one of
    /// them is aimed at a call in flight.
    fn due_arrivals(&self, w: &World, now_ms: u64) -> (Vec<usize>, bool) {
        let mut arrivals = Vec::new();
        let mut raced = false;
        for slot in 0..self.queue.len() {
            let Some((_, when)) = self.queue[slot] else {
                continue;
            };
            if !Self::fired(w, when, Some(now_ms)) {
                // Timed operations go in order; a later one never overtakes an earlier one.
                if matches!(when, Trigger::At(_)) {
                    break;
                }
                continue;
            }
            raced |= matches!(when, Trigger::WhilePending(..));
            arrivals.push(slot);
        }
        (arrivals, raced)
    }

    fn issue(&mut self, w: &mut World, slot: usize, now_ms: u64) {
        let (kind, _) = self.queue[slot].take().expect("issuing a queued operation");
        // A panic in the snapshot is reported after this step.
        let snapshot = snapshot_of(w);
        self.coverage.insert(self.state_label(&snapshot, kind));
        self.note_issue(w, &snapshot, kind);
        let op = self.next_op;
        self.next_op += 1;
        if let OpKind::Stop(a) = kind {
            let agent = AgentId::new(&agent_name(a));
            if let Some(r) = snapshot.agents.iter().find(|r| r.agent == agent) {
                self.stop_issue_barrier.insert(op, r.incarnation);
            }
        }
        // Wrap-up stops are the harness's own, and an eviction is a signal (SIGTERM), not a
        // request: their callers always wait.
        if self.callers == Callers::MayDrop
            && self.phase != Phase::Wrapup
            && !matches!(kind, OpKind::Evict)
        {
            w.plan_drop(op);
        }
        w.post(Notice::Arrival(op, self.command(kind)));
        w.history
            .push(now_ms, Self::op_agent(kind), What::OpIssued(op, kind));
        self.in_flight.insert(op, kind);
        self.quiet_since_ms = now_ms;
    }

    /// L2's bookkeeping for an operation about to be issued: what it supersedes, and whether
    /// it is expected to succeed.
    fn note_issue(&mut self, w: &World, snapshot: &Snapshot, kind: OpKind) {
        for earlier in self.issued.values_mut() {
            earlier.superseded |= match (earlier.kind, kind) {
                (OpKind::Start(a), OpKind::Start(b) | OpKind::Stop(b)) => a == b,
                (OpKind::Start(_), OpKind::Evict) => true,
                (OpKind::Stop(a), OpKind::Start(b)) => a == b,
                _ => false,
            };
        }
        let faults_off = self.spec.faults == FaultConfig::none() || w.healed;
        // While an eviction is in flight the container is going away: refusing new work
        // (`Evicting`) is right, and nothing issued then is expected to succeed.
        let evicting = self.in_flight.values().any(|k| *k == OpKind::Evict);
        let record_before = Self::op_agent(kind).and_then(|agent| {
            snapshot
                .agents
                .iter()
                .find(|r| r.agent == agent)
                .map(|r| (r.incarnation, r.status))
        });
        self.issued.insert(
            self.next_op,
            Issued {
                kind,
                healthy: faults_off && !evicting,
                superseded: false,
                record_before,
            },
        );
    }

    /// L2 (progress), when an operation returns: with the faults off, a start that nothing
    /// superseded returns Ok with its agent's record Running, and a stop that no later start
    /// superseded leaves its agent's record Exited (or absent, or finished before the stop
    /// was issued) and none of its sessions live. Read the moment the operation returned.
    fn judge_progress(
        &mut self,
        op: OpId,
        result: &Result<(), LifecycleError>,
    ) -> Option<Violation> {
        let at = lock_returns(&self.returns).remove(&op);
        let (issued, at) = (self.issued.remove(&op)?, at?);
        if !issued.healthy || issued.superseded {
            return None;
        }
        let fail = |detail: String, sessions: Vec<SessionId>| {
            Some(Violation::new(Invariant::L2, detail, sessions))
        };
        match issued.kind {
            OpKind::Start(a) => {
                let agent = AgentId::new(&agent_name(a));
                let record = at.snapshot.agents.iter().find(|r| r.agent == agent);
                if let Err(e) = result {
                    return fail(
                        format!(
                            "with the faults off, op#{op} start {agent} returned error ({e}), though nothing superseded it"
                        ),
                        Vec::new(),
                    );
                }
                match record {
                    Some(r) if r.status == Status::Running => None,
                    Some(r) => fail(
                        format!(
                            "with the faults off, op#{op} start {agent} returned ok, but its record is {:?}",
                            r.status
                        ),
                        r.session.into_iter().collect(),
                    ),
                    None => fail(
                        format!(
                            "with the faults off, op#{op} start {agent} returned ok, but the manager has no record of {agent}"
                        ),
                        Vec::new(),
                    ),
                }
            }
            OpKind::Stop(a) => {
                let agent = AgentId::new(&agent_name(a));
                let record = at.snapshot.agents.iter().find(|r| r.agent == agent);
                let ended = match record {
                    None => true,
                    Some(r) if r.status == Status::Exited => true,
                    // A stop of a finished agent is a no-op: a record that had already failed
                    // stays failed.
                    Some(r) => {
                        r.status.is_terminal()
                            && issued.record_before == Some((r.incarnation, r.status))
                    }
                };
                let returned = match result {
                    Ok(()) => "returned ok".to_string(),
                    Err(e) => format!("returned error ({e})"),
                };
                if !ended {
                    let r = record.expect("an absent record has ended");
                    return fail(
                        format!(
                            "with the faults off, op#{op} stop {agent} {returned}, but its record is {:?}",
                            r.status
                        ),
                        r.session.into_iter().collect(),
                    );
                }
                // A startup the stop cancelled may still be unwinding: its session is judged
                // when that start returns (I5, I1), as seed-system.md §7 I5 reads.
                let live: Vec<SessionId> = at
                    .live
                    .iter()
                    .filter(|(_, creator)| creator.is_none_or(|c| !self.in_flight.contains_key(&c)))
                    .map(|(s, _)| *s)
                    .collect();
                if !live.is_empty() {
                    let list: Vec<String> = live.iter().map(|s| s.to_string()).collect();
                    return fail(
                        format!(
                            "with the faults off, op#{op} stop {agent} {returned}, yet {agent}'s {} still live",
                            if list.len() == 1 {
                                format!("{} is", list[0])
                            } else {
                                format!("{} are", list.join(", "))
                            }
                        ),
                        live,
                    );
                }
                None
            }
            OpKind::Evict => None,
        }
    }

    /// Records what returned, bounces the container after an eviction, and judges the
    /// invariants. `Ok(true)` when the scenario is over and passed.
    fn after_step(&mut self, now_ms: u64, sim: &mut turmoil::Sim<'_>) -> Result<bool, Violation> {
        // A panic while the driver took a snapshot before the step.
        if let Some(v) = panics::violation() {
            return Err(v);
        }
        let mut w = lock(self.world);
        if let Some(v) = w.call_violation.take() {
            return Err(v);
        }
        let mut evicted = false;
        // Progress is judged after the safety invariants of this step: a leak or a double
        // release that also stalls progress is reported as what it is.
        let mut stalled = None;
        for (op, result) in std::mem::take(&mut w.returned) {
            let kind = self
                .in_flight
                .remove(&op)
                .expect("only issued operations return");
            // In the history first, so that a report on this return shows it.
            w.history.push(
                now_ms,
                Self::op_agent(kind),
                What::OpReturned(op, kind, result.clone()),
            );
            match (kind, &result) {
                (OpKind::Stop(a), Ok(())) => {
                    self.stop_barriers.insert(AgentId::new(&agent_name(a)), op);
                    if let Some(barrier) = self.stop_issue_barrier.remove(&op) {
                        self.stopped_incarnations
                            .insert(AgentId::new(&agent_name(a)), barrier);
                    }
                }
                (OpKind::Start(_), Err(LifecycleError::Cancelled)) => {
                    check_cancelled_start(&w.ledger, op)?;
                }
                (OpKind::Evict, outcome) => {
                    evicted = true;
                    let snapshot = snapshot_of(&w);
                    check_evicted(&w.ledger, &snapshot, op, outcome, &self.in_flight)?;
                }
                _ => {}
            }
            let judged = self.judge_progress(op, &result);
            stalled = stalled.or(judged);
        }
        for op in std::mem::take(&mut w.dropped) {
            let Some(kind) = self.in_flight.remove(&op) else {
                continue;
            };
            // Nothing is judged of a dropped operation's result; what it left is judged at
            // settle like everything else.
            self.issued.remove(&op);
            self.stop_issue_barrier.remove(&op);
            lock_returns(&self.returns).remove(&op);
            w.history
                .push(now_ms, Self::op_agent(kind), What::OpDropped(op, kind));
        }
        if evicted {
            drop(w);
            // Dropping the old runtime drops the manager's tasks: container code too.
            let bounced =
                panics::capturing(|| catch_unwind(AssertUnwindSafe(|| sim.bounce(CONTAINER))));
            if let Some(v) = panics::violation() {
                return Err(v);
            }
            if let Err(payload) = bounced {
                resume_unwind(payload);
            }
            w = lock(self.world);
            w.kill_container();
            self.statuses.forget();
            self.stopped_incarnations.clear();
            self.stop_issue_barrier.clear();
            lock_returns(&self.returns).clear();
            self.issued.clear();
            for (op, kind) in std::mem::take(&mut self.in_flight) {
                w.history
                    .push(now_ms, Self::op_agent(kind), What::OpKilled(op, kind));
            }
        }
        let snapshot = snapshot_of(&w);
        if let Some(v) = panics::violation() {
            return Err(v);
        }
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
        check_side_state(&snapshot, &self.stopped_incarnations)?;
        if let Some(v) = stalled {
            return Err(v);
        }

        let all_issued = self.queue.iter().all(Option::is_none);
        if all_issued && self.in_flight.is_empty() {
            match self.phase {
                Phase::Chaos => {
                    w.healed = true;
                    w.history.push(now_ms, None, What::FaultsHealed);
                    self.phase = Phase::Settle {
                        since_ms: now_ms,
                        next: AfterSettle::Recovery,
                    };
                }
                Phase::Settle { since_ms, next } => {
                    let settled = now_ms - self.busy_ms >= self.settle_ms;
                    if settled {
                        check_settled(&w.ledger, &snapshot)?;
                        let agents = 0..self.spec.workload.agents() as u8;
                        let (what, phase, op): (_, _, fn(u8) -> OpKind) = match next {
                            AfterSettle::Recovery => {
                                (What::Recovering, Phase::Recovery, OpKind::Start)
                            }
                            AfterSettle::Wrapup => (What::StoppingAll, Phase::Wrapup, OpKind::Stop),
                        };
                        w.history.push(now_ms, None, what);
                        self.phase = phase;
                        // All at once, as at time 0 of the phase.
                        self.queue = agents.map(|a| Some((op(a), Trigger::At(0)))).collect();
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
                Phase::Recovery => {
                    self.phase = Phase::Settle {
                        since_ms: now_ms,
                        next: AfterSettle::Wrapup,
                    };
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

fn lock_returns(returns: &Returns) -> std::sync::MutexGuard<'_, BTreeMap<OpId, AtReturn>> {
    returns
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the container saw when an operation returned (L2 reads it).
fn at_return(snapshot: Snapshot, ledger: &Ledger, agent: Option<&AgentId>) -> AtReturn {
    let live = agent.map_or_else(Vec::new, |agent| {
        ledger
            .live_sessions()
            .filter(|s| &s.agent == agent)
            .map(|s| (s.id, s.creator))
            .collect()
    });
    AtReturn { snapshot, live }
}

/// The container's software: a fresh manager each boot, one task per command.
async fn container<M: Lifecycle<FakeBackend>>(
    world: Arc<Mutex<World>>,
    config: ManagerConfig,
    returns: Returns,
) -> turmoil::Result {
    let manager = Arc::new(M::new(FakeBackend::new(world.clone()), config));
    let (inbox, mut notices) = unbounded_channel::<Vec<Notice>>();
    {
        let mut w = lock(&world);
        w.inbox = Some(inbox);
        let observed = manager.clone();
        w.snapshot = Some(Arc::new(move || observed.snapshot()));
    }
    // Each batch is delivered in its order: every delivery wakes or spawns its task at the
    // back of tokio's FIFO run queue, so the tasks resume in the order the world drew.
    while let Some(batch) = notices.recv().await {
        for notice in batch {
            match notice {
                Notice::Arrival(op, command) => {
                    spawn_operation(&manager, &world, &returns, op, command);
                }
                other => other.deliver_in_container(&world),
            }
        }
    }
    Ok(())
}

/// Runs one operation in a task of its own, as the container's HTTP server runs a request's
/// handler; its caller may go away (the `drops` family).
fn spawn_operation<M: Lifecycle<FakeBackend>>(
    manager: &Arc<M>,
    world: &Arc<Mutex<World>>,
    returns: &Returns,
    op: OpId,
    command: Command,
) {
    let manager = manager.clone();
    let world = world.clone();
    let returns = returns.clone();
    let agent = match &command {
        Command::Start(request) => Some(request.agent.clone()),
        Command::Stop(agent) => Some(agent.clone()),
        Command::Evict => None,
    };
    let of = agent.clone();
    let dropper = lock(&world).drop_signal(op);
    let task = async move {
        let operation = async {
            match command {
                Command::Start(request) => manager.start(request).await,
                Command::Stop(agent) => manager.stop(&agent).await,
                Command::Evict => manager.evict().await,
            }
        };
        let result = match dropper {
            None => operation.await,
            Some(dropper) => tokio::select! {
                biased;
                // The caller went away: the operation's future is dropped where it is.
                _ = dropper.notified() => {
                    lock(&world).dropped.push(op);
                    return;
                }
                result = operation => result,
            },
        };
        // What the operation left, before any other task runs.
        let snapshot = manager.snapshot();
        let mut w = lock(&world);
        let seen = at_return(snapshot, &w.ledger, of.as_ref());
        w.returned.push((op, result));
        drop(w);
        lock_returns(&returns).insert(op, seen);
    };
    let context = agent_lifecycle::RequestContext {
        id: u64::from(op),
        agent,
    };
    tokio::task::spawn_local(context.scope(task));
}
