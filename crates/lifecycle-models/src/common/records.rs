//! The records (`ManagedAgent`, §1): one per start, in the insertion-ordered agents map, and
//! deleted only by whoever still finds its own record there.

use std::sync::{Arc, Mutex};

use agent_lifecycle::{AgentId, Status, Workdir};
use tokio_util::sync::CancellationToken;

use super::{Record, RecordRef, Table, get, remove, set};

impl Table {
    pub fn record(&self, agent: &AgentId) -> Option<RecordRef> {
        get(&self.agents, agent).cloned()
    }

    /// `agents.set(id, {status: 'starting', sessionId: '', ...})`
    pub fn insert_record(
        &mut self,
        agent: &AgentId,
        workdir: &Workdir,
        prompt: &str,
        startup_abort: Option<CancellationToken>,
    ) -> RecordRef {
        self.next_serial += 1;
        let record = Arc::new(Mutex::new(Record {
            serial: self.next_serial,
            status: Status::Starting,
            session: None,
            workdir: workdir.clone(),
            prompt: prompt.to_string(),
            startup_abort,
        }));
        set(&mut self.agents, agent.clone(), record.clone());
        record
    }

    /// `if (agents.get(id) === agent) agents.delete(id)`; whether it deleted.
    pub fn remove_record_if(&mut self, agent: &AgentId, record: &RecordRef) -> bool {
        let ours = get(&self.agents, agent).is_some_and(|r| Arc::ptr_eq(r, record));
        if ours {
            remove(&mut self.agents, agent);
        }
        ours
    }
}
