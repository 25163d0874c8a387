//! What the race regressions share: a story's verdicts seed by seed, and whether a story's race
//! was reached at all. Stories themselves are written with [`lifecycle_sim::Story`] in each
//! test file, next to the bug report they pin.

use std::ops::Range;

use lifecycle_sim::{Invariant, Outcome, Story, Subject, run_once};

/// What `subject` breaks on `story` under each of `seeds` (`None`: it held). Each seed is
/// checked to have issued every operation of the story, so that a race aimed with
/// `while_pending` that never fired cannot pass for a race survived.
pub fn verdicts(subject: &dyn Subject, story: &Story, seeds: Range<u64>) -> Vec<Option<Invariant>> {
    seeds
        .map(|seed| {
            let outcome = run_once(subject, story, seed);
            assert_every_op_issued(story, &outcome, seed);
            outcome.violation.map(|v| v.invariant)
        })
        .collect()
}

/// Every seed of `seeds` issues every operation of `story` on `subject`: the story's race is
/// reached each time (a companion to `check_random(..).assert_holds()`, which judges only
/// what ran).
pub fn reaches_every_op(subject: &dyn Subject, story: &Story, seeds: Range<u64>) {
    for seed in seeds {
        assert_every_op_issued(story, &run_once(subject, story, seed), seed);
    }
}

fn assert_every_op_issued(story: &Story, outcome: &Outcome, seed: u64) {
    assert!(
        outcome.never_issued.is_empty(),
        "seed {seed}: operation(s) {:?} of the story ({} in all) never ran, so its race was never reached:\n{}",
        outcome.never_issued,
        story.spec().workload.ops.len(),
        outcome.history.timeline()
    );
}

/// #1341, where a restart can meet the first startup (seed-system.md §4), and §6.8.
pub mod stories {
    use lifecycle_sim::{CallKind, Story};

    /// a1 keeps the shared server up; a0 starts, and is restarted while its create is in flight.
    #[rustfmt::skip]
    pub fn restart_during_create_on_a_shared_server() -> Story {
        Story::new()
            .agents(["a0", "a1"])
            .start("a1")
            .start("a0").at_ms(30)
            .start("a0").while_pending(CallKind::CreateSession, "a0")
    }

    /// a0 alone: restarted while its create is in flight, its session the only one counted.
    #[rustfmt::skip]
    pub fn restart_during_create_alone() -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0")
            .start("a0").while_pending(CallKind::CreateSession, "a0")
    }

    /// a0 alone: restarted while its first startup waits for `createKilo`.
    #[rustfmt::skip]
    pub fn restart_during_server_spawn() -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0")
            .start("a0").while_pending(CallKind::EnsureServer, "a0")
    }

    /// §6.8: a0 runs; a restart's stop is in flight when a third start arrives: it sees Stopping,
    /// skips the stop, installs its record and starts up; the restart then installs its record
    /// over it, and the third start's controller is unreachable.
    #[rustfmt::skip]
    pub fn start_during_a_restarts_stop() -> Story {
        Story::new()
            .agents(["a0"])
            .start("a0")
            .start("a0").at_ms(60)
            .start("a0").while_pending(CallKind::AbortSession, "a0")
    }
}
