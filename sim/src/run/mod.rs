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

mod arrivals;
mod clockwork;
pub(crate) mod container;
pub(crate) mod drive;
mod driver;
pub mod operation;
pub(crate) mod panics;
mod points;
pub mod state_op;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_lifecycle::{Lifecycle, ManagerConfig};

use crate::check::{Checker, UserInvariant, Violation};
use crate::decisions::{Decisions, Draw};
use crate::scenario::case::Case;
use crate::scenario::spec::ScenarioSpec;
use crate::schedule::PctMeasure;
use crate::world::backend::{FakeBackend, lock};
use crate::world::history::History;
use crate::world::{BackendConfig, World};
use clockwork::{Clockwork, State, clockwork_tick};
use container::container;
use drive::{CONTAINER, Time, drive, lock_scene};
use driver::{Driver, Phase};
use operation::UserOperation;
const TICK: Duration = Duration::from_millis(1);
/// A fixed epoch: turmoil's default is the wall clock.
const EPOCH_SECS: u64 = 1_700_000_000;

/// What one run of a scenario left: its verdict, its timeline, and what it reached.
pub struct Outcome {
    /// The first invariant it broke, if any.
    pub violation: Option<Violation>,
    /// Everything that happened, in order.
    pub history: History,
    /// The simulated time it took.
    pub elapsed: Duration,
    /// What the run drew (after the scenario's own draws), enough to replay it.
    pub draws: Vec<Draw>,
    /// The (agent state, operation) pairs the run issued, for coverage.
    pub coverage: BTreeSet<state_op::StateOp>,
    /// The coverage points the run reached: the manager's own and the world's.
    pub points: BTreeSet<&'static str>,
    /// pct: the threads and steps the run had, for the bound.
    pub pct: Option<PctMeasure>,
    /// The workload's operations (by their place in it) that never arrived: each waited
    /// (`while_pending`) for a call that was never in flight, or the run ended first.
    pub never_issued: Vec<usize>,
    /// How many views of the run the invariants were judged on: one a millisecond when time
    /// steps, one a look of the clockwork when it jumps. A failing run's last view is the one
    /// that failed.
    pub views: u64,
    /// The run's event stream: how many events it carried, and the most that ever waited for
    /// a look (bounded by one look's events, however long the run).
    pub events: EventCounts,
}

/// What a run's event stream carried.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventCounts {
    /// Every event reported.
    pub reported: u64,
    /// The most that waited for one look.
    pub most_pending: usize,
}

impl EventCounts {
    /// The counts of `world`'s stream.
    pub(crate) fn of(world: &World) -> Self {
        Self {
            reported: world.events.reported(),
            most_pending: world.events.most_pending(),
        }
    }
}

/// A case is made from a run, and judged by one.
impl Case {
    /// The case of a finished run.
    pub fn of_run(seed: Option<u64>, spec: &ScenarioSpec, outcome: &Outcome) -> Self {
        Self {
            seed,
            spec: spec.clone(),
            decisions: outcome.choices(),
            expect: BTreeMap::new(),
            reaches: BTreeMap::new(),
        }
    }

    /// The verdict of a run as the store writes it.
    pub fn verdict(outcome: &Outcome) -> String {
        outcome
            .violation
            .as_ref()
            .map_or_else(|| "pass".to_string(), |v| v.invariant.code())
    }
}

impl Outcome {
    /// The run's choices, as a case records them.
    pub fn choices(&self) -> Vec<u32> {
        self.draws.iter().map(|d| d.choice).collect()
    }
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

/// Crashes happen within this many milliseconds after the workload's window opens.
pub const CRASH_WINDOW_MS: u32 = 100;

/// Whether the harness may drop an operation's future when its caller goes away (the
/// `drops` family). A JS handler runs to its end whatever its client does, so the historical
/// models' callers always wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callers {
    /// Callers may go away mid-call: the operation's future is dropped where it is.
    MayDrop,
    /// Callers always wait for the end.
    Wait,
}

/// How a subject is run, besides its scenario.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Whether callers may go away.
    pub callers: Callers,
    /// Checked with the built-in invariants after every step.
    pub invariants: Vec<UserInvariant>,
    /// The subject's own operations.
    pub operations: Vec<UserOperation>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            callers: Callers::MayDrop,
            invariants: Vec::new(),
            operations: Vec::new(),
        }
    }
}

