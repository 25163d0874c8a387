//! The #1341 failure as Chrome trace-event JSON (what `replay --trace-out` writes): it parses,
//! and it has a track per agent and per session, call spans, and the violation.

use std::collections::BTreeSet;

use lifecycle_sim::{Invariant, Model, run_once};
use race_regressions::stories::restart_during_create_on_a_shared_server;
use serde_json::Value;

#[test]
fn the_1341_trace_is_valid_chrome_json_with_agent_and_session_tracks() {
    let outcome = run_once(
        &Model::Legacy,
        &restart_during_create_on_a_shared_server(),
        7,
    );
    assert_eq!(
        outcome.violation.as_ref().map(|v| v.invariant),
        Some(Invariant::I1)
    );

    let text = lifecycle_sim::report::chrome::chrome_trace(&outcome, "legacy #1341").to_string();
    let trace: Value = serde_json::from_str(&text).expect("valid JSON");
    let events = trace["traceEvents"]
        .as_array()
        .expect("a traceEvents array");

    let tracks: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    for track in ["agent a0", "agent a1", "container"] {
        assert!(tracks.contains(track), "no {track} track in {tracks:?}");
    }
    let sessions = tracks.iter().filter(|t| t.starts_with("session s")).count();
    assert!(
        sessions >= 2,
        "the leaked and the tracked session each have a track: {tracks:?}"
    );

    for e in events.iter().filter(|e| e["ph"] != "M") {
        assert!(
            e["ts"].is_u64() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
    }
    let spans: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        spans.iter().any(|s| s.contains("create_session")),
        "{spans:?}"
    );
    assert!(
        spans.iter().any(|s| s.starts_with("op#2 start a0")),
        "{spans:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "i" && e["name"].as_str().unwrap().starts_with("violation I1")),
        "no violation event"
    );
}
