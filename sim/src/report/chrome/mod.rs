//! A scenario's history as Chrome trace-event JSON, to open in Perfetto or chrome://tracing:
//! one track per agent, per backend session and for the container, with operations and backend
//! calls as spans and faults, session events, crashes and the violation as instants.

use std::collections::{BTreeMap, BTreeSet};

use agent_lifecycle::{AgentId, SessionId};
use serde_json::{Value, json};

use crate::check::Violation;
use crate::run::Outcome;
use crate::scenario::workload::CallKind;
use crate::world::history::{Event, Fault, History, What};

use super::spans::{Piece, Span, SpanOf, pieces, sessions_in};

const PID: u32 = 1;
/// The shortest span drawn, in µs: simulated time has millisecond steps, so many spans would
/// otherwise have no width at all.
const MIN_DUR_US: u64 = 1000;

/// Where an event is drawn. The variant order is the track order: agents, sessions, container.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Track<'a> {
    Agent(&'a AgentId),
    Session(SessionId),
    Container,
    /// System runs: the town's host.
    Town,
    /// System runs: the link between the town and the container.
    Network,
}

impl Track<'_> {
    fn name(&self) -> String {
        match self {
            Self::Agent(a) => format!("agent {a}"),
            Self::Session(s) => format!("session {s}"),
            Self::Container => "container".into(),
            Self::Town => "town".into(),
            Self::Network => "network".into(),
        }
    }
}

fn call_track<'a>(kind: CallKind, args: &str, agent: Option<&'a AgentId>) -> Track<'a> {
    let session = match kind {
        CallKind::Prompt | CallKind::AbortSession | CallKind::Subscribe => sessions_in(args).next(),
        _ => None,
    };
    match (session, agent) {
        (Some(s), _) => Track::Session(s),
        (None, Some(a)) => Track::Agent(a),
        (None, None) => Track::Container,
    }
}

struct Builder<'a> {
    tids: BTreeMap<Track<'a>, usize>,
    events: Vec<Value>,
}

impl<'a> Builder<'a> {
    /// An operation or call, drawn up to `end_us` if it never ended.
    fn span(&mut self, span: Span<'a>, end_us: u64) {
        let outcome = span.outcome();
        let (track, name, args) = match span.of {
            SpanOf::Op(op, kind) => {
                let args = json!({"op": op, "result": outcome});
                let track = span.agent.map_or(Track::Container, Track::Agent);
                (track, format!("op#{op} {kind}"), args)
            }
            SpanOf::Call {
                call,
                op,
                kind,
                args,
                fault,
            } => {
                let fault = fault.map(Fault::name);
                let json =
                    json!({"call": call, "op": op, "args": args, "fault": fault, "reply": outcome});
                let track = call_track(kind, args, span.agent);
                (track, format!("call#{call} {kind}({args})"), json)
            }
        };
        let ts = span.start_ms * 1000;
        let end = span.end_ms.map_or(end_us, |ms| ms * 1000);
        self.events.push(json!({
            "ph": "X", "name": name, "ts": ts, "dur": end.saturating_sub(ts).max(MIN_DUR_US),
            "pid": PID, "tid": self.tids[&track], "args": args,
        }));
    }

    fn instant(&mut self, track: Track<'a>, ts: u64, name: String, args: Value) {
        self.events.push(json!({
            "ph": "i", "s": "t", "name": name, "ts": ts,
            "pid": PID, "tid": self.tids[&track], "args": args,
        }));
    }

