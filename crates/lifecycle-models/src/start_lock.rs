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
//! | route | ⏸`awaitHydration()` after the 503 check (`control-server.ts` @ `aba5fcf3`) | waits while [`Lifecycle::hydrate`] runs |
//! | refresh | `POST /refresh-token`: ⏸ the gate, then `refreshTokenForAllAgents` (`common/refresh.rs`) | [`Lifecycle::refresh`] |
//! | update | `PATCH /agents/:id/model`: 404 without a record, ⏸ the gate, `updateAgentModel` (`common/update.rs`), not under the start lock | [`Lifecycle::update`] |
//! | registry | what `syncRegistry` last wrote (`common/registry.rs`) | [`Lifecycle::registry`] |
//! | hydrate | `bootHydration` (`main.ts` runs it after the control server starts): the gate closes on entry; ⏸ token refresh, ⏸ registry fetch, ⏸`startAgent` (start lock, no 503 check, no gate) of each entry in order, errors swallowed; no mayor in the registry (A5), so ⏸ mayor prewarm context, which finds no mayor (H1); the gate opens in `finally` | [`Lifecycle::hydrate`] |
//!
//! The gate is `_hydrationComplete`: resolved at module load, replaced by a pending promise when
//! `bootHydration` begins, resolved when it ends; the routes await the promise current when they
//! reach the await. Here: a start, refresh or update that finds the gate closed waits for it
//! to open; one that finds it open goes on without a pause.
//!
//! Not modelled: the mayor's prewarmed server. `ensureSDKServer`'s eviction of an instance
//! whose `KILO_CONFIG_CONTENT` differs (fast path and re-check) never fires here: assumption
//! C1, every start of a workdir carries the config its instance was made with (one role per
//! workdir; the mayor's prewarmed server is not modelled; after an update, U1 in
//! `common/update.rs`).
//!
//! Assumptions:
//! - H1 The town has no mayor (A5): `prewarmMayorSDK` fetches its context (a worker round
//!   trip) and returns. `refreshTokenIfNearExpiry` and the registry fetch are worker round
//!   trips too; the registry they fetch is the one [`Lifecycle::hydrate`] is given.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{
    AgentId, Gate, Lifecycle, LifecycleError, ManagerConfig, Snapshot, StartRequest, point,
};

use crate::abort_token::{refuse_while_draining, start_agent_impl};
use crate::common::{Core, Version, lock};
use crate::sdk::KiloSdk;

pub struct StartLockManager<B> {
    core: Arc<Core<B>>,
    start_locks: Mutex<BTreeMap<AgentId, Arc<tokio::sync::Mutex<()>>>>,
    /// `_hydrationComplete`: open while resolved; its waiters go on in the order they came,
    /// as a promise's continuations run.
    hydrated: Gate,
}

/// Opens the gate when `bootHydration` ends, however it ends (its `finally`).
struct OpenGate<'a>(&'a Gate);

impl Drop for OpenGate<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

impl<B: KiloSdk> StartLockManager<B> {
    /// `await awaitHydration()`: no pause when the gate is open.
    async fn await_hydration(&self) {
        if !self.hydrated.is_open() {
            point!("awaitHydration.waited_for_hydration");
            self.hydrated.wait().await;
        }
    }

    /// `startAgent`: `withStartAgentLock(agentId, () => startAgentImpl(...))`.
    async fn start_agent(&self, request: &StartRequest) -> Result<(), LifecycleError> {
        let start_lock = lock(&self.start_locks)
            .entry(request.agent.clone())
            .or_default()
            .clone();
        // The map's handle and ours: any other is a start holding or awaiting the lock.
        if Arc::strong_count(&start_lock) > 2 {
            point!("startAgent.waited_for_start_lock");
        }
        let _serialised = start_lock.lock_owned().await;
        start_agent_impl(&self.core, request).await
    }
}

impl<B: KiloSdk> Lifecycle<B> for StartLockManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            core: Core::new(backend, config, Version::Latest),
            start_locks: Mutex::default(),
            hydrated: Gate::opened(),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        refuse_while_draining(&self.core)?;
        self.await_hydration().await;
        self.start_agent(&request).await
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

    async fn refresh(&self) -> Result<(), LifecycleError> {
        self.await_hydration().await;
        let results = self.core.refresh_token_for_all_agents().await;
        if results.iter().any(|(_, r)| r.is_err()) {
            point!("refreshTokenForAllAgents.some_agent_failed");
        }
        Ok(()) // F3: the route answers 200 whatever failed
    }

    async fn update(&self, agent: &AgentId, _config: &str) -> Result<(), LifecycleError> {
        // The route's 404 comes before the gate.
        if self.core.table().record(agent).is_none() {
            point!("updateAgentModel.route_not_found");
            return Err(LifecycleError::NotRunning);
        }
        self.await_hydration().await;
        self.core.update_agent_model(agent).await
    }

    fn registry(&self) -> Vec<StartRequest> {
        self.core.registry()
    }

    async fn hydrate(&self, registry: Vec<StartRequest>) -> Result<(), LifecycleError> {
        self.hydrated.close();
        let _open = OpenGate(&self.hydrated);
        self.core.found_registry(&registry);
        self.core
            .backend
            .worker("token refresh if near expiry")
            .await;
        self.core.backend.worker("registry fetch").await;
        if registry.is_empty() {
            point!("bootHydration.registry_empty");
        }
        for request in &registry {
            point!("bootHydration.resumed_agent");
            if self.start_agent(request).await.is_err() {
                point!("bootHydration.resume_failed");
            }
        }
        self.core.backend.worker("mayor prewarm context").await; // H1
        Ok(())
    }
}
