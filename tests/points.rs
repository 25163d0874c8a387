//! The coverage points tell the truth: on small stories, `owned` reaches exactly the points its
//! code says happened (each story runs the harness's recovery and wrap-up phases too: every
//! agent started again, then stopped). Every turn ends with `session.idle`, as the real
//! server's does (docs/real-system.md), so each started agent arms its idle timer and exits
//! idle 30 ms later unless something stops it first.

use std::collections::BTreeSet;

use lifecycle_sim::{CallKind, Model, Story, run_once};

fn declared_points(story: &Story) -> BTreeSet<&'static str> {
    run_once(&Model::Owned, story, 0)
        .points
        .into_iter()
        .filter(|p| !p.starts_with("world."))
        .collect()
}

fn set(points: &[&'static str]) -> BTreeSet<&'static str> {
    points.iter().copied().collect()
}

#[test]
fn a_start_then_a_stop_reaches_only_the_plain_path() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .at_ms(0)
        .stop("a0")
        .at_ms(100);
    assert_eq!(
        declared_points(&story),
        // Every turn now ends idle (docs/real-system.md): the idle timer arms and exits a0.
        set(&[
            // The server heartbeats on the session's stream too; owned ignores it.
            "events.heartbeat_ignored",
            "events.idle_armed",
            "events.idle_exit",
            "lease.last_release_closed",
            "start.running",
        ])
    );
}

#[test]
fn a_restart_during_the_create_supersedes_the_starting_incarnation() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .at_ms(0)
        .start("a0")
        .while_pending(CallKind::CreateSession, "a0");
    assert_eq!(
        declared_points(&story),
        set(&[
            // Every turn now ends idle (docs/real-system.md): the restarted a0 exits idle
            // before the recovery phase, which so finds no running agent to supersede.
            // The server heartbeats on the session's stream too; owned ignores it.
            "events.heartbeat_ignored",
            "events.idle_armed",
            "events.idle_exit",
            "lease.last_release_closed",
            "start.cancel_seen_after_create",
            "start.running",
            "start.superseded_starting",
        ])
    );
}

#[test]
fn a_stop_during_the_create_cancels_the_start_after_it() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .at_ms(0)
        .stop("a0")
        .while_pending(CallKind::CreateSession, "a0");
    assert_eq!(
        declared_points(&story),
        set(&[
            // Every turn now ends idle (docs/real-system.md): the recovery's start exits idle.
            // The server heartbeats on the session's stream too; owned ignores it.
            "events.heartbeat_ignored",
            "events.idle_armed",
            "events.idle_exit",
            "lease.last_release_closed",
            "start.cancel_seen_after_create",
            "start.running",
            "stop.during_start",
        ])
    );
}

#[test]
fn two_agents_share_a_server_until_the_eviction() {
    let story = Story::new()
        .agents(["a0", "a1"])
        .start("a0")
        .at_ms(0)
        .start("a1")
        .at_ms(50)
        .evict()
        .at_ms(150);
    assert_eq!(
        declared_points(&story),
        set(&[
            // Every turn now ends idle (docs/real-system.md): the agents' idle timers arm and
            // exit them.
            // The server heartbeats on the session's stream too; owned ignores it.
            "events.heartbeat_ignored",
            "events.idle_armed",
            "events.idle_exit",
            "lease.last_release_closed",
            "lease.released_shared",
            "lease.shared",
            "start.running",
        ])
    );
}
