//! The coverage points of the historical models ([`mod@agent_lifecycle::point`]), named after
//! the real code's functions, in one catalog per model: the shared functions' points that the
//! model's version can reach, and its own start's; the other entry points' are in `entry.rs`.

mod entry;

use agent_lifecycle::point::{Point, p};

/// In the functions every version shares, whatever the version.
const SHARED: &[Point] = &[
    p(
        "handleIdleEvent.fetched_nudges",
        "the idle handler fetched the pending nudges before arming (PRE; POST and LATEST too, except while draining [3rd])",
    ),
    p(
        "stopAgent.not_found",
        "a stop of an agent with no record (A7: a no-op)",
    ),
    p(
        "stopAgent.not_active",
        "a stop of a record neither Running nor Starting returned at once",
    ),
    p(
        "stopAgent.stopped_starting",
        "a stop found the record Starting (#1341: no session id to abort yet)",
    ),
    p(
        "stopAgent.abort_without_session",
        "a stop sent session.abort with the empty session id",
    ),
    p(
        "stopAgent.abort_threw_no_decrement",
        "session.abort threw, so the count was not decremented [2nd]",
    ),
    p(
        "stopAgent.closed_server",
        "a stop's decrement reached 0 and closed the workdir's server",
    ),
    p(
        "stopAgent.no_instance",
        "a stop found no instance mapped for the workdir: no abort at all",
    ),
    p(
        "stopAll.stopped_active",
        "stopAll stopped a Running or Starting record",
    ),
    p(
        "stopAll.no_instance",
        "stopAll found no instance for an active record's workdir: no abort",
    ),
    p("stopAll.closed_server", "stopAll closed a mapped server"),
    p(
        "subscribeToEvents.subscribe_threw",
        "event.subscribe() threw",
    ),
    p("subscribeToEvents.stream_ended", "the event stream ended"),
    p(
        "subscribeToEvents.stream_threw",
        "the event stream threw (its server died)",
    ),
    p(
        "subscribeToEvents.aborted_seen_on_event",
        "the stream found its controller aborted when an event came",
    ),
    p(
        "subscribeToEvents.other_session_skipped",
        "an event of another session (an older incarnation's) was skipped",
    ),
    p("subscribeToEvents.idle", "session.idle reached the handler"),
    p(
        "subscribeToEvents.failed_running_record",
        "a stream throw failed a Running record and released its count",
    ),
    p(
        "subscribeToEvents.threw_on_record_not_running",
        "a stream threw on a record not Running: nothing done",
    ),
    p(
        "idleTimer.fired_on_running",
        "an idle timer fired on a Running record and exited it",
    ),
    p(
        "idleTimer.fired_on_not_running",
        "an idle timer fired on a record no longer Running",
    ),
    p(
        "exitAgent.not_running",
        "exitAgent found its record no longer Running",
    ),
    p(
        "exitAgent.closed_server",
        "exitAgent's release reached 0 and closed the server",
    ),
    p(
        "ensureSDKServer.reused_mapped",
        "ensureSDKServer returned the mapped instance's server",
    ),
    p(
        "ensureSDKServer.mapped_while_waiting",
        "ensureSDKServer found an instance mapped while it waited for the lock",
    ),
    p("ensureSDKServer.spawn_failed", "createKilo failed"),
    p(
        "sdkInstances.count_went_negative",
        "an instance's session count went below 0",
    ),
    p(
        "sdkInstances.released_a_replaced_instance",
        "a release decremented an instance no longer mapped for its workdir",
    ),
];

/// PRE only.
const PRE: &[Point] = &[
    p(
        "startAgent.stopped_existing_starting",
        "a start found the agent Starting and called stopAgent (#1341)",
    ),
    p(
        "startAgent.stopped_existing_running",
        "a start found the agent Running and called stopAgent",
    ),
    p(
        "startAgent.not_counted",
        "no instance was mapped when the start counted its session",
    ),
    p(
        "startAgent.create_returned_to_stopped_record",
        "session.create returned to a record already stopped (#1341's leak)",
    ),
    p(
        "startAgent.prompt_error_answer_ignored",
        "the prompt answered an HTTP error, and the start went on",
    ),
    p(
        "startAgent.returned_not_running",
        "a start returned with its record no longer Starting",
    ),
    p("startAgent.failed", "a start threw: its record failed"),
    p(
        "startAgent.failed_decremented",
        "a failed start decremented the instance mapped now",
    ),
    p(
        "subscribeToEvents.heartbeat_cleared_idle_timer",
        "a heartbeat cleared the idle timer (A9)",
    ),
];

/// PRE and POST: the stream's `finally` deletes whatever controller the map holds.
const PRE_AND_POST: &[Point] = &[p(
    "subscribeToEvents.finally_deleted_newer_controller",
    "an ended stream deleted a newer incarnation's controller",
)];

