//! What happened in a scenario, in simulated time: the record every report, replay and
//! determinism check is built from.

use std::fmt::{self, Write as _};

use agent_lifecycle::{AgentId, LifecycleError, ServerId, SessionId};

use crate::scenario::workload::{CallKind, OpKind};

/// A workload operation, numbered in issue order.
pub type OpId = u32;

/// A fault the backend injected into one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call answers with an error.
    Fail,
    /// Lost request: the call never reaches the server and never answers; the caller's timeout
    /// ends it.
    Hang,
    /// Lost reply: the call takes effect but answers with an error.
    Lie,
    /// Lost reply: the call takes effect but never answers; the caller's timeout ends it.
    LostReply,
    /// Late effect: the call never answers, and takes effect after its caller's timeout.
    Late,
}

impl Fault {
    /// Its one name, in coverage points (`world.fault.NAME.CALL`), traces and reports. (A
    /// fault family, `--also NAME`, is a kind of trouble; the fault a call gets is what the
    /// trouble did to it: the `lost-replies` family, say, gives a call `lie` or `lost_reply`.)
    pub fn name(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Hang => "hang",
            Self::Lie => "lie",
            Self::LostReply => "lost_reply",
            Self::Late => "late",
        }
    }
}

/// One thing that happened in a run, as its timeline shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// A workload operation was called on the manager.
    OpIssued(OpId, OpKind),
    /// A workload operation returned, with what it returned.
    OpReturned(OpId, OpKind, Result<(), LifecycleError>),
    /// The operation was in flight when the container died.
    OpKilled(OpId, OpKind),
    /// The manager made a backend call.
    CallStarted {
        /// The call's number, in the order calls were made.
        call: u64,
        /// The workload operation it was made for, if any.
        op: Option<OpId>,
        /// Which call.
        kind: CallKind,
        /// Its arguments, as text.
        args: String,
        /// The fault injected into it, if any.
        fault: Option<Fault>,
    },
    /// The backend answered a call.
    CallReturned {
        /// The call's number.
        call: u64,
        /// The workload operation it was made for, if any.
        op: Option<OpId>,
        /// Which call.
        kind: CallKind,
        /// Its answer, as text (`error ...` for an error).
        reply: String,
    },
    /// The caller stopped waiting (timeout, or its task died) before the call was answered.
    CallAbandoned {
        /// The call's number.
        call: u64,
        /// The workload operation it was made for, if any.
        op: Option<OpId>,
        /// Which call.
        kind: CallKind,
    },
    /// A session's turn ended: it reported `session.idle`.
    SessionIdle(SessionId),
    /// A session reported `session.error`.
    SessionError(SessionId),
    /// A prompt ran on an aborted session: it works again.
    SessionRevived(SessionId),
    /// A server crashed, and its sessions with it.
    ServerCrashed(ServerId),
    /// The container host bounced: every server and session on it died.
    Bounce,
    /// The faults healed: from here on the manager is given time to settle.
    FaultsHealed,
    /// System runs: the network between the town and the container is cut.
    Partitioned,
    /// System runs: the network between the town and the container is whole again.
    Repaired,
    /// System runs: the network holds every message between the town and the container.
    Held,
    /// System runs: the held messages are delivered, and the network is whole again.
    Released,
    /// Settled: every agent is being stopped.
    StoppingAll,
    /// Settled after the chaos: every agent is started once more, with the faults healed.
    Recovering,
    /// A call took effect at the server apart from its answer: its reply was lost, or it
    /// landed after its caller gave up. `outcome` is what the effect did.
    CallLanded {
        /// The call's number.
        call: u64,
        /// The workload operation it was made for, if any.
        op: Option<OpId>,
        /// Which call.
        kind: CallKind,
        /// What the effect did, as text.
        outcome: String,
        /// Whether its caller had stopped waiting by then.
        unawaited: bool,
    },
    /// The operation's caller went away and its future was dropped (the `drops` family).
    OpDropped(OpId, OpKind),
    /// A step strategy held a ready call instead of answering it (version 5): its answer
    /// comes `ms` later, a latency the random strategy could have drawn.
    CallHeld {
        /// The call's number.
        call: u64,
        /// The workload operation it was made for, if any.
        op: Option<OpId>,
        /// Which call.
        kind: CallKind,
        /// How much later it is answered.
        ms: u64,
    },
    /// System runs: what the town's control plane did or concluded.
    Town(String),
    /// System runs: what the container host went through (SIGTERM, its drain, hydration).
    Container(String),
}

/// One entry of a [`History`]: when, for which agent, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The simulated millisecond it happened at.
    pub at_ms: u64,
    /// The agent this concerns; `None` for container-wide events.
    pub agent: Option<AgentId>,
    /// What happened.
    pub what: What,
}

