//! `start-lock`: the fix after abort-token (design.md §1). Two starts for one agent arrived in
//! the same millisecond in production, so a per-agent mutex now serialises start calls. Stop
//! (and eviction) is still outside the lock; everything else is abort-token as it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, SessionBackend, Snapshot, StartRequest,
};

use crate::abort_token::AbortTokenManager;
use crate::common::lock;

pub struct StartLockManager<B> {
    unlocked: AbortTokenManager<B>,
    start_locks: Mutex<BTreeMap<AgentId, Arc<tokio::sync::Mutex<()>>>>,
}

impl<B: SessionBackend> Lifecycle<B> for StartLockManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            unlocked: AbortTokenManager::new(backend, config),
            start_locks: Mutex::default(),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        let start_lock = lock(&self.start_locks)
            .entry(request.agent.clone())
            .or_default()
            .clone();
        let _serialised = start_lock.lock_owned().await;
        self.unlocked.start(request).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.unlocked.stop(agent).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.unlocked.evict().await
    }

    fn snapshot(&self) -> Snapshot {
        self.unlocked.snapshot()
    }
}
