//! Built-in scenarios: small fixed workloads that strategies are measured on.

use crate::scenario::faults::FaultConfig;
use crate::scenario::spec::Strategy;
use crate::scenario::spec::{ScenarioSpec, Timing, VERSION};
use crate::scenario::workload::{Op, OpKind, OpMix, Trigger, Workload};

fn fixed(workdirs: Vec<u8>, ops: &[(OpKind, u64)], strategy: Strategy) -> ScenarioSpec {
    ScenarioSpec {
        workload: Workload {
            workdirs,
            ops: ops
                .iter()
                .map(|&(kind, at)| Op {
                    kind,
                    when: Trigger::At(at),
                })
                .collect(),
            mix: OpMix::all(),
        },
        faults: FaultConfig::none(),
        timing: Timing::default(),
        strategy,
        version: VERSION,
    }
}

/// #1341 at its smallest: one agent started, then started again. Under dfs the second start
/// may arrive at any point of the first, so the tree holds every way the two can meet.
pub fn two_starts(strategy: Strategy) -> ScenarioSpec {
    fixed(
        vec![0],
        &[(OpKind::Start(0), 0), (OpKind::Start(0), 0)],
        strategy,
    )
}

/// #1341 as a deep race: a0, a1 and a2 start together in one workdir, and a0 is restarted 35 ms
/// later. With random latencies (1-20 ms a call) the restart catches a0's startup only when its
/// server and session calls together take over 35 ms (one run in 27); a strategy that does not
/// lean on the timing model finds it far more often.
pub fn late_restart(strategy: Strategy) -> ScenarioSpec {
    fixed(
        vec![0, 0, 0],
        &[
            (OpKind::Start(0), 0),
            (OpKind::Start(1), 0),
            (OpKind::Start(2), 0),
            (OpKind::Start(0), 35),
        ],
        strategy,
    )
}
