//! A history paired up for drawing: each operation and each backend call as a span from the
//! event that began it to the one that ended it, in the order the history tells them. The
//! Perfetto trace and the HTML page's swimlanes both draw from this.

use std::collections::BTreeMap;

use agent_lifecycle::{AgentId, LifecycleError, ServerId, SessionId};

use crate::scenario::workload::{CallKind, OpKind};
use crate::world::history::{Event, Fault, History, OpId, What};

/// What a span is of.
pub(crate) enum SpanOf<'a> {
    /// A workload operation on the manager.
    Op(OpId, &'a OpKind),
    /// A backend call the manager made.
    Call {
        call: u64,
        op: Option<OpId>,
        kind: CallKind,
        args: &'a str,
        fault: Option<Fault>,
    },
}

/// How a span ended.
pub(crate) enum Ending<'a> {
    /// The operation returned this.
    Returned(&'a Result<(), LifecycleError>),
    /// The backend answered the call with this text.
    Replied(&'a str),
    /// The call's caller stopped waiting for it.
    Abandoned,
    /// The operation was in flight when the container died.
    Killed,
    /// The operation's caller went away and dropped it.
    Dropped,
    /// Still in flight when the run ended.
    InFlight,
}

/// An operation or call, from its start to its end.
pub(crate) struct Span<'a> {
    /// The place in the history of the event that began it.
    pub(crate) start_ix: usize,
    /// The place of the event that ended it; `None`: still in flight when the run ended.
    pub(crate) end_ix: Option<usize>,
    pub(crate) start_ms: u64,
    /// `None`: still in flight when the run ended.
    pub(crate) end_ms: Option<u64>,
    pub(crate) agent: Option<&'a AgentId>,
    pub(crate) of: SpanOf<'a>,
    pub(crate) ending: Ending<'a>,
}

impl Span<'_> {
    /// The ending in words, as both drawings label it.
    pub(crate) fn outcome(&self) -> String {
        match &self.ending {
            Ending::Returned(Ok(())) => "ok".into(),
            Ending::Returned(Err(err)) => format!("error: {err}"),
            Ending::Replied(reply) => (*reply).to_string(),
            Ending::Abandoned => "abandoned by its caller".into(),
            Ending::Killed => "killed with the container".into(),
            Ending::Dropped => "dropped: its caller went away".into(),
            Ending::InFlight => "still in flight".into(),
        }
    }
}

/// One piece of a paired history: an event as it happened (with its place in the history),
/// or a span closed by the event just before it (or by the end of the run).
pub(crate) enum Piece<'a> {
    Event(usize, &'a Event),
    Span(Span<'a>),
}

/// The history's events in order, each span right after the event that closed it, then the
/// spans still open at the end (operations, then calls, each by number). An end whose start
/// the history does not hold is dropped.
pub(crate) fn pieces(history: &History) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut ops: BTreeMap<OpId, Open> = BTreeMap::new();
    let mut calls: BTreeMap<u64, Open> = BTreeMap::new();
    for (ix, e) in history.events.iter().enumerate() {
        out.push(Piece::Event(ix, e));
        let op_end = |ending| match &e.what {
            What::OpReturned(op, ..) | What::OpKilled(op, _) | What::OpDropped(op, _) => {
                Some((*op, ending))
            }
            _ => None,
        };
        let ended_op = match &e.what {
            What::OpIssued(op, kind) => {
                ops.insert(*op, (ix, e.at_ms, e.agent.as_ref(), SpanOf::Op(*op, kind)));
                None
            }
            What::OpReturned(_, _, result) => op_end(Ending::Returned(result)),
            What::OpKilled(..) => op_end(Ending::Killed),
            What::OpDropped(..) => op_end(Ending::Dropped),
            _ => None,
        };
        if let Some((op, ending)) = ended_op
            && let Some(open) = ops.remove(&op)
        {
            out.push(Piece::Span(span(open, Some((ix, e.at_ms)), ending)));
        }
        let ended_call = match &e.what {
            What::CallStarted {
                call,
                op,
                kind,
                args,
                fault,
            } => {
                let of = SpanOf::Call {
                    call: *call,
                    op: *op,
                    kind: *kind,
                    args,
                    fault: *fault,
                };
                calls.insert(*call, (ix, e.at_ms, e.agent.as_ref(), of));
                None
            }
            What::CallReturned { call, reply, .. } => Some((*call, Ending::Replied(reply))),
            What::CallAbandoned { call, .. } => Some((*call, Ending::Abandoned)),
            _ => None,
        };
        if let Some((call, ending)) = ended_call
            && let Some(open) = calls.remove(&call)
        {
            out.push(Piece::Span(span(open, Some((ix, e.at_ms)), ending)));
        }
    }
    for open in ops.into_values().chain(calls.into_values()) {
        out.push(Piece::Span(span(open, None, Ending::InFlight)));
    }
    out
}

/// A span opened and not yet closed: where it started, whose, and what it is.
type Open<'a> = (usize, u64, Option<&'a AgentId>, SpanOf<'a>);

/// The span `open` makes, closed at `end` (its event's place and time) or still open.
fn span<'a>(
    (start_ix, start_ms, agent, of): Open<'a>,
    end: Option<(usize, u64)>,
    ending: Ending<'a>,
) -> Span<'a> {
    Span {
        start_ix,
        end_ix: end.map(|(ix, _)| ix),
        start_ms,
        end_ms: end.map(|(_, ms)| ms),
        agent,
        of,
        ending,
    }
}

/// The sessions a call's arguments or reply name (`s3`, but not `srv3`).
pub(crate) fn sessions_in(text: &str) -> impl Iterator<Item = SessionId> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| word.strip_prefix('s')?.parse().ok().map(SessionId))
}

/// The servers a text names (`srv3`).
pub(crate) fn servers_in(text: &str) -> impl Iterator<Item = ServerId> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| word.strip_prefix("srv")?.parse().ok().map(ServerId))
}
