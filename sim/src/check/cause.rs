//! L6 (nothing ends without a cause): a Running record's session ends only through its own
//! agent's stop, a restart of it (a start or update of it, a refresh, a reboot), an eviction,
//! its idle exit, or its death (its own error, a crash). Each death is put down to what made
//! it (the ledger's [`Cause`]): the operation whose call aborted the session or closed its
//! server (the request context the call ran in), the manager's background work (a call made
//! outside any operation: an idle exit, a retry), a crash, or the container's death.
//!
//! Background work has no operation to name, so it is held to the session's own state: it
//! may end a session that went idle (its turn ended, `session.idle` published, since its last
//! prompt: an idle exit) or errored (`session.error`: the manager answers the session's
//! death), and no other. While the faults are on, a background death is put down to them: a
//! call that failed or a stream that threw is the session's death as the manager learns of
//! it (the models fail a Running record whose event subscription throws, and close its
//! server), so background work is held to account only for sessions born after the faults
//! healed (or in a fault-free run): a call faulted before the heal may answer after it.

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, SessionId, Status};

use super::watch::{Issue, Watch};
use super::{Invariant, View, Violation, concerns};
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;
use crate::world::ledger::{Cause, Death};

/// L6's memory: what every operation was, where it left off in the ledger's deaths, and the
/// Running records' sessions as the last view showed them.
#[derive(Default)]
pub(super) struct EndsWithCause {
    kinds: BTreeMap<OpId, OpKind>,
    next_death: usize,
    running: BTreeMap<SessionId, AgentId>,
}

impl EndsWithCause {
    fn judge(&self, d: &Death) -> Option<Violation> {
        let (detail, ok) = match d.cause {
            Cause::Crash | Cause::Bounce => return None,
            Cause::Background => (
                "with the faults off all its life, the manager's background work (no operation) ended it, though its turn had not ended and it had not errored".to_string(),
                d.idle_or_errored || d.faults_on,
            ),
            Cause::Op(op) => match self.kinds.get(&op) {
                Some(&kind) => (
                    format!("op#{op} ({kind}) ended it"),
                    concerns(kind, &d.agent),
                ),
                None => return None,
            },
        };
        (!ok).then(|| {
            Violation::new(
                Invariant::L6,
                format!(
                    "{} of {} was a Running record's session, and {detail}",
                    d.session, d.agent
                ),
                vec![d.session],
            )
        })
    }
}

impl Watch for EndsWithCause {
    fn on_issue(&mut self, issue: &Issue<'_>) {
        self.kinds.insert(issue.op, issue.kind);
    }

    fn on_step(&mut self, view: &View<'_>) -> Result<(), Violation> {
        let deaths = &view.ledger.deaths;
        // The log outlives the container; a fresh checker starts from the beginning.
        let new = deaths.get(self.next_death..).unwrap_or_default();
        self.next_death = deaths.len();
        for d in new {
            if self.running.get(&d.session) == Some(&d.agent)
                && let Some(v) = self.judge(d)
            {
                return Err(v);
            }
        }
        self.running = view
            .snapshot
            .agents
            .iter()
            .filter(|r| r.status == Status::Running)
            .filter_map(|r| Some((r.session?, r.agent.clone())))
            .collect();
        Ok(())
    }
}
