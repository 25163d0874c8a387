//! Version 3's clock: the clockwork inside the container sleeps until the world's next due
//! instant, so the world reads the runtime's own clock wherever the manager's code enters it,
//! and wakes the clockwork whenever something it must see has happened.

use crate::world::World;

impl World {
    /// Under a clockwork, the world's time is the runtime's, read at the moment (only ever
    /// from inside the container's runtime, whose clock the base was taken on).
    pub fn sync_clock(&mut self) {
        if let Some((base, base_ms)) = self.clock_base {
            self.now_ms = base_ms + base.elapsed().as_millis() as u64;
        }
    }

    /// Wakes the clockwork (a call was parked, an operation returned or was dropped) so that
    /// it looks at the next millisecond, unless it already will.
    pub fn poke(&mut self) {
        if let Some(wake) = &self.clockwork
            && self.now_ms + 1 < self.next_look_ms
        {
            self.next_look_ms = self.now_ms + 1;
            wake.notify_one();
        }
    }

    /// The next instant something is due: a call's effect or answer, a happening someone
    /// hears (a heartbeat nobody listens to waits for the next wake), a caller going away.
    pub fn next_due_ms(&self) -> Option<u64> {
        let calls = self.parked.iter().filter(|p| p.pending()).map(|p| p.due_ms);
        let happenings = self
            .scheduled
            .iter()
            .filter(|(_, h)| !self.is_unheard(h))
            .map(|(at, _)| *at);
        let drops = self.drop_plans.values().map(|(at, _)| *at);
        calls.chain(happenings).chain(drops).min()
    }
}
