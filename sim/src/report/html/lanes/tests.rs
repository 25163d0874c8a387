//! The lanes of hand-made histories: where each call, effect and event is drawn, and which
//! of them make the violating step.

use std::time::Duration;

use agent_lifecycle::AgentId;
use serde_json::Value;

use super::timeline;
use crate::check::{Invariant, Violation};
use crate::scenario::workload::{CallKind, OpKind};
use crate::world::history::{Fault, History, What};

fn started(call: u64, kind: CallKind, args: &str, fault: Option<Fault>) -> What {
    What::CallStarted {
        call,
        op: Some(0),
        kind,
        args: args.into(),
        fault,
    }
}

fn returned(call: u64, kind: CallKind, reply: &str) -> What {
    What::CallReturned {
        call,
        op: Some(0),
        kind,
        reply: reply.into(),
    }
}

/// a0 starts: ensure_server -> srv1, create_session -> s3, a prompt on s3 that hangs, whose
/// effect lands after its caller gave up; srv2 crashes; a1 never does anything.
fn history() -> History {
    let a0 = Some(AgentId::new("a0"));
    let mut h = History::default();
    h.push(0, a0.clone(), What::OpIssued(0, OpKind::Start(0)));
    h.push(
        0,
        a0.clone(),
        started(1, CallKind::EnsureServer, "w0, new", None),
    );
    h.push(1, a0.clone(), returned(1, CallKind::EnsureServer, "srv1"));
    h.push(
        1,
        a0.clone(),
        started(2, CallKind::CreateSession, "srv1, a0", None),
    );
    h.push(3, a0.clone(), returned(2, CallKind::CreateSession, "s3"));
    h.push(
        3,
        a0.clone(),
        started(3, CallKind::Prompt, "s3", Some(Fault::Late)),
    );
    h.push(5, None, What::ServerCrashed(agent_lifecycle::ServerId(2)));
    h.push(
        9,
        a0.clone(),
        What::CallLanded {
            call: 3,
            op: Some(0),
            kind: CallKind::Prompt,
            outcome: "ok".into(),
            unawaited: true,
        },
    );
    h.push(9, a0, What::SessionIdle(agent_lifecycle::SessionId(3)));
    h
}

fn drawn(violation: Option<&Violation>) -> Value {
    let agents = [AgentId::new("a0"), AgentId::new("a1")];
    let t = timeline(&agents, &history(), Duration::from_millis(12), violation);
    serde_json::to_value(&t).unwrap()
}

fn lane_names(t: &Value) -> Vec<String> {
    let lanes = t["lanes"].as_array().unwrap();
    lanes
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

fn lane_of(t: &Value, name: &str) -> Value {
    let at = lane_names(t).iter().position(|n| n == name).unwrap();
    Value::from(at)
}

#[test]
fn a_lane_per_agent_and_per_server_then_the_container() {
    let t = drawn(None);
    assert_eq!(
        lane_names(&t),
        ["agent a0", "agent a1", "srv1", "srv2", "container"]
    );
    let kinds: Vec<&str> = t["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["agent", "agent", "server", "server", "container"]);
}

#[test]
fn calls_are_drawn_on_their_server_and_operations_on_their_agent() {
    let t = drawn(None);
    let bars = t["bars"].as_array().unwrap();
    let bar = |label: &str| {
        bars.iter()
            .find(|b| b["label"].as_str().unwrap().starts_with(label))
            .unwrap()
    };
    // ensure_server names its server only in its answer; the prompt names only its session.
    for call in ["call#1", "call#2", "call#3"] {
        assert_eq!(bar(call)["lane"], lane_of(&t, "srv1"), "{call}");
    }
    assert_eq!(bar("op#0")["lane"], lane_of(&t, "agent a0"));
    // Never answered: drawn to the end of the run, its fault kept.
    assert_eq!(bar("call#3")["ending"], "in-flight");
    assert_eq!(bar("call#3")["end_ix"], 9);
    assert_eq!(bar("call#3")["fault"], "late");
    assert_eq!(bar("call#2")["outcome"], "s3");
}

#[test]
fn effects_crashes_and_session_events_are_marked_where_they_happened() {
    let t = drawn(None);
    let marks = t["marks"].as_array().unwrap();
    let mark = |kind: &str| marks.iter().find(|m| m["kind"] == kind).unwrap();
    assert_eq!(mark("late-effect")["lane"], lane_of(&t, "srv1"));
    assert_eq!(mark("crash")["lane"], lane_of(&t, "srv2"));
    assert_eq!(mark("session")["lane"], lane_of(&t, "srv1"));
    assert_eq!(mark("session")["label"], "s3 idle");
    assert!(marks.iter().all(|m| m["step"] == false));
    assert!(t["step_ms"].is_null() && t["violation_ms"].is_null());
}

#[test]
fn the_violating_step_is_the_last_instant_and_its_sessions_lanes_are_named() {
    let v = Violation::new(
        Invariant::I1,
        "s3 leaks".into(),
        vec![agent_lifecycle::SessionId(3)],
    );
    let t = drawn(Some(&v));
    assert_eq!(t["step_ms"], 9);
    assert_eq!(t["violation_ms"], 12);
    assert_eq!(
        t["violation_lanes"],
        serde_json::json!([lane_of(&t, "srv1")])
    );
    let marks = t["marks"].as_array().unwrap();
    let in_step: Vec<&str> = marks
        .iter()
        .filter(|m| m["step"] == true)
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(in_step, ["late-effect", "session"]);
    // Bars touching the last instant: none end there (the prompt never ended, the op neither).
    let bars = t["bars"].as_array().unwrap();
    assert!(bars.iter().all(|b| b["step"] == false), "{bars:?}");
}
