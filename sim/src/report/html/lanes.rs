//! One run's history as the page's swimlanes: a lane per agent (its operations), per server
//! (the calls made to it, its sessions' events, its crash), and for the container (and, in
//! system runs, the town and the network); operations and calls as spans from issue to end,
//! with what went wrong marked; the step after which the invariant broke flagged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use agent_lifecycle::{AgentId, ServerId, SessionId};
use serde::Serialize;

use crate::check::Violation;
use crate::report::spans::{Ending, Piece, SpanOf, pieces, servers_in, sessions_in};
use crate::scenario::workload::CallKind;
use crate::world::history::{Event, History, What};

/// A lane, in the order lanes are drawn.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key<'a> {
    Agent(&'a AgentId),
    Server(ServerId),
    Container,
    Town,
    Network,
}

/// A lane as the page draws it.
#[derive(Serialize)]
pub(crate) struct Lane {
    /// `agent a0`, `srv1`, `container`, `town`, `network`.
    name: String,
    /// `agent`, `server`, `container`, `town` or `network`.
    kind: &'static str,
}

/// An operation or a call, from issue to end.
#[derive(Serialize)]
pub(crate) struct Bar {
    lane: usize,
    /// The places in the history of the events that began and ended it (the history's length
    /// if it was still in flight at the end).
    start_ix: usize,
    end_ix: usize,
    start_ms: u64,
    end_ms: u64,
    /// `op` or `call`.
    kind: &'static str,
    /// The agent it was for (a call's lane is its server's).
    agent: Option<String>,
    label: String,
    /// How it ended, in words.
    outcome: String,
    /// `ok`, `error`, `abandoned`, `killed`, `dropped` or `in-flight`.
    ending: &'static str,
    /// The fault injected into a call.
    fault: Option<&'static str>,
    /// Part of the step after which the invariant broke.
    step: bool,
}

/// Something that happened at an instant.
#[derive(Serialize)]
pub(crate) struct Mark {
    lane: usize,
    /// The event's place in the history.
    at_ix: usize,
    at_ms: u64,
    /// `late-effect`, `lost-reply`, `crash`, `session`, `container`, `town` or `network`.
    kind: &'static str,
    label: String,
    /// The timeline's line for it.
    detail: String,
    step: bool,
}

/// One run drawn: its lanes, spans and marks, and when it broke.
#[derive(Serialize)]
pub(crate) struct Timeline {
    pub(crate) lanes: Vec<Lane>,
    bars: Vec<Bar>,
    marks: Vec<Mark>,
    /// Each event's simulated ms, by its place in the history: the page spaces events by
    /// their order, and says how far apart in time they were.
    times: Vec<u64>,
    /// When the run ended (simulated ms).
    end_ms: u64,
    /// When the violation was found: the run's end.
    violation_ms: Option<u64>,
    /// The lanes of the sessions the violation names.
    violation_lanes: Vec<usize>,
    /// The instant of the violating step: the last event before the failing view.
    step_ms: Option<u64>,
}

struct Lanes<'a> {
    index: BTreeMap<Key<'a>, usize>,
    /// Each session's server, from the create_session calls that made it.
    session_server: BTreeMap<SessionId, ServerId>,
}

impl<'a> Lanes<'a> {
    fn of(&self, key: Key<'a>) -> usize {
        self.index[&key]
    }

    fn agent_or_container(&self, agent: Option<&'a AgentId>) -> usize {
        self.of(agent.map_or(Key::Container, Key::Agent))
    }

    /// A call is drawn on the server its arguments name, or the one its session is on, or
    /// (ensure_server) the one it answered; else on its agent's lane.
    fn call(&self, kind: CallKind, args: &str, reply: &str, agent: Option<&'a AgentId>) -> usize {
        let server = servers_in(args)
            .next()
            .or_else(|| self.session(args))
            .or_else(|| {
                (kind == CallKind::EnsureServer)
                    .then(|| servers_in(reply).next())
                    .flatten()
            });
        match server {
            Some(s) => self.of(Key::Server(s)),
            None => self.agent_or_container(agent),
        }
    }

