//! Regression tests printed by `lifecycle-sim shrink --model M --seed S` for the first seed of
//! each historical model whose failure shrinks (legacy: seed 2; abort-token and start-lock:
//! seed 0), pasted as printed.

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

/// Shrunk by `lifecycle-sim shrink` from seed 0: abort-token violates I1 tracked == live.
#[test]
fn abort_token_violates_i1_seed_0() {
    let case = lifecycle_sim::Case::from_json(
        r#"
{
  "seed": 0,
  "workload": {
    "workdirs": "0",
    "ops": [
      "start a0 at 0"
    ],
    "mix": "start, stop, evict"
  },
  "faults": {
    "call_errors": 0,
    "hangs": 0,
    "create_lies": 0,
    "abort_fails": 0,
    "server_crashes": 0,
    "idle_events": 0,
    "error_events": 15,
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
  "decisions": "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 85"
}
"#,
    )
    .unwrap();
    let outcome = lifecycle_sim::replay(&lifecycle_sim::Model::AbortToken, &case);
    let found = outcome.violation.map(|v| v.invariant);
    assert_eq!(found, Some(lifecycle_sim::Invariant::I1));
}

/// Shrunk by `lifecycle-sim shrink` from seed 0: start-lock violates I1 tracked == live.
#[test]
fn start_lock_violates_i1_seed_0() {
    let case = lifecycle_sim::Case::from_json(
        r#"
{
  "seed": 0,
  "workload": {
    "workdirs": "0",
    "ops": [
      "start a0 at 0"
    ],
    "mix": "start, stop, evict"
  },
  "faults": {
    "call_errors": 0,
    "hangs": 0,
    "create_lies": 0,
    "abort_fails": 0,
    "server_crashes": 0,
    "idle_events": 0,
    "error_events": 15,
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
  "decisions": "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 85"
}
"#,
    )
    .unwrap();
    let outcome = lifecycle_sim::replay(&lifecycle_sim::Model::StartLock, &case);
    let found = outcome.violation.map(|v| v.invariant);
    assert_eq!(found, Some(lifecycle_sim::Invariant::I1));
}
