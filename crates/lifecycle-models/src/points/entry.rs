//! The points of the entry points beside start, stop and evict: `updateAgentModel` (every
//! version), the registry and boot hydration (POST and LATEST), and LATEST's token refresh and
//! hydration gate.

use agent_lifecycle::point::{Point, p};

/// `updateAgentModel`, in every version (`common/update.rs`).
pub(super) const UPDATE: &[Point] = &[
    p(
        "updateAgentModel.not_found",
        "an update found no record for the agent (u1: throws, the route answers 500)",
    ),
    p(
        "updateAgentModel.not_running",
        "an update found the record neither running nor starting (u1)",
    ),
    p(
        "updateAgentModel.accepted_starting",
        "an update went ahead on a record still starting (u1 accepts it)",
    ),
    p(
        "updateAgentModel.no_instance",
        "an update found no instance mapped for the workdir (u2)",
    ),
    p(
        "updateAgentModel.not_counted",
        "no instance was mapped when the update counted its new session (u7)",
    ),
    p(
        "updateAgentModel.prompt_error_answer_ignored",
        "the new session's prompt answered an HTTP error, and the update went on (u8)",
    ),
    p(
        "updateAgentModel.record_replaced_meanwhile",
        "the map held another record when the update closed the old server (u9)",
    ),
    p(
        "updateAgentModel.record_ended_meanwhile",
        "the updated record was no longer running or starting when the update finished (u9)",
    ),
    p(
        "updateAgentModel.closed_old_server",
        "an update closed the old server, whatever its count (u9)",
    ),
    p(
        "updateAgentModel.closed_old_server_under_other_sessions",
        "the old server an update closed counted other sessions than the agent's (u9)",
    ),
    p(
        "updateAgentModel.failed_restored_old_instance",
        "an update threw: the old instance was mapped back (catch)",
    ),
    p(
        "updateAgentModel.restore_displaced_mapped_instance",
        "the catch's restore displaced a mapped instance, which runs on unmapped (catch)",
    ),
];

/// The registry and boot hydration, POST and LATEST (`common/registry.rs`).
pub(super) const REGISTRY: &[Point] = &[
    p(
        "syncRegistry.wrote_empty",
        "syncRegistry wrote an empty registry (no running or starting record)",
    ),
    p(
        "bootHydration.registry_empty",
        "boot hydration found nothing to start again",
    ),
    p(
        "bootHydration.resumed_agent",
        "boot hydration started a registry entry again",
    ),
    p(
        "bootHydration.resume_failed",
        "a start of boot hydration failed; the loop went on",
    ),
];

/// LATEST only: the hydration gate, its route-level 404, and `refreshTokenForAllAgents`
/// (`common/refresh.rs`).
pub(super) const LATEST: &[Point] = &[
    p(
        "awaitHydration.waited_for_hydration",
        "a start, refresh or update waited for boot hydration to finish",
    ),
    p(
        "updateAgentModel.route_not_found",
        "PATCH /agents/:id/model answered 404 before the gate",
    ),
    p(
        "refreshTokenForAllAgents.none_running",
        "a refresh found no running agent",
    ),
    p(
        "refreshTokenForAllAgents.skipped_starting",
        "a refresh skipped a starting agent (r0)",
    ),
    p(
        "refreshTokenForAllAgents.no_old_instance",
        "a restart found no instance mapped for the workdir (r1)",
    ),
    p(
        "refreshTokenForAllAgents.ensure_failed",
        "a restart's ensureSDKServer rejected (catch)",
    ),
    p(
        "refreshTokenForAllAgents.ensure_timed_out",
        "a restart's ensureSDKServer took longer than REFRESH_AGENT_TIMEOUT_MS (catch, reaper)",
    ),
    p(
        "refreshTokenForAllAgents.list_failed_kept_session",
        "session.list threw or timed out: the agent kept its session id (r3)",
    ),
    p(
        "refreshTokenForAllAgents.resumed_same_session",
        "session.list listed the agent's own session (r3)",
    ),
    p(
        "refreshTokenForAllAgents.resumed_newest_listed",
        "session.list did not list the agent's session: it took the newest listed (r3)",
    ),
    p(
        "refreshTokenForAllAgents.list_empty_kept_session",
        "session.list listed nothing: the agent kept its session id (r3)",
    ),
    p(
        "refreshTokenForAllAgents.not_counted",
        "no instance was mapped when the restart counted the session (r4)",
    ),
    p(
        "refreshTokenForAllAgents.closed_old_server",
        "a restart closed the old server, whatever its count (r5)",
    ),
    p(
        "refreshTokenForAllAgents.record_left_running_meanwhile",
        "the restarted record was no longer running when it was re-subscribed (r6)",
    ),
    p(
        "refreshTokenForAllAgents.rollback_closed_mapped_instance",
        "the catch closed an instance mapped meanwhile, whoever's it was (case C)",
    ),
    p(
        "refreshTokenForAllAgents.rollback_restored_old_instance",
        "the catch mapped the old instance back (case A/B)",
    ),
    p(
        "refreshTokenForAllAgents.reaper_ensure_rejected",
        "the timed-out ensureSDKServer rejected: nothing to reap",
    ),
    p(
        "refreshTokenForAllAgents.reaper_closed_orphan",
        "the reaper closed what was mapped for the workdir when the ensure resolved",
    ),
    p(
        "refreshTokenForAllAgents.reaper_closed_counted_instance",
        "the instance the reaper closed counted sessions",
    ),
    p(
        "refreshTokenForAllAgents.reaper_found_nothing",
        "the reaper found nothing mapped, or the old instance",
    ),
    p(
        "refreshTokenForAllAgents.some_agent_failed",
        "a refresh answered 200 with some agent's restart failed",
    ),
];
