//! The container registry (POST and LATEST; PRE has none): what `syncRegistry` writes to the
//! town, and what the next boot's `bootHydration` starts again.
//!
//! `syncRegistry()` (`process-manager.ts` @ `01615d20` and @ `9840aa59`, same body): if the
//! worker's url, town and token are set, the `running` and `starting` records, in map order,
//! each as `{agentId, request: startupRequest, workdir, env: startupEnv}`, POSTed as the whole
//! list, fire-and-forget. Called by: `startAgentImpl` on success, on its abort path when it
//! deleted its own map entry, and on its generic failure path (after `failed`, before the
//! decrement); `stopAgent` after `exited`; `exitAgent` after `exited`, before the release;
//! `drainAll` at its very end. Not by `stopAll`, the stream's error path, `updateAgentModel`
//! or `refreshTokenForAllAgents`.
//!
//! Assumptions:
//! - R1 The worker's url, town and token are set (a real container's are), so every call
//!   writes.
//! - R2 The fire-and-forget writes land in the order they were sent, and each lands (the
//!   seed notes say they can land out of order; not modelled), so the registry is the list the
//!   last call computed. A write sent just before the container dies has landed.
//! - R3 The registry lives at the town: a new container finds the old one's until its own
//!   first `syncRegistry` overwrites it ([`Core::found_registry`]).

use agent_lifecycle::{StartRequest, Status, point};

use super::{Core, Table, Version, lock};
use crate::sdk::KiloSdk;

impl Table {
    /// The running and starting records, in map order, as `syncRegistry` lists them.
    fn registry_entries(&self) -> Vec<StartRequest> {
        self.agents
            .iter()
            .filter_map(|(agent, record)| {
                let r = lock(record);
                matches!(r.status, Status::Running | Status::Starting).then(|| StartRequest {
                    agent: agent.clone(),
                    workdir: r.workdir.clone(),
                    prompt: r.prompt.clone(),
                })
            })
            .collect()
    }
}

impl<B: KiloSdk> Core<B> {
    /// `syncRegistry()` (POST and LATEST; PRE has no registry): the whole list, written now
    /// (R1, R2). Never called with the table locked.
    pub fn sync_registry(&self) {
        if self.version < Version::Post {
            return;
        }
        let mut table = self.table();
        let entries = table.registry_entries();
        if entries.is_empty() {
            point!("syncRegistry.wrote_empty");
        }
        table.registry = Some(entries);
    }

    /// What the town holds for the next boot: the last list written, or what this container's
    /// boot found (R3).
    pub fn registry(&self) -> Vec<StartRequest> {
        self.table().registry.clone().unwrap_or_default()
    }

    /// The boot found `registry` at the town: it stays there until this container's first
    /// `syncRegistry` (R3).
    pub fn found_registry(&self, registry: &[StartRequest]) {
        let mut table = self.table();
        if table.registry.is_none() {
            table.registry = Some(registry.to_vec());
        }
    }
}
