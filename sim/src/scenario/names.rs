//! The names agents and workdirs go by in a scenario (`a0`, `w1`, ...).

use std::cell::RefCell;

use agent_lifecycle::AgentId;

use super::workload::{AgentIx, OpKind};

/// The name of agent `ix` (`a0`, `a1`, ...).
pub fn agent_name(ix: AgentIx) -> String {
    format!("a{ix}")
}

/// The name of workdir `ix` (`w0`, `w1`, ...).
pub fn workdir_name(ix: u8) -> String {
    format!("w{ix}")
}

/// The agent an operation is about (an eviction is about none in particular).
pub fn agent_of(kind: OpKind) -> Option<AgentId> {
    kind.agent().map(agent_id)
}

/// The agent's id, made once per thread: the driver and the checker compare and clone ids
/// on every step, and a fresh `format!` each time was a measurable part of a scenario. Per
/// thread, so that parallel workers never share a reference count.
pub fn agent_id(ix: AgentIx) -> AgentId {
    thread_local! {
        static IDS: RefCell<Vec<AgentId>> = const { RefCell::new(Vec::new()) };
    }
    IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        if ids.is_empty() {
            *ids = (0..=AgentIx::MAX)
                .map(|a| AgentId::new(&agent_name(a)))
                .collect();
        }
        ids[usize::from(ix)].clone()
    })
}
