//! How a scenario is told to a person: the failure report and the replay timeline.

pub mod chrome;
// Only the CLI's reports of sweeps use these in full.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) mod coverage;
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
pub(crate) mod grid;
#[cfg(feature = "cli")]
pub(crate) mod html;
pub mod json;
#[cfg(feature = "cli")]
pub(crate) mod junit;
pub(crate) mod merge;
// The trace uses part of it; the HTML page, a CLI output, the rest.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
mod spans;

use std::fmt::Write as _;

use std::sync::OnceLock;

use crate::run::Outcome;
use crate::scenario::names::{agent_name, workdir_name};
use crate::scenario::spec::ScenarioSpec;

/// Where a scenario came from, and so how to replay it.
#[derive(Clone, Debug)]
pub enum Origin {
    /// A generated seed, with the flags (`--faults`, `--strategy`) it was generated under.
    Seed {
        /// The seed.
        seed: u64,
        /// The flags after it on a command line (` --faults ...`), or empty.
        flags: String,
    },
    /// A saved case file.
    File(String),
    /// A case not saved to a file (shrunk, or found by dfs).
    Unsaved(String),
}

impl Origin {
    /// A generated seed, under the default flags.
    pub fn seed(seed: u64) -> Self {
        Self::Seed {
            seed,
            flags: String::new(),
        }
    }

    fn label(&self) -> String {
        match self {
            Self::Seed { seed, .. } => format!("seed {seed}"),
            Self::File(path) => format!("case {path}"),
            Self::Unsaved(what) => what.clone(),
        }
    }

    /// The arguments after the model that replay (or shrink) it.
    pub fn args(&self) -> String {
        match self {
            Self::Seed { seed, flags } => format!("--seed {seed}{flags}"),
            Self::File(path) | Self::Unsaved(path) => format!("--decisions {path}"),
        }
    }
}

static PROGRAM: OnceLock<String> = OnceLock::new();

/// How reports tell a reader to run this program (`cargo run --release -p lifecycle-sim --`
/// unless a binary built on the harness's CLI says otherwise); the first call wins.
pub fn set_program(command: String) {
    let _ = PROGRAM.set(command);
}

/// How to run this program, as [`set_program`] was told.
pub fn program() -> &'static str {
    PROGRAM
        .get()
        .map_or("cargo run --release -p lifecycle-sim --", String::as_str)
}

/// The command that replays a scenario on the subject called `model`.
pub fn replay_command(model: &str, origin: &Origin) -> String {
    format!("{} replay --model {model} {}", program(), origin.args())
}

/// What a finding rests on beyond the real code's steps: each real-system behaviour or
/// workload choice that is not measured, not the default, or not every role's
/// (`docs/real-system.md`).
pub fn premises(model: &str, spec: &ScenarioSpec, outcome: &Outcome) -> Vec<&'static str> {
    use crate::world::history::What;
    let mut out = Vec::new();
    let seen = |pred: fn(&What) -> bool| outcome.history.events.iter().any(|e| pred(&e.what));
    let historical = ["legacy", "abort-token", "start-lock"].contains(&model);
    if historical && seen(|w| matches!(w, What::CallAbandoned { .. })) {
        out.push(
            "A1: an SDK call of the real code gave up after the call timeout (the real code sets none on session.create, prompt or abort; the fetch's own timeout stands for it)",
        );
    }
    if spec.workload.shares_workdirs() {
        out.push(
            "distinct agents sharing a workdir (in the real system only the triage workspace of POST and LATEST, and the mayor's)",
        );
    }
    if seen(|w| matches!(w, What::SessionRevived(_))) {
        out.push(
            "an abort landing before its session's prompt is queued, so the prompt runs afterwards (kilo's prompt queue, read in its code, not measured)",
        );
    }
    out.extend(spec.faults.premises());
    if outcome
        .violation
        .as_ref()
        .is_some_and(|v| v.invariant == crate::check::Invariant::I7)
    {
        out.push(
            "the state an eviction leaves in the process: the real SIGTERM handler exits right after stopAll, and the container with it",
        );
    }
    out
}

/// The full account of one scenario: configuration, verdict, timeline, how to replay it.
pub fn scenario_report(
    model: &str,
    origin: &Origin,
    spec: &ScenarioSpec,
    outcome: &Outcome,
) -> String {
    let mut out = String::new();
    let label = origin.label();
    match &outcome.violation {
        Some(v) => writeln!(out, "VIOLATION {} in model {model}, {label}", v.invariant),
        None => writeln!(out, "PASS model {model}, {label}"),
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
    writeln!(out, "  schedule: {}", spec.strategy.name()).unwrap();
    writeln!(
        out,
        "  timing:   latency 1..={} ms, call timeout {} ms, idle timeout {} ms; ran {} ms simulated",
        spec.timing.max_latency_ms,
        spec.timing.call_timeout_ms,
        spec.timing.idle_timeout_ms,
        outcome.elapsed.as_millis()
    )
    .unwrap();
    if outcome.violation.is_some() {
        for premise in premises(model, spec, outcome) {
            writeln!(out, "  rests on: {premise}").unwrap();
        }
    }
    writeln!(out, "timeline (simulated time):").unwrap();
    out.push_str(&outcome.history.timeline());
    writeln!(out, "trace digest: {:016x}", outcome.history.digest()).unwrap();
    match origin {
        Origin::Unsaved(_) => writeln!(
            out,
            "replay: save it first (explore --save-failures DIR, or shrink --save FILE), then replay --decisions FILE"
        ),
        _ => writeln!(out, "replay: {}", replay_command(model, origin)),
    }
    .unwrap();
    out
}
