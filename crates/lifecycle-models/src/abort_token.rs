//! `abort-token`: POST, PR #1862 (`services/gastown/container/src/process-manager.ts` @
//! `01615d20`), ported step by step from docs/real-system.md "startAgent — POST" and checked
//! against `startAgentImpl` @ `9840aa59` (LATEST, whose body is POST's). Shared steps are in
//! `common/`.
//!
//! | step | real code (POST) | here |
//! | --- | --- | --- |
//! | route | `POST /agents/start`: 503 while `_draining` (checked once, before anything) | `Err(Evicting)` |
//! | start 1 | `existing` Running or Starting: if Starting, abort its `startupAbortController` (not nulled); ⏸`stopAgent(id)`, errors swallowed | [`Core::stop_agent`] |
//! | start 2 | new record with a fresh controller; `agents.set` | [`Table::insert_record`] |
//! | start 3 | ⏸`hydrateDbFromSnapshot` (PR #2102), no abort check after it | a worker round trip |
//! | start 4 | ⏸`ensureSDKServer`; **check 1**: aborted ⇒ `StartupAbortedError` (before counting) | |
//! | start 5 | `sdkInstances.get(workdir)` now: `sessionCount++`, `counted` | [`Table::count_mapped`] |
//! | start 6 | ⏸`createSessionWithStaleDbFallback` ⇒ `rec.sessionId = S` (stored *before* check 2); **check 2** | |
//! | start 7 | `void subscribeToEvents`; `if starting: running` (before the prompt) | |
//! | start 8 | "final abort check": no await since check 2, so it can never fire **[2nd]** | left out |
//! | start 9 | ⏸`session.prompt(S)` (a throw becomes `AgentStartupError`: generic path; an HTTP error answer is returned) | |
//! | start 10 | `if rec.status == failed` (the stream failed it meanwhile): `counted = false`, throw (generic) | |
//! | start 11 | `startupAbortController = null`; return `rec` | |
//! | abort path | if `counted`: `inst = sdkInstances.get(workdir)` now; if any: if `sessionId`, ⏸`session.abort(S)` (error caught); `inst.sessionCount--`, at ≤ 0 close and delete the workdir's entry; then delete the map entry only if it still holds this record | `Err(Cancelled)` |
//! | generic path | `failed` (over any status), controller nulled, if `counted`: decrement the instance mapped now (no close) | `Err(Backend)` |
//! | stop | docs/real-system.md stopAgent, POST branch (aborts and nulls the controller first) | [`Core::stop_agent`] |
//! | evict | SIGTERM: ⏸`drainAll`, ⏸`stopAll`, exit | [`Core::drain_all`], [`Core::stop_all`] |
//! | update | `PATCH /agents/:id/model` ⇒ `updateAgentModel` (`common/update.rs`); no gate | [`Lifecycle::update`] |
//! | registry | what `syncRegistry` last wrote (`common/registry.rs`) | [`Lifecycle::registry`] |
//! | hydrate | `bootHydration` @ `01615d20`, fired and forgotten after the control server starts (no gate, no token refresh, no prewarm): ⏸ registry fetch (no timeout), ⏸`startAgent` (= `startAgentImpl`, no 503 check) of each entry in order, errors swallowed | [`Lifecycle::hydrate`] |
//! | refresh | POST's `/refresh-token` only sets the env var: no restart | `Unsupported` (the default) |
//!
//! Assumptions beyond common/mod.rs's:
//! - B1 `hydrateDbFromSnapshot` swallows its errors (only its time counts).
//! - B2 POST's create is one call; LATEST's goes through `createSessionWithStaleDbFallback`
//!   (on an answer with no session: delete the db, close and delete the mapped server, recreate
//!   it, retry once), ported below and used by `start-lock` only.
//! - B3 Agents are not the mayor: no `session.list` resume, every start prompts.

use std::sync::Arc;

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, Snapshot, StartRequest, Status, bounded,
    point,
};
use tokio_util::sync::CancellationToken;

