//! Coverage points: named markers at the branches that matter ("a restart found a Starting
//! record", "a cancel seen after the create returned"), so that a test harness can tell which of
//! them a run reached, and fail a campaign that never reaches one.
//!
//! A point is a `tracing` event at TRACE level with the fixed target [`POINT_TARGET`] and the
//! point's name as the event's name. Outside a harness nothing listens to that target: the
//! event's callsite is disabled once and each later visit costs one relaxed atomic load, and a
//! build with `tracing`'s `max_level_debug` (or lower) feature compiles it out. It adds no
//! dependency to this crate (every crate here logs with `tracing` already). A manager of
//! anyone's declares points the same way, with [`point!`](crate::point!) and a catalog of
//! [`Point`]s.

/// The `tracing` target of every coverage point.
pub const POINT_TARGET: &str = "coverage_point";

/// A declared coverage point: its stable name and what reaching it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Point {
    /// Its name, as `point!` marks it.
    pub name: &'static str,
    /// What reaching it means.
    pub about: &'static str,
}

/// Marks a coverage point: `point!("start.cancel_seen_after_create")`. The name is a string
/// literal, listed in its crate's catalog (a test checks that the two agree).
#[macro_export]
macro_rules! point {
    ($name:literal) => {
        $crate::__tracing::event!(
            name: $name,
            target: "coverage_point",
            $crate::__tracing::Level::TRACE,
            {}
        )
    };
}

