//! `updateAgentModel(agentId, model)` (`PATCH /agents/:id/model`): the agent moves to a fresh
//! server started with the new model's config. Every version has it, with one body and three
//! create steps (PRE `evan-claw/cloud` @ `05493752`, POST @ `01615d20`, LATEST @ `9840aa59`):
//!
//! | step | real code | here |
//! | --- | --- | --- |
//! | u1 | `agents.get(id)`: absent ⇒ throw "not found"; status not `running`/`starting` ⇒ throw "not running" (`starting` is accepted) | `Err(NotRunning)` |
//! | u2 | `oldInstance = sdkInstances.get(workdir)`: absent ⇒ throw "No SDK instance" | `Err(NotRunning)` |
//! | u3 | capture `oldSessionId`; rebuild the config (env only); `sdkInstances.delete(workdir)` (the old server is *not* closed) | |
//! | u4 | ⏸`ensureSDKServer(workdir, hotSwapEnv)`: the map is empty, so a fresh server unless another caller mapped one meanwhile | [`Core::ensure_sdk_server`] |
//! | u5 | create: PRE ⏸`session.create` (no id ⇒ throw); POST: mayor ⏸`session.list` resume, others ⏸`session.create` (no id ⇒ throw); LATEST: mayor resume, others ⏸`createSessionWithStaleDbFallback` | no mayor (A5): create |
//! | u6 | `agent.sessionId = new` on the record captured in u1, whatever its status now | |
//! | u7 | `sdkInstances.get(workdir)` now: `sessionCount++` if any | [`Table::count_mapped`] |
//! | u8 | ⏸ prompt the new session through the new client: PRE and POST `session.prompt`, LATEST `applyModelToSession` (a fresh session: the same prompt, a throw propagates); an error answer is returned | only `Gone`/`Timeout` throw |
//! | u9 | `eventAbortControllers.get(id)?.abort()` (not deleted; whichever incarnation's it is now); `oldInstance.server.close()`, whatever its count and whoever else runs on it; no decrement anywhere | [`Core::kill`] |
//! | u10 | `void subscribeToEvents(client, agent)` on the new server | [`Core::subscribe_to_events`] |
//! | catch | `sdkInstances.set(workdir, oldInstance)` over whatever is mapped (the new server runs on, unmapped, with any session made on it); `agent.sessionId = oldSessionId`; rethrow | `Err(Backend)` |
//!
//! Not under LATEST's start lock (§2). The route (`control-server.ts`): 404 when the agent has
//! no record, then (LATEST @ `aba5fcf3`) ⏸ the hydration gate; the route does not catch, so a
//! throw answers 500.
//!
//! Assumptions:
//! - U1 The config the update carries changes only the new server's env: no model differs in
//!   what the fake does. LATEST's `ensureSDKServer` would evict a mapped server whose config
//!   differs from a start's (C1, `start_lock.rs`); after an update, the assumption is that the
//!   town's later starts of the workdir carry the updated config (the PATCH came from the
//!   town, which keeps the new model), so it still never fires.
//! - U2 The new session's prompt is `MAYOR_STARTUP_PROMPT` with no conversation history (the
//!   route's body carries none).

use std::sync::Arc;

use agent_lifecycle::{AgentId, BackendError, LifecycleError, Status, bounded, point};

use super::{Core, Thrown, Version, get, lock, set, threw};
use crate::sdk::KiloSdk;

/// `MAYOR_STARTUP_PROMPT`, the prompt `updateAgentModel` gives a new session (U2).
const MAYOR_STARTUP_PROMPT: &str = "Mayor ready. Waiting for instructions.";

impl<B: KiloSdk> Core<B> {
    /// `updateAgentModel(agentId, model)`, steps u1-u10 and the catch of the module's table.
    pub async fn update_agent_model(
        self: &Arc<Self>,
        agent: &AgentId,
    ) -> Result<(), LifecycleError> {
        let (record, old, old_session, workdir) = {
            let mut table = self.table();
            let Some(record) = table.record(agent) else {
                point!("updateAgentModel.not_found");
                return Err(LifecycleError::NotRunning);
            };
            let (status, workdir, old_session) = {
                let r = lock(&record);
                (r.status, r.workdir.clone(), r.session)
            };
            if !matches!(status, Status::Running | Status::Starting) {
                point!("updateAgentModel.not_running");
                return Err(LifecycleError::NotRunning);
            }
            if status == Status::Starting {
                point!("updateAgentModel.accepted_starting");
            }
            let Some(old) = table.instance(&workdir) else {
                point!("updateAgentModel.no_instance");
                return Err(LifecycleError::NotRunning);
            };
            table.remove_instance(&workdir);
            (record, old, old_session, workdir)
        };
        let timeout = self.config.call_timeout;
        let steps = async {
            let server = self.ensure_sdk_server(&workdir).await?;
            let session = if self.version >= Version::Latest {
                crate::abort_token::create_session_with_stale_db_fallback(
                    self, server, &workdir, agent,
                )
                .await
                .map_err(|thrown| match thrown {
                    Thrown::Error(e) => e,
                    Thrown::Aborted => BackendError::Failed("aborted".into()),
                })?
            } else {
                // An answer with no `id` fails the schema check: a throw, like no answer.
                bounded(timeout, self.backend.create_session(server, agent)).await?
            };
            lock(&record).session = Some(session);
            if !self.table().count_mapped(&workdir) {
                point!("updateAgentModel.not_counted");
            }
            let prompted = bounded(
                timeout,
                self.backend
                    .prompt_on(server, session, MAYOR_STARTUP_PROMPT),
            )
            .await;
            match prompted {
                Err(e) if threw(&Err(e.clone())) => return Err(e),
                Err(_) => point!("updateAgentModel.prompt_error_answer_ignored"),
                Ok(()) => {}
            }
            Ok(server)
        };
        match steps.await {
            Ok(server) => {
                let (replaced, status) = {
                    let table = self.table();
                    if let Some((_, controller)) = get(&table.controllers, agent) {
                        controller.cancel();
                    }
                    let mapped = table.record(agent);
                    let replaced = !mapped.is_some_and(|m| Arc::ptr_eq(&m, &record));
                    (replaced, lock(&record).status)
                };
                if replaced {
                    point!("updateAgentModel.record_replaced_meanwhile");
                }
                if !matches!(status, Status::Running | Status::Starting) {
                    point!("updateAgentModel.record_ended_meanwhile");
                }
                point!("updateAgentModel.closed_old_server");
                let old_server = lock(&old).server;
                if lock(&old).count > 1 {
                    point!("updateAgentModel.closed_old_server_under_other_sessions");
                }
                self.kill(Some(old_server));
                self.subscribe_to_events(agent, server, &record);
                Ok(())
            }
            Err(e) => {
                point!("updateAgentModel.failed_restored_old_instance");
                let displaced = set(&mut self.table().instances, workdir.clone(), old);
                if displaced.is_some() {
                    point!("updateAgentModel.restore_displaced_mapped_instance");
                }
                lock(&record).session = old_session;
                Err(LifecycleError::Backend(e))
            }
        }
    }
}
