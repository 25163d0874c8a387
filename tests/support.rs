//! What the race regressions share: a story's verdicts seed by seed, and whether a story's race
//! was reached at all. Stories themselves are written with [`lifecycle_sim::Story`] in each
//! test file, next to the bug report they pin.

use std::ops::Range;

use lifecycle_sim::world::history::What;
use lifecycle_sim::{
    Case, Finding, Invariant, Outcome, Source, Story, Strategy, Subject, run_once,
};

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

/// Whether operation `op` (its place in the story, from 0) was issued at all: an operation that
/// arrives `while_pending` never does if nothing is pending.
pub fn issued(outcome: &Outcome, op: u32) -> bool {
    outcome
        .history
        .events
        .iter()
        .any(|e| matches!(e.what, What::OpIssued(id, _) if id == op))
}

fn assert_every_op_issued(story: &Story, outcome: &Outcome, seed: u64) {
    let ops = story.spec().workload.ops.len() as u32;
    for op in 0..ops {
        assert!(
            issued(outcome, op),
            "seed {seed}: op#{op} of the story never ran, so its race was never reached:\n{}",
            outcome.history.timeline()
        );
    }
}

/// `check_random(subject, source, n).assert_holds()` over any range of seeds, not only `0..n`:
/// panics with the whole report (and the case that replays it) of the first seed that
/// violates anything.
pub fn holds_over(subject: &dyn Subject, source: &dyn Source, seeds: Range<u64>) {
    for seed in seeds {
        let scenario = source.scenario(seed, Strategy::Random);
        let spec = scenario.spec.clone();
        let outcome = scenario.run(subject);
        if outcome.violation.is_some() {
            let finding = Finding {
                seed: Some(seed),
                case: Case::of_run(Some(seed), &spec, &outcome),
                outcome,
            };
            panic!("{}", finding.report(subject.name()));
        }
    }
}