use crate::common::{Core, Thrown, Version, lock, threw};
use crate::sdk::KiloSdk;

pub struct AbortTokenManager<B> {
    core: Arc<Core<B>>,
}

/// The route's draining check (POST and later).
pub(crate) fn refuse_while_draining<B: KiloSdk>(core: &Core<B>) -> Result<(), LifecycleError> {
    if core.table().draining {
        point!("startAgentImpl.refused_while_draining");
        Err(LifecycleError::Evicting)
    } else {
        Ok(())
    }
}

/// `startAgentImpl` as POST has it (LATEST runs the same under its start lock).
pub(crate) async fn start_agent_impl<B: KiloSdk>(
    core: &Arc<Core<B>>,
    request: &StartRequest,
) -> Result<(), LifecycleError> {
    let StartRequest {
        agent,
        workdir,
        prompt,
    } = request;
    let timeout = core.config.call_timeout;
    let existing = core.table().record(agent);
    if let Some(existing) = existing {
        let status = {
            let r = lock(&existing);
            if r.status == Status::Starting
                && let Some(token) = &r.startup_abort
            {
                point!("startAgentImpl.aborted_previous_startup");
                token.cancel();
            }
            r.status
        };
        match status {
            Status::Starting => point!("startAgentImpl.stopped_existing_starting"),
            Status::Running => point!("startAgentImpl.stopped_existing_running"),
            _ => {}
        }
        if matches!(status, Status::Running | Status::Starting) {
            core.stop_agent(agent).await;
        }
    }
    let signal = CancellationToken::new();
    let record = core
        .table()
        .insert_record(agent, workdir, prompt, Some(signal.clone()));
    let mut counted = false;
    let steps = async {
        core.backend.worker("hydrate db").await;
        let server = core.ensure_sdk_server(workdir).await?;
        if signal.is_cancelled() {
            point!("startAgentImpl.check1_aborted");
            return Err(Thrown::Aborted);
        }
        counted = core.table().count_mapped(workdir);
        if !counted {
            point!("startAgentImpl.not_counted");
        }
        let session = if core.version >= Version::Latest {
            create_session_with_stale_db_fallback(core, server, workdir, agent).await?
        } else {
            bounded(timeout, core.backend.create_session(server, agent)).await?
        };
        lock(&record).session = Some(session);
        if signal.is_cancelled() {
            point!("startAgentImpl.check2_aborted");
            return Err(Thrown::Aborted);
        }
        if lock(&record).status != Status::Starting {
            point!("startAgentImpl.create_returned_to_stopped_record");
        }
        core.subscribe_to_events(agent, server, &record);
        {
            let mut r = lock(&record);
            if r.status == Status::Starting {
                r.status = Status::Running;
            }
        }
        // Through the client `ensureSDKServer` gave (LATEST: still the old one after a
        // stale-db fallback).
        let prompted = bounded(timeout, core.backend.prompt_on(server, session, prompt)).await;
        match prompted {
            Err(e) if threw(&Err(e.clone())) => return Err(Thrown::Error(e)),
            Err(_) => point!("startAgentImpl.prompt_error_answer_ignored"),
            Ok(()) => {}
        }
        if lock(&record).status == Status::Failed {
            point!("startAgentImpl.stream_failed_during_prompt");
            counted = false;
            return Err(Thrown::Error(agent_lifecycle::BackendError::Failed(
                "event stream failed during initial prompt".into(),
            )));
        }
        lock(&record).startup_abort = None;
        core.sync_registry();
        Ok(())
    };
    match steps.await {
        Ok(()) => Ok(()),
        Err(Thrown::Aborted) => {
            if counted {
                let inst = core.table().instance(workdir);
                if let Some(inst) = inst {
                    let session = lock(&record).session;
                    if session.is_some() {
                        point!("startAgentImpl.abort_path_aborted_session");
                        let server = lock(&inst).server;
                        let _ = core.abort_on(server, session).await;
                    }
                    let close = core.table().release(&inst, workdir);
                    if close.is_some() {
                        point!("startAgentImpl.abort_path_closed_server");
                    }
                    core.kill(close);
                } else {
                    point!("startAgentImpl.abort_path_no_instance");
                }
            }
            let removed = core.table().remove_record_if(agent, &record);
            if removed {
                core.sync_registry();
            } else {
                point!("startAgentImpl.abort_path_kept_newer_record");
            }
            Err(LifecycleError::Cancelled)
        }
        Err(Thrown::Error(e)) => {
            point!("startAgentImpl.failed");
            {
                let mut r = lock(&record);
                r.status = Status::Failed;
                r.startup_abort = None;
            }
            core.sync_registry();
            if counted {
                core.table().decrement_mapped(workdir);
            }
            Err(LifecycleError::Backend(e))
        }
    }
}