    fn session(&self, text: &str) -> Option<ServerId> {
        sessions_in(text).find_map(|s| self.session_server.get(&s).copied())
    }
}

/// The lanes a run needs: every agent of its workload (`agents`) and every agent and server
/// its history names, the container's, and the town's and the network's if it has them.
fn lanes<'a>(agents: &'a [AgentId], history: &'a History) -> Lanes<'a> {
    let mut keys: BTreeSet<Key> = agents.iter().map(Key::Agent).collect();
    keys.insert(Key::Container);
    let mut session_server = BTreeMap::new();
    let mut creates: BTreeMap<u64, ServerId> = BTreeMap::new();
    for e in &history.events {
        keys.extend(e.agent.as_ref().map(Key::Agent));
        keys.extend(servers_in(&e.what.to_string()).map(Key::Server));
        match &e.what {
            What::Town(_) => {
                keys.insert(Key::Town);
            }
            What::Partitioned | What::Repaired | What::Held | What::Released => {
                keys.insert(Key::Network);
            }
            What::CallStarted {
                call,
                kind: CallKind::CreateSession,
                args,
                ..
            } => {
                creates.extend(servers_in(args).next().map(|s| (*call, s)));
            }
            What::CallReturned { call, reply, .. }
            | What::CallLanded {
                call,
                outcome: reply,
                ..
            } => {
                if let Some(&server) = creates.get(call) {
                    session_server.extend(sessions_in(reply).map(|s| (s, server)));
                }
            }
            _ => {}
        }
    }
    Lanes {
        index: keys.into_iter().enumerate().map(|(i, k)| (k, i)).collect(),
        session_server,
    }
}

fn lane_of(key: &Key) -> Lane {
    let (name, kind) = match key {
        Key::Agent(a) => (format!("agent {a}"), "agent"),
        Key::Server(s) => (s.to_string(), "server"),
        Key::Container => ("container".into(), "container"),
        Key::Town => ("town".into(), "town"),
        Key::Network => ("network".into(), "network"),
    };
    Lane { name, kind }
}

/// The run drawn as lanes. `agents` are its workload's, so that an agent nothing happened to
/// still has its lane.
pub(crate) fn timeline(
    agents: &[AgentId],
    history: &History,
    elapsed: Duration,
    violation: Option<&Violation>,
) -> Timeline {
    let lanes = lanes(agents, history);
    let end_ms = elapsed.as_millis() as u64;
    let step_ms = violation.and(history.events.last().map(|e| e.at_ms));
    let in_step = |ms: u64| step_ms == Some(ms);
    let mut bars = Vec::new();
    let mut marks = Vec::new();
    // A call's lane, fixed when it starts, for the marks of its effects.
    let mut call_lanes: BTreeMap<u64, usize> = BTreeMap::new();
    for piece in pieces(history) {
        let span = match piece {
            Piece::Event(ix, e) => {
                if let What::CallStarted {
                    call, kind, args, ..
                } = &e.what
                {
                    call_lanes.insert(*call, lanes.call(*kind, args, "", e.agent.as_ref()));
                }
                marks.extend(mark(&lanes, &call_lanes, (ix, e), in_step(e.at_ms)));
                continue;
            }
            Piece::Span(span) => span,
        };
        let outcome = span.outcome();
        let (lane, kind, label, fault) = match span.of {
            SpanOf::Op(op, kind) => {
                let label = format!("op#{op} {kind}");
                (lanes.agent_or_container(span.agent), "op", label, None)
            }
            SpanOf::Call {
                call,
                kind,
                args,
                fault,
                ..
            } => {
                let lane = lanes.call(kind, args, &outcome, span.agent);
                let label = format!("call#{call} {kind}({args})");
                (lane, "call", label, fault.map(|f| f.name()))
            }
        };
        let ending = match &span.ending {
            Ending::Returned(Ok(())) => "ok",
            Ending::Replied(reply) if !reply.starts_with("error") => "ok",
            Ending::Returned(Err(_)) | Ending::Replied(_) => "error",
            Ending::Abandoned => "abandoned",
            Ending::Killed => "killed",
            Ending::Dropped => "dropped",
            Ending::InFlight => "in-flight",
        };
        let end = span.end_ms.unwrap_or(end_ms);
        bars.push(Bar {
            lane,
            start_ix: span.start_ix,
            end_ix: span.end_ix.unwrap_or(history.events.len()),
            start_ms: span.start_ms,
            end_ms: end,
            kind,
            agent: span.agent.map(|a| a.to_string()),
            label,
            outcome,
            ending,
            fault,
            step: span.end_ms.is_some_and(in_step) || in_step(span.start_ms),
        });
    }
    let violation_lanes = violation.map_or_else(Vec::new, |v| {
        let mut on: Vec<usize> = v
            .sessions
            .iter()
            .filter_map(|s| lanes.session_server.get(s))
            .map(|&s| lanes.of(Key::Server(s)))
            .collect();
        on.sort();
        on.dedup();
        on
    });
    Timeline {
        lanes: lanes.index.keys().map(lane_of).collect(),
        bars,
        marks,
        times: history.events.iter().map(|e| e.at_ms).collect(),
        end_ms,
        violation_ms: violation.map(|_| end_ms),
        violation_lanes,
        step_ms,
    }
}

