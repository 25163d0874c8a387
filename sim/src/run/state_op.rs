//! The (agent state, operation) pairs a run issued: which abstract state each operation met.
//! A compact value, made on every arrival and kept per scenario; its text is only for reports.

use std::fmt;

use agent_lifecycle::Status;

use crate::scenario::workload::CallKind;

/// The abstract state an operation met: its agent's record status, how many operations on
/// that agent were already in flight, and which backend call of the agent was in flight (an
/// eviction: how many operations in all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateOp {
    /// A start, meeting its agent's record, the agent's other operations in flight and its
    /// earliest backend call in flight.
    Start {
        /// The agent's record's status.
        status: Option<Status>,
        /// Other operations of the agent in flight (capped at 2).
        busy: u8,
        /// The agent's earliest backend call in flight.
        call: Option<CallKind>,
    },
    /// A stop, meeting the same.
    Stop {
        /// The agent's record's status.
        status: Option<Status>,
        /// Other operations of the agent in flight (capped at 2).
        busy: u8,
        /// The agent's earliest backend call in flight.
        call: Option<CallKind>,
    },
    /// An eviction, meeting this many operations in flight (capped at 3).
    Evict {
        /// Operations in flight (capped at 3).
        in_flight: u8,
    },
    /// Another operation about one agent (an update, a custom one), meeting the same as a
    /// start.
    Agent {
        /// The operation's name.
        op: &'static str,
        /// The agent's record's status.
        status: Option<Status>,
        /// Other operations of the agent in flight (capped at 2).
        busy: u8,
        /// The agent's earliest backend call in flight.
        call: Option<CallKind>,
    },
    /// Another operation about the whole container (a refresh, a reboot, a custom one),
    /// meeting this many operations in flight (capped at 3).
    Container {
        /// The operation's name.
        op: &'static str,
        /// Operations in flight (capped at 3).
        in_flight: u8,
    },
}

/// A cell of the map: an operation, the status it met, the call in flight it met.
pub type Key = (&'static str, Option<Status>, Option<CallKind>);

/// The cell a pair falls in (the count of operations in flight is not a dimension of the
/// map; an eviction has neither status nor call).
pub fn key(pair: &StateOp) -> Key {
    match *pair {
        StateOp::Start { status, call, .. } => ("start", status, call),
        StateOp::Stop { status, call, .. } => ("stop", status, call),
        StateOp::Evict { .. } => ("evict", None, None),
        StateOp::Agent {
            op, status, call, ..
        } => (op, status, call),
        StateOp::Container { op, .. } => (op, None, None),
    }
}

impl fmt::Display for StateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (verb, status, busy, call) = match *self {
            Self::Evict { in_flight } => return write!(f, "evict with {in_flight} in flight"),
            Self::Container { op, in_flight } => {
                return write!(f, "{op} with {in_flight} in flight");
            }
            Self::Agent {
                op,
                status,
                busy,
                call,
            } => (op, status, busy, call),
            Self::Start { status, busy, call } => ("start", status, busy, call),
            Self::Stop { status, busy, call } => ("stop", status, busy, call),
        };
        match status {
            Some(status) => write!(f, "{verb} on {status:?} with {busy} in flight")?,
            None => write!(f, "{verb} on none with {busy} in flight")?,
        }
        match call {
            Some(call) => write!(f, " during {call}"),
            None => Ok(()),
        }
    }
}