/// LATEST `createSessionWithStaleDbFallback` **[3rd]**: ⏸`session.create` through the
/// start's client; an answer with no session (an HTTP error, which the SDK returns) is read as
/// a stale `kilo.db`: ⏸ delete the local db, close and delete the instance mapped *now*
/// (whatever its count, whoever else runs on it), ⏸`ensureSDKServer` (a fresh server at count
/// 0), ⏸ create once more, and throw if that fails too. A create that throws (no answer)
/// propagates. The caller keeps its old client and server for the stream and the prompt.
pub(crate) async fn create_session_with_stale_db_fallback<B: KiloSdk>(
    core: &Arc<Core<B>>,
    server: agent_lifecycle::ServerId,
    workdir: &agent_lifecycle::Workdir,
    agent: &AgentId,
) -> Result<agent_lifecycle::SessionId, Thrown> {
    let timeout = core.config.call_timeout;
    let first = bounded(timeout, core.backend.create_session(server, agent)).await;
    match first {
        Ok(session) => return Ok(session),
        Err(e) if threw(&Err(e.clone())) => return Err(Thrown::Error(e)),
        Err(_) => point!("createSessionWithStaleDbFallback.recovering"),
    }
    // `await deleteLocalDb(agentId)`: a local file removal, an await with no backend call.
    tokio::task::yield_now().await;
    let stale = {
        let mut table = core.table();
        let inst = table.instance(workdir);
        inst.map(|inst| {
            table.remove_instance(workdir);
            lock(&inst).server
        })
    };
    if stale.is_some() {
        point!("createSessionWithStaleDbFallback.closed_mapped_server");
    }
    core.kill(stale);
    let fresh = core.ensure_sdk_server(workdir).await?;
    bounded(timeout, core.backend.create_session(fresh, agent))
        .await
        .map_err(|e| {
            point!("createSessionWithStaleDbFallback.retry_failed");
            Thrown::Error(if threw(&Err(e.clone())) {
                e
            } else {
                agent_lifecycle::BackendError::Failed(
                    "SDK session.create failed even after stale DB recovery".into(),
                )
            })
        })
}

impl<B: KiloSdk> Lifecycle<B> for AbortTokenManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            core: Core::new(backend, config, Version::Post),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        refuse_while_draining(&self.core)?;
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

    async fn update(&self, agent: &AgentId, _config: &str) -> Result<(), LifecycleError> {
        self.core.update_agent_model(agent).await
    }

    fn registry(&self) -> Vec<StartRequest> {
        self.core.registry()
    }

    /// `bootHydration` (POST): fire-and-forget from `main.ts`, with no gate: the routes do not
    /// wait for it, and its starts race theirs.
    async fn hydrate(&self, registry: Vec<StartRequest>) -> Result<(), LifecycleError> {
        self.core.found_registry(&registry);
        self.core.backend.worker("registry fetch").await;
        if registry.is_empty() {
            point!("bootHydration.registry_empty");
        }
        for request in &registry {
            point!("bootHydration.resumed_agent");
            if start_agent_impl(&self.core, request).await.is_err() {
                point!("bootHydration.resume_failed");
            }
        }
        Ok(())
    }
}
