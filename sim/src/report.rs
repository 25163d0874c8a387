//! How a scenario is told to a person: the failure report and the replay timeline.

use std::fmt::Write as _;

use crate::models::Model;
use crate::run::{Outcome, ScenarioSpec};
use crate::workload::{agent_name, workdir_name};

/// The command that replays a seed.
pub fn replay_command(model: Model, seed: u64) -> String {
    format!("cargo run --release -p lifecycle-sim -- replay --model {model} --seed {seed}")
}

/// The full account of one scenario: configuration, verdict, timeline, how to replay it.
pub fn scenario_report(model: Model, seed: u64, spec: &ScenarioSpec, outcome: &Outcome) -> String {
    let mut out = String::new();
    match &outcome.violation {
        Some(v) => writeln!(
            out,
            "VIOLATION {} in model {model}, seed {seed}",
            v.invariant
        ),
        None => writeln!(out, "PASS model {model}, seed {seed}"),
    }
    .unwrap();
    if let Some(v) = &outcome.violation {
        writeln!(out, "  what:     {}", v.detail).unwrap();
        if !v.sessions.is_empty() {
            let list: Vec<String> = v.sessions.iter().map(|s| s.to_string()).collect();
            writeln!(out, "  sessions: {}", list.join(", ")).unwrap();
        }
    }
    let agents: Vec<String> = spec
        .workload
        .workdirs
        .iter()
        .enumerate()
        .map(|(a, &w)| format!("{} in {}", agent_name(a as u8), workdir_name(w)))
        .collect();
    writeln!(out, "  agents:   {}", agents.join(", ")).unwrap();
    writeln!(out, "  ops:      {}", spec.workload.mix).unwrap();
    writeln!(out, "  faults:   {}", spec.faults).unwrap();
    writeln!(
        out,
        "  timing:   latency 1..={} ms, call timeout {} ms, idle timeout {} ms; ran {} ms simulated",
        spec.timing.max_latency_ms,
        spec.timing.call_timeout_ms,
        spec.timing.idle_timeout_ms,
        outcome.elapsed.as_millis()
    )
    .unwrap();
    writeln!(out, "timeline (simulated time):").unwrap();
    out.push_str(&outcome.history.timeline());
    writeln!(out, "trace digest: {:016x}", outcome.history.digest()).unwrap();
    writeln!(out, "replay: {}", replay_command(model, seed)).unwrap();
    out
}
