//! The one loop every run goes through, and the look it takes after each step.
//!
//! A run is a [`Scene`] (a scenario's driver, or the system's town and network) around one
//! container, judged by one [`Checker`]. Each turn of the loop: what happens outside the hosts
//! (the network, a host booting), what the world makes happen at this instant (arrivals,
//! answers), one turmoil step, and a look: the run's events judged in order, the view judged,
//! the scene's phases. Time either steps a millisecond a turn, or jumps: then a clockwork
//! inside the container takes the looks at the instants things are due (`clockwork.rs`), and a
//! turn of this loop only steps turmoil. Either way an eviction's return bounces the container
//! here, between steps, and the view after it is judged the same way.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, MutexGuard};

use agent_lifecycle::Snapshot;

use super::clockwork::Clockwork;
use super::panics::{self, snapshot_of};
use crate::check::{Checker, Violation};
use crate::scenario::names::agent_of;
use crate::world::backend::lock;
use crate::world::history::What;
use crate::world::{Began, RunEvent, World};

/// The turmoil host the manager runs in.
pub(crate) const CONTAINER: &str = "container";

/// What a look decided.
pub(crate) enum Flow {
    /// Go on.
    Go,
    /// An eviction returned: the container goes (bounced between steps), then the view after
    /// it is judged.
    Bounce,
    /// The run is over: passed (`None`) or failed.
    Done(Option<Violation>),
}

impl From<Result<bool, Violation>> for Flow {
    /// `Ok(true)`: over and passed.
    fn from(judged: Result<bool, Violation>) -> Self {
        match judged {
            Ok(false) => Self::Go,
            Ok(true) => Self::Done(None),
            Err(v) => Self::Done(Some(v)),
        }
    }
}

/// What a run puts around the container: where its operations come from, what happens to
/// its hosts, and its phases. The loop, the looks and the checker are the same for all.
pub(crate) trait Scene {
    /// The world the container's backend lives in.
    fn world(&self) -> &Arc<Mutex<World>>;

    /// The run's checker.
    fn checker(&mut self) -> &mut Checker;

    /// Before the step, outside the hosts: the network, a host booting or told to go.
    fn outside(&mut self, _sim: &mut turmoil::Sim<'_>, _now_ms: u64) {}

    /// Whether an eviction's return bounces the container at once (a scenario's), or the
    /// scene ends the container itself (the system's, after its drain).
    fn eviction_bounces(&self) -> bool {
        true
    }

    /// Before the step, inside the world: what arrives, and what is answered.
    fn act(&mut self, now_ms: u64);

    /// At the start of a look, before the run's events: what the scene records of its own.
    fn gather(&mut self, _w: &mut World) {}

    /// The container began an operation of its own (system runs): the scene's judgement of it.
    fn on_began(&mut self, _began: &Began) -> Result<(), Violation> {
        Ok(())
    }

    /// After the checker's view passed: the scene's own invariants and its phases. `Ok(true)`
    /// when the run is over and passed.
    fn judge(&mut self, now_ms: u64, w: &mut World, snapshot: &Snapshot)
    -> Result<bool, Violation>;

    /// After the look, outside the hosts (a drained container is killed).
    fn after(&mut self, _sim: &mut turmoil::Sim<'_>, _now_ms: u64) -> Flow {
        Flow::Go
    }
}

/// How time advances.
pub(crate) enum Time<'c> {
    /// One turmoil step a millisecond; the loop looks after each.
    Millisecond,
    /// Coarse turmoil steps; the clockwork inside the container looks when things are due.
    Jumps(&'c Clockwork),
}

pub(crate) fn lock_scene<S>(scene: &Mutex<S>) -> MutexGuard<'_, S> {
    scene.lock().unwrap_or_else(|p| p.into_inner())
}

/// The loop: runs `scene` until it passes or fails.
pub(crate) fn drive<S: Scene>(
    sim: &mut turmoil::Sim<'_>,
    scene: &Mutex<S>,
    time: Time<'_>,
) -> Option<Violation> {
    loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        let flow = match time {
            Time::Millisecond => {
                crate::logging::set_sim_now(now_ms);
                {
                    let mut s = lock_scene(scene);
                    s.outside(sim, now_ms);
                    s.act(now_ms);
                }
                if let Some(v) = step(sim) {
                    return Some(v);
                }
                look(&mut *lock_scene(scene), now_ms)
            }
            Time::Jumps(clockwork) => {
                if let Some(v) = step(sim) {
                    return Some(v);
                }
                clockwork.take()
            }
        };
        let flow = match flow {
            Flow::Bounce => {
                // A clockwork froze at its look and the step ran on to turmoil's tick: the
                // container goes at the end of that step (version 5: it died at the look).
                let at_ms = match time {
                    Time::Millisecond => now_ms,
                    Time::Jumps(_) => lock(lock_scene(scene).world())
                        .died_at_ms
                        .unwrap_or(sim.elapsed().as_millis() as u64),
                };
                if let Some(v) = bounce(sim) {
                    return Some(v);
                }
                let mut s = lock_scene(scene);
                container_died(&mut *s, at_ms);
                judge_view(&mut *s, at_ms)
            }
            other => other,
        };
        if let Flow::Done(v) = flow {
            return v;
        }
        if let Flow::Done(v) = lock_scene(scene).after(sim, now_ms) {
            return v;
        }
    }
}

