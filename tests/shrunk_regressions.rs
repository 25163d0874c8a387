//! Regression tests printed by `lifecycle-sim shrink --model M --seed S` for the first seed of
//! each historical model whose failure shrinks (legacy: seed 2; abort-token: seed 0;
//! start-lock: seed 1, its seed 0 passing since the fake answers as the real server does),
//! pasted as printed.

/// Shrunk by `lifecycle-sim shrink` from seed 2: legacy violates I7 eviction leaves nothing.
#[test]
fn legacy_violates_i7_seed_2() {
    let case = lifecycle_sim::Case::from_json(
        r#"
{
  "seed": 2,
  "workload": {
    "workdirs": "0",
    "ops": [
      "start a0 at 0",
      "evict at 0"
    ],
    "mix": "start, evict"
  },
  "faults": {
    "call_errors": 0,
    "hangs": 0,
    "create_lies": 0,
    "abort_fails": 0,
    "server_crashes": 0,
    "idle_events": 0,
    "error_events": 0,
    "stream_errors": 0
  },
  "timing": {
    "max_latency_ms": 20,
    "call_timeout_ms": 100,
    "idle_timeout_ms": 30,
    "retry_pause_ms": 10,
    "liveness_bound_ms": 10000
  },
  "strategy": {
    "kind": "random"
  },
  "decisions": ""
}
"#,
    )
    .unwrap();
    let outcome = lifecycle_sim::replay(&lifecycle_sim::Model::Legacy, &case);
    let found = outcome.violation.map(|v| v.invariant);
    assert_eq!(found, Some(lifecycle_sim::Invariant::I7));
}

/// Shrunk by `lifecycle-sim shrink` from seed 0: abort-token violates I3 reference counts.
#[test]
fn abort_token_violates_i3_seed_0() {
    let case = lifecycle_sim::Case::from_json(
        r#"
{
  "seed": 0,
  "workload": {
    "workdirs": "1",
    "ops": [
      "start a0 at 53",
      "start a0 at 54",
      "start a0 at 57",
      "start a0 at 59"
    ],
    "mix": "start, restart, stop, evict"
  },
  "faults": {
    "call_errors": 0,
    "hangs": 4,
    "create_lies": 0,
    "abort_fails": 0,
    "server_crashes": 0,
    "error_events": 0,
    "lost_replies": 8,
    "late_effects": 0,
    "drops": 0,
    "stream_errors": 0,
    "launcher_close": 0
  },
  "timing": {
    "max_latency_ms": 20,
    "call_timeout_ms": 100,
    "idle_timeout_ms": 30,
    "retry_pause_ms": 10,
    "liveness_bound_ms": 10000
  },
  "strategy": {
    "kind": "random"
  },
  "version": 3,
  "decisions": "0 0 0 0 0 2 0 0 0 0 0 96 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 92"
}
"#,
    )
    .unwrap();
    let outcome = lifecycle_sim::replay(&lifecycle_sim::Model::AbortToken, &case);
    let found = outcome.violation.map(|v| v.invariant);
    assert_eq!(found, Some(lifecycle_sim::Invariant::I3));
}

/// Shrunk by `lifecycle-sim shrink` from seed 1: start-lock violates I4 release exactly once.
#[test]
fn start_lock_violates_i4_seed_1() {
    let case = lifecycle_sim::Case::from_json(
        r#"
{
  "seed": 1,
  "workload": {
    "workdirs": "0",
    "ops": [
      "start a0 at 0"
    ],
    "mix": "start, stop, evict"
  },
  "faults": {
    "call_errors": 8,
    "hangs": 0,
    "create_lies": 0,
    "abort_fails": 0,
    "server_crashes": 0,
    "error_events": 0,
    "lost_replies": 0,
    "late_effects": 0,
    "drops": 0,
    "stream_errors": 0,
    "launcher_close": 0
  },
  "timing": {
    "max_latency_ms": 20,
    "call_timeout_ms": 100,
    "idle_timeout_ms": 30,
    "retry_pause_ms": 10,
    "liveness_bound_ms": 10000
  },
  "strategy": {
    "kind": "random"
  },
  "version": 3,
  "decisions": "0 0 0 0 0 0 0 0 92"
}
"#,
    )
    .unwrap();
    let outcome = lifecycle_sim::replay(&lifecycle_sim::Model::StartLock, &case);
    let found = outcome.violation.map(|v| v.invariant);
    assert_eq!(found, Some(lifecycle_sim::Invariant::I4));
}
