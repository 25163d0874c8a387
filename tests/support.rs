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