/// POST and LATEST (`startAgentImpl`, the drain).
const POST: &[Point] = &[
    p(
        "startAgentImpl.refused_while_draining",
        "the route refused a start while draining",
    ),
    p(
        "startAgentImpl.aborted_previous_startup",
        "a start aborted the startup controller of a Starting record",
    ),
    p(
        "startAgentImpl.stopped_existing_starting",
        "a start found the agent Starting and called stopAgent",
    ),
    p(
        "startAgentImpl.stopped_existing_running",
        "a start found the agent Running and called stopAgent",
    ),
    p(
        "startAgentImpl.check1_aborted",
        "abort check 1 (after ensureSDKServer) fired",
    ),
    p(
        "startAgentImpl.not_counted",
        "no instance was mapped when the start counted its session",
    ),
    p(
        "startAgentImpl.check2_aborted",
        "abort check 2 (after session.create) fired",
    ),
    p(
        "startAgentImpl.create_returned_to_stopped_record",
        "session.create returned to a record no longer Starting, unaborted",
    ),
    p(
        "startAgentImpl.prompt_error_answer_ignored",
        "the prompt answered an HTTP error, and the start went on",
    ),
    p(
        "startAgentImpl.stream_failed_during_prompt",
        "the stream failed the record during the initial prompt",
    ),
    p(
        "startAgentImpl.abort_path_aborted_session",
        "the abort path aborted the created session",
    ),
    p(
        "startAgentImpl.abort_path_closed_server",
        "the abort path's release reached 0 and closed the server",
    ),
    p(
        "startAgentImpl.abort_path_no_instance",
        "the abort path found no instance mapped: nothing released",
    ),
    p(
        "startAgentImpl.abort_path_kept_newer_record",
        "the abort path left the map's newer record in place",
    ),
    p(
        "startAgentImpl.failed",
        "a start took the generic failure path",
    ),
    p(
        "stopAgent.aborted_startup_controller",
        "a stop aborted the record's startup controller",
    ),
    p(
        "drainAll.notified_town",
        "the drain sent the eviction notice",
    ),
    p(
        "drainAll.rearmed_idle_timer",
        "the drain re-armed an idle timer at the drain timeout",
    ),
    p(
        "drainAll.froze_straggler",
        "the drain froze a record still Running or Starting",
    ),
    p(
        "drainAll.freeze_abort_threw",
        "a freeze's session.abort threw: the record kept its status",
    ),
    p(
        "idleTimer.drain_timer_fired",
        "an idle timer re-armed by the drain fired",
    ),
    p(
        "handleIdleEvent.armed_while_draining",
        "an idle event while draining armed the drain's timer at once [3rd]",
    ),
];

/// LATEST only.
const LATEST: &[Point] = &[
    p(
        "createSessionWithStaleDbFallback.recovering",
        "a create answered no session: the stale-db fallback began [3rd]",
    ),
    p(
        "createSessionWithStaleDbFallback.closed_mapped_server",
        "the fallback closed and deleted the workdir's mapped server [3rd]",
    ),
    p(
        "createSessionWithStaleDbFallback.retry_failed",
        "the fallback's second create failed too [3rd]",
    ),
    p(
        "startAgent.waited_for_start_lock",
        "a start waited for the agent's start lock",
    ),
    p(
        "subscribeToEvents.finally_kept_newer_controller",
        "an ended stream left a newer incarnation's controller in place",
    ),
];

fn join(parts: &[&[Point]]) -> Vec<Point> {
    parts.iter().flat_map(|part| part.iter().copied()).collect()
}

/// The points [`LegacyManager`](crate::LegacyManager) (PRE) can reach.
pub fn legacy() -> Vec<Point> {
    join(&[SHARED, PRE, PRE_AND_POST, entry::UPDATE])
}

/// The points [`AbortTokenManager`](crate::AbortTokenManager) (POST) can reach.
pub fn abort_token() -> Vec<Point> {
    join(&[SHARED, PRE_AND_POST, POST, entry::UPDATE, entry::REGISTRY])
}

/// The points [`StartLockManager`](crate::StartLockManager) (LATEST) can reach.
pub fn start_lock() -> Vec<Point> {
    join(&[
        SHARED,
        POST,
        LATEST,
        entry::UPDATE,
        entry::REGISTRY,
        entry::LATEST,
    ])
}

/// Every point declared in this crate.
pub fn all() -> Vec<Point> {
    join(&[
        SHARED,
        PRE,
        PRE_AND_POST,
        POST,
        LATEST,
        entry::UPDATE,
        entry::REGISTRY,
        entry::LATEST,
    ])
}