/// One look at `now_ms`: the run's events since the last look, judged in order; then, unless
/// an eviction returned (the container must go first), the view.
pub(crate) fn look<S: Scene>(scene: &mut S, now_ms: u64) -> Flow {
    match observe(scene, now_ms) {
        Err(v) => Flow::Done(Some(v)),
        Ok(true) if scene.eviction_bounces() => Flow::Bounce,
        Ok(_) => judge_view(scene, now_ms),
    }
}

/// The run's events since the last look, each recorded in the history and judged by the
/// checker (and the scene, for what the container began itself). `Ok(true)` when an eviction
/// returned.
fn observe<S: Scene>(scene: &mut S, now_ms: u64) -> Result<bool, Violation> {
    // A panic while the driver took a snapshot before the step.
    if let Some(v) = panics::violation() {
        return Err(v);
    }
    let world = scene.world().clone();
    let mut w = lock(&world);
    scene.gather(&mut w);
    let mut evicted = false;
    for event in w.events.take() {
        match event {
            RunEvent::Closed(closing) => scene.checker().on_close(&closing)?,
            RunEvent::Began(began) => {
                let agent = agent_of(began.kind);
                if began.hydration {
                    let name = agent.as_ref().map(ToString::to_string).unwrap_or_default();
                    let what = format!("boot hydration starts {name} (op#{})", began.op);
                    w.history.push(now_ms, agent.clone(), What::Container(what));
                }
                w.history
                    .push(now_ms, agent, What::OpIssued(began.op, began.kind));
                scene.checker().on_issue(
                    now_ms,
                    began.op,
                    began.kind,
                    &began.snapshot,
                    began.faults_off,
                );
                scene.on_began(&began)?;
            }
            RunEvent::Returned { op, result, at } => {
                let kind = scene
                    .checker()
                    .kind_of(op)
                    .expect("only issued operations return");
                // In the history first, so that a report on this return shows it.
                w.history.push(
                    now_ms,
                    agent_of(kind),
                    What::OpReturned(op, kind, result.clone()),
                );
                evicted |= kind == crate::scenario::workload::OpKind::Evict;
                if kind == crate::scenario::workload::OpKind::Reboot {
                    w.history
                        .push(now_ms, None, What::Container("hydration ended".into()));
                }
                let snapshot = || snapshot_of(&w);
                scene
                    .checker()
                    .on_return(op, &result, &at, &w.ledger, &snapshot)?;
            }
            RunEvent::Dropped(op) => {
                if let Some(kind) = scene.checker().on_drop(op) {
                    w.history
                        .push(now_ms, agent_of(kind), What::OpDropped(op, kind));
                }
            }
        }
    }
    // A reboot issued before this look: the container goes, as after an eviction.
    Ok(evicted || w.reboot.is_some())
}

/// The view after a step: the checker's, then the scene's own judgement and phases.
pub(crate) fn judge_view<S: Scene>(scene: &mut S, now_ms: u64) -> Flow {
    let world = scene.world().clone();
    let mut w = lock(&world);
    let snapshot = snapshot_of(&w);
    if let Some(v) = panics::violation() {
        return Flow::Done(Some(v));
    }
    let idle = w.is_idle();
    if let Err(v) = scene.checker().on_step(now_ms, &w.ledger, &snapshot, idle) {
        return Flow::Done(Some(v));
    }
    scene.judge(now_ms, &mut w, &snapshot).into()
}

/// The container died (bounced after an eviction or for a reboot, or killed): its calls with
/// it, and what the checker knew of it.
pub(crate) fn container_died<S: Scene>(scene: &mut S, now_ms: u64) {
    let world = scene.world().clone();
    let mut w = lock(&world);
    w.now_ms = now_ms;
    let reboot = w.reboot.take();
    w.kill_container();
    w.rebooted = reboot;
    for (op, kind) in scene.checker().on_bounce(reboot) {
        w.history
            .push(now_ms, agent_of(kind), What::OpKilled(op, kind));
    }
}

/// Bounces the container between steps: dropping its runtime drops the manager's tasks, and
/// container code runs as they drop. A panic then is the run's violation.
fn bounce(sim: &mut turmoil::Sim<'_>) -> Option<Violation> {
    let bounced = panics::capturing(|| catch_unwind(AssertUnwindSafe(|| sim.bounce(CONTAINER))));
    if let Some(v) = panics::violation() {
        return Some(v);
    }
    if let Err(payload) = bounced {
        resume_unwind(payload);
    }
    None
}

/// One turmoil step, with the container's panics recorded; a panic is the step's violation.
fn step(sim: &mut turmoil::Sim<'_>) -> Option<Violation> {
    // The manager's code runs here: a panic in any of its tasks is caught by the tokio
    // runtime, and the hook records it for us.
    let stepped = panics::capturing(|| catch_unwind(AssertUnwindSafe(|| sim.step())));
    if let Some(v) = panics::violation() {
        return Some(v);
    }
    match stepped {
        Ok(Ok(_)) => None,
        // The container software only returns when its inbox closes; an error here is a
        // harness bug, not a finding.
        Ok(Err(e)) => panic!("simulation step failed: {e}"),
        Err(payload) => resume_unwind(payload),
    }
}