fn op_tag(op: &Option<OpId>) -> String {
    op.map(|op| format!("op#{op} ")).unwrap_or_default()
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OpIssued(op, kind) => write!(f, "op#{op} {kind} issued"),
            Self::OpReturned(op, kind, Ok(())) => write!(f, "op#{op} {kind} returned ok"),
            Self::OpReturned(op, kind, Err(e)) => write!(f, "op#{op} {kind} returned error: {e}"),
            Self::OpKilled(op, kind) => write!(f, "op#{op} {kind} killed with the container"),
            Self::CallStarted {
                call,
                op,
                kind,
                args,
                fault,
            } => {
                write!(f, "{}call#{call} {kind}({args}) sent", op_tag(op))?;
                match fault {
                    Some(Fault::Fail) => f.write_str("  [fault: will fail]"),
                    Some(Fault::Hang) => f.write_str("  [fault: will hang]"),
                    Some(Fault::Lie) => f.write_str("  [fault: will act, then answer an error]"),
                    Some(Fault::LostReply) => f.write_str("  [fault: will act, reply lost]"),
                    Some(Fault::Late) => {
                        f.write_str("  [fault: will act after its caller gives up]")
                    }
                    None => Ok(()),
                }
            }
            Self::CallReturned {
                call,
                op,
                kind,
                reply,
            } => write!(f, "{}call#{call} {kind} -> {reply}", op_tag(op)),
            Self::CallAbandoned { call, op, kind } => {
                write!(
                    f,
                    "{}call#{call} {kind} abandoned by its caller",
                    op_tag(op)
                )
            }
            Self::SessionIdle(s) => write!(f, "{s} went idle"),
            Self::SessionError(s) => write!(f, "{s} reported session.error (it persists)"),
            Self::SessionRevived(s) => write!(f, "{s} was aborted, and a prompt runs it again"),
            Self::ServerCrashed(s) => write!(f, "{s} crashed: its sessions died"),
            Self::Bounce => {
                f.write_str("container host bounced: every server and session on it died")
            }
            Self::FaultsHealed => f.write_str("faults healed; waiting for the manager to settle"),
            Self::Partitioned => f.write_str("network: town and container partitioned"),
            Self::Repaired => f.write_str("network: town and container reach each other again"),
            Self::StoppingAll => f.write_str("settled; stopping every agent"),
            Self::Recovering => f.write_str("settled; recovery: starting every agent again"),
            Self::OpDropped(op, kind) => {
                write!(f, "op#{op} {kind} dropped: its caller went away")
            }
            Self::CallHeld { call, op, kind, ms } => write!(
                f,
                "{}call#{call} {kind} held: answered {ms} ms later (a slow server)",
                op_tag(op)
            ),
            Self::Town(what) => write!(f, "town: {what}"),
            Self::Container(what) => write!(f, "container: {what}"),
            Self::Held => f.write_str("network: messages between town and container held"),
            Self::Released => f.write_str("network: held messages released"),
            Self::CallLanded {
                call,
                op,
                kind,
                outcome,
                unawaited,
            } => {
                let when = if *unawaited {
                    ", after its caller gave up"
                } else {
                    "; its reply is lost"
                };
                write!(
                    f,
                    "{}call#{call} {kind} landed at the server -> {outcome}{when}",
                    op_tag(op)
                )
            }
        }
    }
}

/// Every event, in order.
#[derive(Default)]
pub struct History {
    /// The events, in the order they happened.
    pub events: Vec<Event>,
}

impl History {
    pub(crate) fn push(&mut self, at_ms: u64, agent: Option<AgentId>, what: What) {
        self.events.push(Event { at_ms, agent, what });
    }

    /// One lane per agent, then the container's; simulated milliseconds on the left.
    pub fn timeline(&self) -> String {
        let mut lanes: Vec<Option<&AgentId>> =
            self.events.iter().map(|e| e.agent.as_ref()).collect();
        // `None` sorts first; the container lane reads best last.
        lanes.sort();
        lanes.dedup();
        let container_first = usize::from(lanes.first() == Some(&None));
        lanes.rotate_left(container_first);
        let mut out = String::new();
        for lane in lanes {
            match lane {
                Some(agent) => writeln!(out, "  agent {agent}").unwrap(),
                None => writeln!(out, "  container").unwrap(),
            }
            for e in self.events.iter().filter(|e| e.agent.as_ref() == lane) {
                writeln!(out, "    {:>6}ms  {}", e.at_ms, e.what).unwrap();
            }
        }
        out
    }

    /// A digest of the order in which the backend answered calls, with every id and time
    /// left out: the sequence, in answer order, of (call kind, agent, reply kind), where the
    /// agent is numbered by its first appearance in that sequence (`A`, `B`, ...; `-` for a
    /// call made for no agent, such as closing a server on eviction) and the reply kind is
    /// `ok` or `err` (an injected or real error; a hung call that its caller gave up on is not
    /// answered and does not appear). Calls never answered are left out.
    ///
    /// So it counts interleavings, not workloads: two runs whose answers came in the same
    /// order, the same way, share a digest even if their operation and call ids, their agents'
    /// names or their timings differ; "distinct interleavings" in the metrics is the number of
    /// distinct digests.
    pub fn interleaving_digest(&self) -> u64 {
        let mut agents: Vec<&AgentId> = Vec::new();
        let mut order = String::new();
        for e in &self.events {
            if let What::CallReturned { kind, reply, .. } = &e.what {
                let lane = match &e.agent {
                    Some(agent) => {
                        let rank = agents.iter().position(|a| *a == agent).unwrap_or_else(|| {
                            agents.push(agent);
                            agents.len() - 1
                        });
                        // Base-26 letters: A..Z, then BA.. (a scenario has 2 or 3 agents).
                        let mut name = String::new();
                        let mut n = rank;
                        loop {
                            name.insert(0, char::from(b'A' + (n % 26) as u8));
                            n /= 26;
                            if n == 0 {
                                break;
                            }
                        }
                        name
                    }
                    None => "-".to_string(),
                };
                let answer = if reply.starts_with("error") {
                    "err"
                } else {
                    "ok"
                };
                write!(order, "{kind} {lane} {answer};").unwrap();
            }
        }
        fnv1a(order.bytes())
    }

    /// A stable digest of the whole history (FNV-1a over its text): equal histories, equal
    /// digests, on any machine.
    pub fn digest(&self) -> u64 {
        let mut text = String::new();
        for e in &self.events {
            let agent = e.agent.as_ref().map(|a| &*a.0).unwrap_or("-");
            writeln!(text, "{} {} {}", e.at_ms, agent, e.what).unwrap();
        }
        fnv1a(text.bytes())
    }
}

/// FNV-1a: tiny, and the same on every machine and every version.
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