/// The mark an event leaves, if it is not the start or end of a span.
fn mark(
    lanes: &Lanes,
    call_lanes: &BTreeMap<u64, usize>,
    (ix, e): (usize, &Event),
    step: bool,
) -> Option<Mark> {
    let container = lanes.of(Key::Container);
    let (lane, kind, label) = match &e.what {
        What::CallLanded {
            call, unawaited, ..
        } => {
            let lane = call_lanes.get(call).copied().unwrap_or(container);
            if *unawaited {
                (lane, "late-effect", format!("call#{call} landed late"))
            } else {
                (lane, "lost-reply", format!("call#{call} reply lost"))
            }
        }
        What::CallHeld { call, ms, .. } => {
            let lane = call_lanes.get(call).copied().unwrap_or(container);
            (lane, "held", format!("call#{call} held {ms} ms"))
        }
        What::ServerCrashed(s) => (lanes.of(Key::Server(*s)), "crash", format!("{s} crashed")),
        What::SessionIdle(s) | What::SessionError(s) | What::SessionRevived(s) => {
            let lane = lanes
                .session_server
                .get(s)
                .map_or(container, |&srv| lanes.of(Key::Server(srv)));
            let what = match e.what {
                What::SessionIdle(_) => "idle",
                What::SessionError(_) => "error",
                _ => "revived",
            };
            (lane, "session", format!("{s} {what}"))
        }
        What::Bounce => (container, "crash", "host bounced".into()),
        What::FaultsHealed => (container, "container", "faults healed".into()),
        What::StoppingAll => (container, "container", "stopping all".into()),
        What::Recovering => (container, "container", "recovering".into()),
        What::Container(what) => (container, "container", what.clone()),
        What::Town(what) => {
            let label = e
                .agent
                .as_ref()
                .map_or_else(|| what.clone(), |a| format!("{a}: {what}"));
            (lanes.of(Key::Town), "town", label)
        }
        What::Partitioned | What::Repaired | What::Held | What::Released => {
            let label = e.what.to_string();
            let label = label.trim_start_matches("network: ").to_string();
            (lanes.of(Key::Network), "network", label)
        }
        What::OpIssued(..)
        | What::OpReturned(..)
        | What::OpKilled(..)
        | What::OpDropped(..)
        | What::CallStarted { .. }
        | What::CallReturned { .. }
        | What::CallAbandoned { .. } => return None,
    };
    Some(Mark {
        lane,
        at_ix: ix,
        at_ms: e.at_ms,
        kind,
        label,
        detail: e.what.to_string(),
        step,
    })
}

#[cfg(test)]
mod tests;