/// The coverage points of [`AgentManager`](crate::AgentManager), in code order.
pub const POINTS: &[Point] = &[
    p(
        "start.refused_while_evicting",
        "a start arrived after the eviction began",
    ),
    p(
        "hydrate.skipped_newer_command",
        "boot hydration found the agent started or stopped since boot, and left it to that command",
    ),
    p(
        "start.superseded_starting",
        "a start cancelled an incarnation still starting (#1341's moment)",
    ),
    p(
        "start.superseded_running",
        "a start cancelled a running incarnation (a restart)",
    ),
    p(
        "start.cancelled_waiting_for_turn",
        "a newer operation cancelled a start before it got its turn",
    ),
    p(
        "start.cancelled_after_restart_teardown",
        "a start was cancelled while it tore down the incarnation before it",
    ),
    p(
        "start.ensure_failed_reap_scheduled",
        "ensure_server failed ambiguously: its server is reaped once it can no longer land",
    ),
    p(
        "start.cancel_seen_after_lease",
        "a cancel seen after the lease was taken",
    ),
    p(
        "start.create_failed_suspect",
        "a create failed: the record stays suspect until a listing proves what it did",
    ),
    p(
        "start.cancel_seen_after_create",
        "a cancel seen after the create returned a session",
    ),
    p(
        "start.subscribe_failed",
        "the subscription failed after the session was created",
    ),
    p(
        "start.cancel_seen_after_subscribe",
        "a cancel seen after the subscription was made",
    ),
    p(
        "start.prompt_failed",
        "the prompt failed after the subscription",
    ),
    p(
        "start.cancel_seen_after_prompt",
        "a cancel seen after the prompt returned",
    ),
    p("start.running", "a start ran to its end"),
    p(
        "restart.running",
        "a restart (refresh or update) brought its new incarnation up, Running",
    ),
    p("stop.unknown_agent", "a stop of an agent never started"),
    p(
        "stop.during_start",
        "a stop cancelled an incarnation still starting",
    ),
    p(
        "stop.cut_initial_turn",
        "a stop or an eviction aborted the session of an initial prompt on its way, so as not to wait its turn out",
    ),
    p(
        "evict.during_start",
        "an eviction cancelled an incarnation still starting",
    ),
    p(
        "evict.teardown_retried",
        "an eviction retried a teardown that failed",
    ),
    p(
        "evict.close_running_retried",
        "an eviction retried closing the servers that run",
    ),
    p(
        "refresh.refused_while_evicting",
        "a refresh arrived after the eviction began",
    ),
    p(
        "refresh.skipped_starting",
        "a refresh left an agent still starting alone (#2835)",
    ),
    p(
        "refresh.skipped_not_running",
        "an agent Running when the refresh began was no longer Running at its turn",
    ),
    p(
        "refresh.skipped_superseded",
        "a newer start, a stop or an eviction was queued for the agent: the refresh left it to that",
    ),
    p(
        "refresh.workdir_together",
        "a refresh restarted several agents of one workdir together, onto one fresh server",
    ),
    p(
        "update.refused_while_evicting",
        "an update arrived after the eviction began",
    ),
    p(
        "update.not_running",
        "an update of an agent with no Starting or Running record",
    ),
    p(
        "update.not_running_at_turn",
        "an update found the agent no longer Running when its turn came (its start failed, or it exited)",
    ),
    p(
        "update.superseded",
        "a newer start, a stop or an eviction was queued for the agent: the update gave way",
    ),
    p(
        "restart.teardown_failed",
        "a restart could not end the old incarnation: it stays tracked, retried in the background",
    ),
    p(
        "restart.cancelled_after_teardown",
        "a restart was cancelled while it tore down the old incarnation",
    ),
    p(
        "teardown.stale_exit_ignored",
        "a background exit of an older incarnation found a newer one and did nothing",
    ),
    p(
        "teardown.abort_gone",
        "an abort found the session gone already",
    ),
    p(
        "teardown.abort_failed_kept_tracked",
        "an abort failed: the session stays tracked for a retry",
    ),
    p(
        "teardown.reabort_after_prompt_settles",
        "a teardown aborted a session again once its failed prompt could no longer land",
    ),
    p(
        "teardown.reconcile_after_settle",
        "a teardown waited until a failed create could no longer land, then listed",
    ),
    p(
        "teardown.orphan_reaped",
        "a listing found a session of a failed create, and it was aborted",
    ),
    p(
        "teardown.orphan_adopted",
        "an orphan whose abort failed became the record's session, tracked until aborted",
    ),
    p(
        "teardown.list_gone",
        "the listing found the server gone, and its sessions with it",
    ),
    p(
        "teardown.list_failed",
        "the listing failed, and was tried again",
    ),
    p(
        "teardown.close_failed_retry_in_background",
        "closing an unused server failed: it is closed in the background",
    ),
    p(
        "teardown.retry_scheduled",
        "a teardown failed: it is retried in the background",
    ),
    p(
        "teardown.retry_superseded",
        "a background teardown retry found a newer incarnation, and stopped",
    ),
    p(
        "teardown.retry_succeeded",
        "a background teardown retry succeeded",
    ),
    p(
        "teardown.close_retry_succeeded",
        "a background close of an unused server succeeded",
    ),
    p(
        "teardown.server_reap_retried",
        "reaping a server of an ambiguous ensure_server failed, and was retried",
    ),
    p("events.idle_armed", "an idle event armed the idle timer"),
    p(
        "events.heartbeat_ignored",
        "a server heartbeat reached the subscription, and was not taken for the agent's activity",
    ),
    p("events.session_error", "the session reported an error"),
    p(
        "events.stream_ended",
        "the session's event stream ended (its server went away)",
    ),
    p("events.idle_exit", "the idle timer ended the incarnation"),
    p(
        "lease.shared",
        "a lease was granted on a server another lease holds",
    ),
    p(
        "lease.unclosed_closed_before_ensure",
        "a server whose close had failed was closed before the workdir got a new one",
    ),
    p(
        "lease.released_shared",
        "a release left the server open for the other leases on it",
    ),
    p(
        "lease.last_release_closed",
        "the last release on a server closed it",
    ),
    p(
        "lease.retired",
        "a server was retired: no new leases, closed by its last release",
    ),
    p(
        "lease.retired_server_handed_back",
        "ensure_server handed back a retired server other leases still hold: the lease lands on it",
    ),
    p(
        "lease.close_failed_remembered",
        "closing a server failed: it is remembered, never leased again",
    ),
    p(
        "lease.dead_server_replaced",
        "a suspect server stopped being the one new leases go to",
    ),
    p(
        "lease.unowned_server_closed",
        "a server started by an ambiguous ensure_server, held by no lease, was closed",
    ),
    p(
        "lease.unclosed_found_closed",
        "a server whose close seemed to fail was found closed after all, and forgotten",
    ),
    p(
        "lease.eviction_closed_unknown",
        "an eviction closed a running server the manager did not know of",
    ),
    p(
        "ambiguity.waited_to_settle",
        "an eviction waited until no failed call could land any more",
    ),
];

/// A [`Point`], shorter to write in a catalog.
pub const fn p(name: &'static str, about: &'static str) -> Point {
    Point { name, about }
}
