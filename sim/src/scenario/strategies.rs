//! proptest strategies for workloads and fault mixes, so properties over the lifecycle can use
//! proptest's own generation and shrinking (fewer operations, earlier times, lower agents).

use proptest::collection::vec;
use proptest::prelude::*;

use crate::scenario::faults::FaultConfig;
use crate::scenario::workload::{Op, OpKind, OpMix, Trigger, Workload};

/// One operation on one of `agents` agents, in the first 60 ms.
pub fn op(agents: u8) -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        4 => (0..agents).prop_map(OpKind::Start),
        2 => (0..agents).prop_map(OpKind::Stop),
        1 => Just(OpKind::Evict),
    ];
    (kind, 0..60u64).prop_map(|(kind, at)| Op {
        kind,
        when: Trigger::At(at),
    })
}

/// 1-3 agents over 1-2 workdirs, and 1-8 operations in time order.
pub fn workload() -> impl Strategy<Value = Workload> {
    (1..=3u8)
        .prop_flat_map(|agents| (vec(0..2u8, usize::from(agents)), vec(op(agents), 1..=8)))
        .prop_map(|(workdirs, mut ops)| {
            ops.sort_by_key(|op| match op.when {
                Trigger::At(t) => t,
                Trigger::WhilePending(..) => u64::MAX,
            });
            Workload {
                workdirs,
                ops,
                mix: OpMix::all(),
            }
        })
}

/// Any subset of the fault families, each at its usual rate.
pub fn faults() -> impl Strategy<Value = FaultConfig> {
    vec(any::<bool>(), FaultConfig::FAMILIES).prop_map(|on| {
        let mut faults = FaultConfig::all();
        for (rate, on) in faults.rates_mut().into_iter().zip(on) {
            if !on {
                *rate = 0;
            }
        }
        faults
    })
}
