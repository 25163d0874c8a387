//! What the step strategies (pct, walk, dfs) see and do: the calls ready for a step, the pick
//! of one, and (version 5) the hold: walk and dfs may hold the call they picked instead of
//! answering it, so that a call can outlast its caller's timeout with no fault. The hold keeps
//! the call's latency, counted from when it was made, within what the random strategy draws
//! (`1..=max_latency_ms`), and a call is held at most once.

use super::World;
use super::history::What;
use crate::schedule::Ready;

impl World {
    /// The calls the scheduler could answer now, in call order.
    pub fn ready_calls(&self) -> Vec<Ready> {
        let now = self.now_ms;
        self.parked
            .iter()
            .filter(|p| p.due_ms <= now && p.pending())
            .map(|p| Ready {
                id: p.id,
                thread: p.thread,
                due_ms: p.due_ms,
            })
            .collect()
    }

    /// One step out of `steps`, as the scheduler picks it (pct and dfs).
    pub fn pick_one(&mut self, steps: &[Ready]) -> Option<usize> {
        self.scheduler
            .pick(steps, &mut self.decisions)
            .first()
            .copied()
    }

    /// After a step strategy picked the ready call `id`: whether it holds it instead (a
    /// decision of the strategy's own). A held call is answered at its new due time.
    pub fn hold_instead(&mut self, id: u64) -> bool {
        let now = self.now_ms;
        let max = u64::from(self.backend.max_latency_ms.max(1));
        let Some(at) = self.parked.iter().position(|p| p.id == id) else {
            return false;
        };
        let (sent, held) = (self.parked[at].sent_ms, self.parked[at].held);
        // Held once already, or no latency left in the model to hold it by: no decision.
        let earliest = now + 1 - sent.min(now);
        if held || earliest > max {
            return false;
        }
        let Some(latency) = self
            .scheduler
            .delay(earliest as u32, max as u32, &mut self.decisions)
        else {
            return false;
        };
        let due_ms = sent + u64::from(latency);
        let p = &mut self.parked[at];
        p.held = true;
        p.due_ms = due_ms;
        let held = What::CallHeld {
            call: id,
            op: p.op,
            kind: p.call.kind(),
            ms: due_ms - now,
        };
        let agent = p.agent.clone();
        self.history.push(now, agent, held);
        true
    }
}
