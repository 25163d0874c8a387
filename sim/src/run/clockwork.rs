//! Version 3: time that jumps to the next event. A clockwork task inside the container's
//! runtime drives the scenario: it judges what happened, makes the instant's events happen,
//! and sleeps until the next instant anything is due, so tokio's paused clock skips the
//! milliseconds in which nothing happens and turmoil's tick no longer bounds the rate. The
//! manager's own timers fire at their exact instants in between; whatever they do that the
//! checker must see (a call, a return, a caller gone) brings the clockwork's next look forward
//! to the start of the next millisecond, once every task of this instant has run.
//!
//! Only an eviction needs the outside: the container is bounced between turmoil steps, so the
//! clockwork freezes when an eviction returns and the container reboots at the next tick.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::drive::{Flow, look};
use super::driver::{Driver, Phase};
use crate::check::Violation;
use crate::scenario::engine::Engine;
use crate::scenario::spec::ScenarioSpec;
use crate::scenario::workload::Trigger;
use crate::world::backend::lock;

/// turmoil's tick under a clockwork, half the call timeout (50 ms by default, 30 s for
/// a 60 s timeout): the most a container's reboot after an eviction is late by. Shorter ticks
/// cost turmoil steps; nothing else happens at tick boundaries. From version 5 the container
/// dies at the look that sees its death and boots again at that instant, so the tick no longer
/// decides anything a scenario sees; it is a second (or half the call timeout, if longer): a
/// scenario that waits out its 10 s liveness bound pays 10 turmoil steps, not 200, and a dead
/// container's tasks run on for at most a second before the bounce drops them.
pub fn clockwork_tick(spec: &ScenarioSpec) -> Duration {
    let half_timeout = (spec.timing.call_timeout_ms / 2).clamp(1, 60_000);
    if Engine::of(spec).exact_death {
        return Duration::from_millis(half_timeout.max(EXACT_DEATH_TICK_MS));
    }
    Duration::from_millis(half_timeout)
}

/// turmoil's tick from version 5 (see [`clockwork_tick`]).
const EXACT_DEATH_TICK_MS: u64 = 1_000;

/// What the clockwork and the loop that steps turmoil share.
pub(crate) struct Clockwork {
    pub(super) driver: Mutex<Driver>,
    pub(super) wake: Arc<Notify>,
    pub(super) state: Mutex<State>,
}

#[derive(Default)]
pub(super) enum State {
    #[default]
    Running,
    /// An eviction returned: bounce the container, then judge the view.
    Bounce,
    /// The scenario is over: passed (`None`) or failed.
    Finished(Option<Violation>),
}

impl Clockwork {
    /// What the clockwork decided since the loop last asked.
    pub(super) fn take(&self) -> Flow {
        match std::mem::take(&mut *self.state.lock().unwrap_or_else(|p| p.into_inner())) {
            State::Running => Flow::Go,
            State::Bounce => Flow::Bounce,
            State::Finished(v) => Flow::Done(v),
        }
    }
}

/// The simulated millisecond a boot starts at, from turmoil; from then on the clockwork reads
/// the runtime's own clock against it.
fn boot_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |e| e.as_millis() as u64)
}

fn lock_driver(c: &Clockwork) -> std::sync::MutexGuard<'_, Driver> {
    c.driver.lock().unwrap_or_else(|p| p.into_inner())
}

