//! `start-lock`: LATEST's per-agent start mutex, PR #3055 (`9840aa59`): `startAgent` =
//! `withStartAgentLock(agentId, () => startAgentImpl(...))`, a promise-chain mutex per agent
//! (docs/real-system.md "LATEST"). Everything else is POST (`abort_token.rs`), except the one
//! shared-code change LATEST made: the stream's `finally` deletes the controller only if the
//! map still holds *its* controller (`common/events.rs`).
//!
//! | step | real code (LATEST) | here |
//! | --- | --- | --- |
//! | route | 503 while `_draining`, checked before the lock and never again | `Err(Evicting)` |
//! | start | ⏸ the agent's start lock, held through the *whole* `startAgentImpl`, the initial prompt included **[2nd]** | a FIFO async mutex per agent |
//! | start 6 | ⏸`createSessionWithStaleDbFallback` **[3rd]**: an answer with no session closes and deletes the mapped server, respawns it at count 0 and creates again; the stream and the prompt still go through the old client | `create_session_with_stale_db_fallback` (`abort_token.rs`) |
//! | stop, evict | not under the lock (§6.2) | as POST |
//!
//! Not modelled (LATEST additions outside the lifecycle race): the hydration gate, token
//! refresh restarts (`/refresh-token`). `ensureSDKServer`'s eviction of an instance whose
//! `KILO_CONFIG_CONTENT` differs (fast path and re-check) never fires here: assumption C1,
//! every start of a workdir carries the config its instance was made with (one role per
//! workdir; the mayor's prewarmed server is not modelled).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, Snapshot, StartRequest, point,
};

use crate::abort_token::{refuse_while_draining, start_agent_impl};
use crate::common::{Core, Version, lock};
use crate::sdk::KiloSdk;

pub struct StartLockManager<B> {
    core: Arc<Core<B>>,
    start_locks: Mutex<BTreeMap<AgentId, Arc<tokio::sync::Mutex<()>>>>,
}

impl<B: KiloSdk> Lifecycle<B> for StartLockManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            core: Core::new(backend, config, Version::Latest),
            start_locks: Mutex::default(),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        refuse_while_draining(&self.core)?;
        let start_lock = lock(&self.start_locks)
            .entry(request.agent.clone())
            .or_default()
            .clone();
        // The map's handle and ours: any other is a start holding or awaiting the lock.
        if Arc::strong_count(&start_lock) > 2 {
            point!("startAgent.waited_for_start_lock");
        }
        let _serialised = start_lock.lock_owned().await;
        start_agent_impl(&self.core, &request).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.core.stop_agent(agent).await;
        Ok(())
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.core.drain_all().await;
        self.core.stop_all().await;
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        self.core.snapshot()
    }
}
