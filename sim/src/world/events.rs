//! The run's one stream of events: what happened inside the container that the checker must
//! judge (an operation issued by the container itself, an operation returned or dropped, a
//! server closed), in the order it happened. The world appends; the checker drains the whole
//! stream at every look, so it never grows beyond one look's events.

use agent_lifecycle::{AgentId, LifecycleError, Snapshot};

use super::World;
use super::ledger::{Ledger, SessionRecord};
use super::server::Closing;
use crate::scenario::workload::OpKind;
use crate::world::history::OpId;

/// One thing that happened in the container, as the checker sees it.
pub enum RunEvent {
    /// The container began an operation of its own accord (a control request that reached
    /// it, boot hydration, the drain on SIGTERM): system runs. A scenario's driver issues its
    /// operations itself and tells the checker directly.
    #[cfg_attr(not(feature = "system"), allow(dead_code))]
    Began(Began),
    /// An operation returned, with what the container saw the moment it did.
    Returned {
        op: OpId,
        result: Result<(), LifecycleError>,
        at: AtReturn,
    },
    /// An operation's future was dropped where it was: its caller went away.
    Dropped(OpId),
    /// A server was closed, with what the manager tracked at that moment.
    Closed(Closing),
}

/// An operation the container began, and what it met.
pub struct Began {
    pub op: OpId,
    pub kind: OpKind,
    /// Boot hydration's start (S4 judges it).
    pub hydration: bool,
    /// The manager's snapshot the moment it began (L2 and I5 read it).
    pub snapshot: Snapshot,
    /// Whether the faults were off by then (a faultless run, or after they healed).
    pub faults_off: bool,
}

/// What the container saw the moment an operation returned: the manager's snapshot and the
/// live sessions of the operation's agent.
pub struct AtReturn {
    /// The simulated instant it returned (a look may come later: after an eviction, at the
    /// container's bounce).
    pub at_ms: u64,
    pub snapshot: Snapshot,
    /// As the ledger had them.
    pub live: Vec<SessionRecord>,
}

impl AtReturn {
    /// What an operation of `agent` (none: an eviction) sees returning now.
    pub fn of(snapshot: Snapshot, ledger: &Ledger, agent: Option<&AgentId>, at_ms: u64) -> Self {
        let live = agent.map_or_else(Vec::new, |agent| {
            ledger
                .live_sessions()
                .filter(|s| &s.agent == agent)
                .cloned()
                .collect()
        });
        Self {
            at_ms,
            snapshot,
            live,
        }
    }
}

/// The stream, and how long it ever got between two looks.
#[derive(Default)]
pub struct RunEvents {
    pending: Vec<RunEvent>,
    most_pending: usize,
    reported: u64,
}

impl RunEvents {
    /// The events since the last look, in order; the stream is empty afterwards.
    pub fn take(&mut self) -> Vec<RunEvent> {
        std::mem::take(&mut self.pending)
    }

    /// The most events that ever waited for a look: bounded by what one look's interval can
    /// hold, whatever the run's length.
    pub fn most_pending(&self) -> usize {
        self.most_pending
    }

    /// How many events the run reported in all.
    pub fn reported(&self) -> u64 {
        self.reported
    }
}

impl World {
    /// Appends to the run's stream. (The caller pokes the clockwork if the event must be
    /// judged at the next millisecond: a close is judged at whatever look comes next.)
    pub fn report(&mut self, event: RunEvent) {
        self.events.pending.push(event);
        self.events.reported += 1;
        self.events.most_pending = self.events.most_pending.max(self.events.pending.len());
    }

    /// The container died: what its operations did after the last look dies with them (their
    /// callers never hear of it), but a server's close stays to be judged.
    pub(super) fn forget_operation_events(&mut self) {
        self.events
            .pending
            .retain(|e| matches!(e, RunEvent::Closed(_)));
    }
}
