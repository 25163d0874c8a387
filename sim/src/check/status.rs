//! I8 (a record's status moves forward only).

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, Status};

use super::watch::Watch;
use super::{Invariant, View, Violation};

/// I8: each record's status only moves forward.
#[derive(Default)]
pub(super) struct StatusWatch {
    seen: BTreeMap<(AgentId, u64), Status>,
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Starting => 0,
        Status::Running => 1,
        Status::Stopping => 2,
        Status::Exited | Status::Failed => 3,
    }
}

impl Watch for StatusWatch {
    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        for r in &view.snapshot.agents {
            let key = (r.agent.clone(), r.incarnation);
            let before = match self.seen.get_mut(&key) {
                Some(seen) if *seen == r.status => continue,
                Some(seen) => std::mem::replace(seen, r.status),
                None => {
                    self.seen.insert(key, r.status);
                    continue;
                }
            };
            // Exited -> Failed is a relabel, not a move back: PRE's catch writes `failed` over
            // whatever the record is (the process manager's PRE, `docs/real-system.md`), and a finished record stays finished.
            if rank(r.status) < rank(before) {
                return Err(Violation::new(
                    Invariant::I8,
                    format!(
                        "agent {}'s record #{} went from {before:?} back to {:?}",
                        r.agent, r.incarnation, r.status
                    ),
                    r.session.into_iter().collect(),
                ));
            }
        }
        Ok(())
    }

    /// A new manager numbers its records afresh.
    fn on_bounce(&mut self) {
        self.seen.clear();
    }
}
