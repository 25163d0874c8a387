//! The trace's tracks, spans and instants, from hand-made histories.

use std::time::Duration;

use super::*;
use crate::scenario::{Scenario, Settings};
use crate::subject::Model;
use crate::world::history::History;

/// The first legacy failure whose timeline has a session created in it.
fn legacy_seed_0() -> Outcome {
    (0..)
        .map(|seed| Scenario::from_seed(&Settings::default(), seed).run(&Model::Legacy))
        .find(|o| o.violation.is_some() && o.history.timeline().contains("create_session -> s"))
        .expect("legacy fails")
}

fn events(trace: &Value) -> &Vec<Value> {
    trace["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
}

fn track_names(trace: &Value) -> BTreeSet<String> {
    events(trace)
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn legacy_seed_0_trace_is_well_formed() {
    let outcome = legacy_seed_0();
    assert!(outcome.violation.is_some(), "legacy seed 0 violates I1");
    let trace = chrome_trace(&outcome, "legacy seed 0");
    let text = serde_json::to_string(&trace).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), trace);
    assert_eq!(trace["displayTimeUnit"], "ms");
    assert_eq!(trace["otherData"]["title"], "legacy seed 0");

    for e in events(&trace) {
        for key in ["ph", "ts", "pid", "tid"] {
            assert!(e.get(key).is_some(), "{key} missing from {e}");
        }
        if e["ph"] == "X" {
            assert!(e["dur"].as_u64().unwrap() >= 1, "{e}");
        }
    }

    // Every agent and every session the history names has a track of its own.
    let names = track_names(&trace);
    let mut sessions = BTreeSet::new();
    for e in &outcome.history.events {
        if let Some(a) = &e.agent {
            assert!(names.contains(&format!("agent {a}")), "no track for {a}");
        }
        if let What::SessionIdle(s) | What::SessionError(s) = &e.what {
            sessions.insert(*s);
        }
        sessions.extend(sessions_in(&e.what.to_string()));
    }
    assert!(!sessions.is_empty());
    for s in sessions {
        assert!(names.contains(&format!("session {s}")), "no track for {s}");
    }
    assert!(names.contains("container"));

    assert!(
        events(&trace)
            .iter()
            .any(|e| e["ph"] == "i" && e["name"].as_str().unwrap().starts_with("violation"))
    );
}

#[test]
fn same_seed_same_json() {
    let first = serde_json::to_string(&chrome_trace(&legacy_seed_0(), "t")).unwrap();
    let second = serde_json::to_string(&chrome_trace(&legacy_seed_0(), "t")).unwrap();
    assert_eq!(first, second);
}

#[test]
fn session_calls_go_on_the_session_track_and_unfinished_ones_end_at_elapsed() {
    let mut history = History::default();
    let a0 = AgentId::new("a0");
    let started = |call, kind, args: &str| What::CallStarted {
        call,
        op: Some(0),
        kind,
        args: args.into(),
        fault: Some(Fault::Hang),
    };
    history.push(
        2,
        Some(a0.clone()),
        started(1, CallKind::CreateSession, "srv1, a0"),
    );
    history.push(5, Some(a0.clone()), started(2, CallKind::Prompt, "s3"));
    let outcome = Outcome {
        violation: None,
        history,
        elapsed: Duration::from_millis(40),
        draws: Vec::new(),
        coverage: Default::default(),
        points: Default::default(),
        pct: None,
        never_issued: Vec::new(),
        views: 0,
        events: Default::default(),
    };
    let trace = chrome_trace(&outcome, "t");
    let tid_of = |name: &str| {
        let meta = events(&trace)
            .iter()
            .find(|e| e["name"] == "thread_name" && e["args"]["name"] == name);
        meta.unwrap()["tid"].clone()
    };
    let span = |call: u64| {
        events(&trace)
            .iter()
            .find(|e| e["ph"] == "X" && e["args"]["call"] == call)
            .unwrap()
    };
    assert_eq!(span(1)["tid"], tid_of("agent a0"));
    assert_eq!(span(2)["tid"], tid_of("session s3"));
    assert_eq!(span(2)["ts"], 5000);
    assert_eq!(span(2)["dur"], 35_000);
    assert_eq!(span(2)["args"]["reply"], "still in flight");
    let faults = events(&trace).iter().filter(|e| e["name"] == "fault: hang");
    assert_eq!(faults.count(), 2);
}
