//! The checks the shuttle test makes, restated on the recompiled manager's types: I6 at a
//! cancelled start's return, I1 and I3 once every operation returned.

use shuttle_agent_lifecycle::{ServerId, SessionId, Snapshot};

use super::{Backend, FOUND};

impl Backend {
    /// I6 when start `op` returned cancelled: no session it created is live.
    pub fn cancelled(&self, op: u64) {
        let ledger = self.ledger();
        for &(id, _) in ledger.creators.iter().filter(|(_, by)| *by == op) {
            if ledger.sessions[id.0 as usize - 1].2 && self.invariant == "I6" {
                panic!("{FOUND}I6: op#{op} returned cancelled but left {id} live");
            }
        }
    }

    /// Once everything returned: I1, every live session is a live record's, and every live
    /// record's session is live; I3, every server the manager counts counts exactly the live
    /// records' sessions on it, and every running server has one.
    pub fn settled(&self, snapshot: &Snapshot) {
        self.settled_counts(snapshot);
        let ledger = self.ledger();
        let live_records: Vec<_> = snapshot
            .agents
            .iter()
            .filter(|r| !r.status.is_terminal())
            .collect();
        for (i, s) in ledger.sessions.iter().enumerate() {
            let id = SessionId(i as u64 + 1);
            if s.2 && !live_records.iter().any(|r| r.session == Some(id)) && self.invariant == "I1"
            {
                panic!("{FOUND}I1: {id} of agent {} is live and untracked", s.0);
            }
        }
        for r in live_records {
            if let Some(id) = r.session
                && !ledger.sessions[id.0 as usize - 1].2
                && self.invariant == "I1"
            {
                panic!(
                    "{FOUND}I1: agent {}'s record tracks {id}, which is dead",
                    r.agent
                );
            }
        }
    }

    /// I3 once settled (the harness's `check_settled`, restated).
    fn settled_counts(&self, snapshot: &Snapshot) {
        if self.invariant != "I3" {
            return;
        }
        let ledger = self.ledger();
        let tracked_on = |server: ServerId| {
            snapshot
                .agents
                .iter()
                .filter(|r| !r.status.is_terminal())
                .filter_map(|r| r.session)
                .filter(|s| ledger.sessions[s.0 as usize - 1].1 == server)
                .count() as i64
        };
        for e in &snapshot.servers {
            let tracked = tracked_on(e.server);
            if e.count != tracked {
                panic!(
                    "{FOUND}I3: settled, {} counts {} but {tracked} live record(s) run a session on it",
                    e.server, e.count
                );
            }
        }
        for (i, s) in ledger.servers.iter().enumerate() {
            let id = ServerId(i as u64 + 1);
            if s.1 && tracked_on(id) == 0 {
                panic!(
                    "{FOUND}I3: settled, {id} (workdir {}) still runs, with no live record's session on it",
                    s.0
                );
            }
        }
    }
}
