//! The coverage points tell the truth: on small stories, `owned` reaches exactly the points its
//! code says happened (each story runs the harness's recovery and wrap-up phases too: every
//! agent started again, then stopped).

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
        set(&["lease.last_release_closed", "start.running"])
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
            "lease.last_release_closed",
            "start.cancel_seen_after_create",
            "start.running",
            // The recovery phase restarts the running agent.
            "start.superseded_running",
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
            "lease.last_release_closed",
            "lease.released_shared",
            "lease.shared",
            "start.running",
        ])
    );
}
