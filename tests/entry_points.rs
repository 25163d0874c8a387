//! The entry points beyond start, stop and evict, as stories: a reboot's hydration starts
//! what the manager persisted, and nothing the control plane stopped meanwhile; a refresh moves
//! a running agent to a new server; an update moves one agent. Each runs on the production
//! manager under many seeds, and each asserts what the timeline shows, so a harness that never
//! really rebooted or refreshed fails here.

use lifecycle_sim::{CallKind, Model, Story, Timing, check_random, run_once};

/// a0 runs (its idle timeout long enough that it still does), then the container reboots.
fn running_then_reboot() -> Story {
    Story::new()
        .agents(["a0", "a1"])
        .apart()
        .start("a0")
        .at_ms(0)
        .reboot()
        .at_ms(120)
        .timing(Timing {
            idle_timeout_ms: 1_000,
            ..Timing::default()
        })
}

#[test]
fn a_reboot_hydrates_what_the_manager_persisted() {
    let story = running_then_reboot();
    check_random(&Model::Owned, &story, 200).assert_holds();
    for seed in 0..50 {
        let timeline = run_once(&Model::Owned, &story, seed).history.timeline();
        assert!(
            timeline.contains("container host bounced"),
            "seed {seed}: no reboot\n{timeline}"
        );
        assert!(
            timeline.contains("boot hydration of [a0]"),
            "seed {seed}: the reboot did not hydrate a0\n{timeline}"
        );
        assert!(
            timeline.contains("reboot returned ok"),
            "seed {seed}: the hydration never answered\n{timeline}"
        );
    }
}

#[test]
fn a_stop_during_hydration_is_not_undone_by_it() {
    // The stop arrives while hydration's create of a0 is in flight; a manager that then let
    // hydration finish starting a0 would leave a session of a stopped agent live (I5).
    let story = running_then_reboot()
        .stop("a0")
        .while_pending(CallKind::CreateSession, "a0");
    let verdict = check_random(&Model::Owned, &story, 300);
    verdict.assert_holds();
}

#[test]
fn a_refresh_moves_a_running_agent_to_a_new_server() {
    let story = Story::new()
        .agents(["a0"])
        .start("a0")
        .at_ms(0)
        .refresh()
        .at_ms(100);
    check_random(&Model::Owned, &story, 200).assert_holds();
    let moved = (0..50)
        .filter(|&seed| {
            let timeline = run_once(&Model::Owned, &story, seed).history.timeline();
            timeline.contains("refresh returned ok") && timeline.contains("ensure_server -> srv2")
        })
        .count();
    assert!(
        moved > 40,
        "a0 moved to a new server in only {moved} of 50 seeds"
    );
}

#[test]
fn an_update_of_an_unknown_agent_changes_nothing() {
    let story = Story::new()
        .agents(["a0", "a1"])
        .apart()
        .start("a0")
        .at_ms(0)
        .update("a1")
        .at_ms(100);
    check_random(&Model::Owned, &story, 100).assert_holds();
    let timeline = run_once(&Model::Owned, &story, 1).history.timeline();
    assert!(
        timeline.contains("update a1 returned error: not running"),
        "{timeline}"
    );
}