/// The clockwork of one boot of the container.
pub(super) async fn run_clockwork(c: Arc<Clockwork>) {
    let started = tokio::time::Instant::now();
    // Version 5: the boot is at the instant the last one died (the world's clock stopped
    // there); turmoil's clock ran on to the end of that tick.
    let boot_ms = {
        let driver = lock_driver(&c);
        let w = lock(&driver.world);
        if w.backend.exact_death {
            w.now_ms
        } else {
            boot_ms()
        }
    };
    lock(&lock_driver(&c).world).clock_base = Some((started, boot_ms));
    let now_ms = || boot_ms + started.elapsed().as_millis() as u64;
    // One timer for the whole boot, moved to each next instant.
    let sleep = tokio::time::sleep_until(started);
    tokio::pin!(sleep);
    loop {
        let now = now_ms();
        let next = {
            let mut driver = lock_driver(&c);
            let mut state = c.state.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(*state, State::Running) {
                return;
            }
            // The look's instant is the world's, also when it ends the run (its elapsed time).
            lock(&driver.world).now_ms = now;
            let flow = look(&mut *driver, now);
            // Version 5: the container dies at the look that ends its boot (an eviction, a
            // reboot, the run's end); its tasks that run on to turmoil's tick reach nothing.
            if !matches!(flow, Flow::Go) {
                let mut w = lock(&driver.world);
                if w.backend.exact_death {
                    w.container_dies_now();
                }
            }
            match flow {
                Flow::Go => {}
                Flow::Bounce => {
                    *state = State::Bounce;
                    return;
                }
                Flow::Done(v) => {
                    *state = State::Finished(v);
                    return;
                }
            }
            let before = lock(&driver.world).history.events.len();
            driver.before_step(now);
            let acted = lock(&driver.world).history.events.len() != before;
            let next = next_wake(&driver, now, acted);
            lock(&driver.world).next_look_ms = next;
            next
        };
        // Judge only at the start of a millisecond, once every task the last instant woke has
        // run: a wake between (a call parked, an operation returned) brings the next look
        // forward to the next millisecond, never into the middle of an instant.
        let mut next = next;
        sleep
            .as_mut()
            .reset(started + Duration::from_millis(next.saturating_sub(boot_ms)));
        loop {
            // Biased: an unbiased select polls its branches in a thread-random order.
            tokio::select! {
                biased;
                _ = sleep.as_mut() => break,
                _ = c.wake.notified() => {
                    let sooner = now_ms() + 1;
                    if sooner < next {
                        next = sooner;
                        sleep.as_mut().reset(started + Duration::from_millis(next - boot_ms));
                    }
                }
            }
        }
    }
}

/// The next instant the clockwork must look: the world's next due event, the next timed
/// arrival, the phase's deadlines, and the next millisecond after an instant in which
/// something happened (its effects are judged once the tasks it woke have run).
fn next_wake(driver: &Driver, now: u64, acted: bool) -> u64 {
    let mut next = u64::MAX;
    let mut at = |t: u64| next = next.min(t);
    if acted {
        at(now + 1);
    }
    if let Some(t) = lock(&driver.world).next_due_ms() {
        at(t);
    }
    // Timed operations go in order: the first one still queued is the next arrival.
    if let Some(t) = driver.queue.iter().find_map(|q| match q {
        Some((_, Trigger::At(t))) => Some(*t),
        _ => None,
    }) {
        at(t);
    }
    // Only operations waiting for a call were left, with nothing in flight to make one: the
    // look that found them never issued ends the chaos at the next one (without it, the clock
    // would run to its 24 h cap). A normal chaos ends in the look its last return is seen.
    if matches!(driver.phase, Phase::Chaos)
        && driver.checker.in_flight().is_empty()
        && !driver
            .queue
            .iter()
            .any(|q| matches!(q, Some((_, Trigger::At(_)))))
    {
        at(now + 1);
    }
    let bound = driver.spec.timing.liveness_bound_ms;
    match driver.phase {
        Phase::Settle { since_ms, .. } => {
            at(driver.busy_ms + driver.settle_ms);
            at(since_ms + bound + 1);
        }
        _ if !driver.checker.in_flight().is_empty() => {
            at(driver.checker.quiet_since_ms() + bound + 1)
        }
        _ => {}
    }
    // Something is always due while a scenario runs (a deadline at least); never sleep for ever.
    next.max(now + 1).min(now + 86_400_000)
}