    /// What an event draws apart from the spans it begins or ends.
    fn event(&mut self, e: &'a Event) {
        let (ts, agent) = (e.at_ms * 1000, e.agent.as_ref());
        match &e.what {
            What::OpIssued(..)
            | What::OpReturned(..)
            | What::OpKilled(..)
            | What::OpDropped(..)
            | What::CallReturned { .. }
            | What::CallAbandoned { .. } => {}
            What::Town(what) => {
                let name = agent.map_or_else(|| what.clone(), |a| format!("{a}: {what}"));
                self.instant(Track::Town, ts, name, json!({}));
            }
            What::Container(what) => {
                self.instant(Track::Container, ts, what.clone(), json!({}));
            }
            What::Partitioned | What::Repaired | What::Held | What::Released => {
                let args = json!({"event": e.what.to_string()});
                self.instant(Track::Network, ts, e.what.to_string(), args);
            }
            What::CallStarted {
                call,
                op,
                kind,
                args,
                fault,
            } => {
                if let Some(f) = fault {
                    let track = call_track(*kind, args, agent);
                    let args = json!({"call": call, "op": op});
                    self.instant(track, ts, format!("fault: {}", f.name()), args);
                }
            }
            What::CallLanded { .. } => {
                let args = json!({"event": e.what.to_string()});
                self.instant(Track::Container, ts, "landed".into(), args);
            }
            What::CallHeld { .. } => {
                let args = json!({"event": e.what.to_string()});
                self.instant(Track::Container, ts, "held".into(), args);
            }
            What::SessionIdle(s) | What::SessionError(s) | What::SessionRevived(s) => {
                let name = match e.what {
                    What::SessionIdle(_) => "idle",
                    What::SessionError(_) => "error",
                    _ => "revived",
                };
                let args = json!({"event": e.what.to_string()});
                self.instant(Track::Session(*s), ts, name.into(), args);
            }
            What::ServerCrashed(_)
            | What::Bounce
            | What::FaultsHealed
            | What::StoppingAll
            | What::Recovering => {
                let name = match &e.what {
                    What::ServerCrashed(s) => format!("{s} crashed"),
                    What::Bounce => "bounce".into(),
                    What::FaultsHealed => "faults healed".into(),
                    What::Recovering => "recovering".into(),
                    What::StoppingAll => "stopping all".into(),
                    other => other.to_string(),
                };
                let args = json!({"event": e.what.to_string()});
                self.instant(Track::Container, ts, name, args);
            }
        }
    }
}

/// The trace of one scenario: `{"traceEvents": [...], "displayTimeUnit": "ms", "otherData":
/// {"title": title}}`, with timestamps in simulated microseconds. The same outcome always gives
/// the same JSON text.
pub fn chrome_trace(outcome: &Outcome, title: &str) -> Value {
    trace_of(
        &outcome.history,
        outcome.elapsed,
        outcome.violation.as_ref(),
        title,
    )
}

/// The trace of a run's history, of a single container or of the whole system (which adds a
/// track for the town's host and one for the network).
pub fn trace_of(
    history: &History,
    elapsed: std::time::Duration,
    violation: Option<&Violation>,
    title: &str,
) -> Value {
    let end_us = elapsed.as_micros() as u64;

    let mut tracks = BTreeSet::from([Track::Container]);
    for e in &history.events {
        tracks.extend(e.agent.as_ref().map(Track::Agent));
        let text = match &e.what {
            What::Town(_) => {
                tracks.insert(Track::Town);
                continue;
            }
            What::Partitioned | What::Repaired | What::Held | What::Released => {
                tracks.insert(Track::Network);
                continue;
            }
            What::SessionIdle(s) | What::SessionError(s) | What::SessionRevived(s) => {
                tracks.insert(Track::Session(*s));
                continue;
            }
            What::CallStarted { args, .. } => args,
            What::CallReturned { reply, .. } => reply,
            _ => continue,
        };
        tracks.extend(sessions_in(text).map(Track::Session));
    }
    if let Some(v) = violation {
        tracks.extend(v.sessions.iter().copied().map(Track::Session));
    }

    let mut b = Builder {
        tids: tracks
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i + 1))
            .collect(),
        events: vec![json!({
            "ph": "M", "name": "process_name", "ts": 0, "pid": PID, "tid": 0,
            "args": {"name": title},
        })],
    };
    for (&track, &tid) in &b.tids {
        for (name, args) in [
            ("thread_name", json!({"name": track.name()})),
            ("thread_sort_index", json!({"sort_index": tid})),
        ] {
            b.events.push(json!({
                "ph": "M", "name": name, "ts": 0, "pid": PID, "tid": tid, "args": args,
            }));
        }
    }

    for piece in pieces(history) {
        match piece {
            Piece::Span(span) => b.span(span, end_us),
            Piece::Event(_, e) => b.event(e),
        }
    }
    if let Some(v) = violation {
        let sessions: Vec<String> = v.sessions.iter().map(|s| s.to_string()).collect();
        let args = json!({"detail": v.detail, "sessions": sessions});
        let name = format!("violation {}", v.invariant);
        b.instant(Track::Container, end_us, name, args);
    }

    json!({
        "traceEvents": b.events,
        "displayTimeUnit": "ms",
        "otherData": {"title": title},
    })
}

#[cfg(test)]
mod tests;