/// Runs one scenario on the manager `M`, with the run's decisions from `decisions` and
/// turmoil's own randomness from `turmoil_seed`.
pub fn run_scenario<M: Lifecycle<FakeBackend>>(
    spec: &ScenarioSpec,
    decisions: Decisions,
    turmoil_seed: u64,
    config: &RunConfig,
) -> Outcome {
    let (mut outcome, heard) = crate::coverage::collect::recording(|| {
        run_scenario_unheard::<M>(spec, decisions, turmoil_seed, config)
    });
    outcome.points.extend(heard);
    outcome
}

/// [`run_scenario`], without hearing the manager's coverage points.
fn run_scenario_unheard<M: Lifecycle<FakeBackend>>(
    spec: &ScenarioSpec,
    decisions: Decisions,
    turmoil_seed: u64,
    config: &RunConfig,
) -> Outcome {
    panics::install();
    // A panic left over from an earlier scenario on this thread (one that unwound out of
    // it) is not this scenario's.
    panics::take();
    let first_draw = decisions.drawn();
    let world = Arc::new(Mutex::new(World::new(
        decisions,
        BackendConfig::of(spec),
        spec.strategy,
        spec.pct_steps(),
    )));
    lock(&world).schedule_crashes(CRASH_WINDOW_MS);
    let clockwork = spec.jumps_time();
    let mut sim = turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_SECS))
        .rng_seed(turmoil_seed)
        .tick_duration(if clockwork {
            clockwork_tick(spec)
        } else {
            TICK
        })
        .simulation_duration(Duration::from_secs(24 * 3600))
        .build();
    let driver = Driver {
        world: world.clone(),
        spec: spec.clone(),
        callers: config.callers,
        queue: spec
            .workload
            .ops
            .iter()
            .map(|op| Some((op.kind, op.when)))
            .collect(),
        next_op: 0,
        phase: Phase::Chaos,
        busy_ms: 0,
        coverage: BTreeSet::new(),
        never_issued: Vec::new(),
        settle_ms: settle_window_ms(&spec.manager_config()),
        waiting_callers: config
            .operations
            .iter()
            .filter(|o| o.waits)
            .map(|o| o.decl.name)
            .collect(),
        checker: Checker::new(config.invariants.clone(), &spec.timing),
    };
    let host_world = world.clone();
    let manager_config = spec.manager_config();
    let operations: Arc<[UserOperation]> = config.operations.clone().into();
    let (violation, left) = if clockwork {
        let wake = Arc::new(tokio::sync::Notify::new());
        lock(&world).clockwork = Some(wake.clone());
        let shared = Arc::new(Clockwork {
            driver: Mutex::new(driver),
            wake,
            state: Mutex::new(State::Running),
        });
        let host_shared = shared.clone();
        sim.host(CONTAINER, move || {
            container::<M>(
                host_world.clone(),
                manager_config.clone(),
                Some(host_shared.clone()),
                operations.clone(),
            )
        });
        let violation = drive(&mut sim, &shared.driver, Time::Jumps(&shared));
        let left = lock_scene(&shared.driver).left_over();
        (violation, left)
    } else {
        sim.host(CONTAINER, move || {
            container::<M>(
                host_world.clone(),
                manager_config.clone(),
                None,
                operations.clone(),
            )
        });
        let driver = Mutex::new(driver);
        let violation = drive(&mut sim, &driver, Time::Millisecond);
        let left = lock_scene(&driver).left_over();
        (violation, left)
    };
    let elapsed = if clockwork {
        Duration::from_millis(lock(&world).now_ms)
    } else {
        sim.elapsed()
    };
    drop(sim);
    let mut w = lock(&world);
    // The snapshot closure holds the manager, which holds the world: break the cycle.
    w.snapshot = None;
    w.registry = None;
    w.inbox = None;
    let history = std::mem::take(&mut w.history);
    Outcome {
        violation,
        points: points::reached(&left.coverage, &history, w.reordered),
        history,
        elapsed,
        draws: w.decisions.log()[first_draw..].to_vec(),
        coverage: left.coverage,
        pct: w.pct_measure(),
        never_issued: left.never_issued,
        views: left.views,
        events: EventCounts::of(&w),
    }
}
