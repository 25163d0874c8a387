//! Planned caller drops: whether and when the caller of an operation goes away, drawn as it
//! arrives, and the signal that drops its future when due.

use std::sync::Arc;

use crate::world::World;
use crate::world::history::OpId;
use crate::world::mailbox::Notice;

impl World {
    /// Draws whether the caller of `op` goes away, and when (the `drops` family; drawn only
    /// while it is on, so older cases replay as they were).
    pub fn plan_drop(&mut self, op: OpId) {
        let rate = self.faults_now().drops;
        if rate == 0 {
            return;
        }
        let drops = self.decisions.percent(rate);
        let after = self.decisions.between_if(drops, 1, 60);
        if drops {
            let at = self.now_ms + u64::from(after);
            self.drop_plans.insert(op, (at, Arc::default()));
        }
    }

    /// The signal that drops `op`'s future, if its caller is to go away.
    pub fn drop_signal(&self, op: OpId) -> Option<Arc<tokio::sync::Notify>> {
        self.drop_plans.get(&op).map(|(_, signal)| signal.clone())
    }

    /// The operations whose caller goes away now, in operation order.
    pub fn due_drops(&self) -> Vec<OpId> {
        let now = self.now_ms;
        self.drop_plans
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(op, _)| *op)
            .collect()
    }

    /// The caller of `op` goes away.
    pub fn fire_drop(&mut self, op: OpId) {
        if let Some((_, signal)) = self.drop_plans.remove(&op) {
            self.post(Notice::CallerGone(signal));
        }
    }

    /// Fires the drops that are due.
    pub fn fire_drops(&mut self) {
        for op in self.due_drops() {
            self.fire_drop(op);
        }
    }
}
