//! A prompt blocks for its turn, and the turn's end reaches the container on the server's
//! event stream, apart from the prompt's reply: as with the real server, either can come
//! first (`docs/real-system.md`). A manager can therefore handle a session's `session.idle`
//! before the start that prompted it has heard its prompt return.

use lifecycle_sim::world::history::What;
use lifecycle_sim::{Model, Scenario, Story};

/// Where in one run the start's prompt returned, where its session's `session.idle` was
/// published, and whether the manager's idle handler (POST's nudge fetch) began before the
/// start returned.
fn orders(seed: u64) -> (bool, bool) {
    let spec = Story::new().agents(["a0"]).start("a0").spec();
    let outcome = Scenario::with_spec(seed, spec).run(&Model::AbortToken);
    let events = &outcome.history.events;
    let at = |pred: &dyn Fn(&What) -> bool| events.iter().position(|e| pred(&e.what));
    let prompt_returned = at(&|w| {
        matches!(w, What::CallReturned { kind, .. } if *kind == lifecycle_sim::CallKind::Prompt)
    })
    .expect("the prompt returned");
    let idle = at(&|w| matches!(w, What::SessionIdle(_))).expect("the turn ended idle");
    let start_returned = at(&|w| matches!(w, What::OpReturned(..))).expect("the start returned");
    // The stream may connect after the turn ended (no replay): then nothing is handled.
    let handled =
        at(&|w| matches!(w, What::CallStarted { args, .. } if args == "fetch pending nudges"));
    (
        idle < prompt_returned,
        handled.is_some_and(|h| h < start_returned),
    )
}

#[test]
fn a_turns_idle_event_can_reach_the_manager_before_its_prompts_reply() {
    let runs: Vec<(bool, bool)> = (0..64).map(orders).collect();
    assert!(
        runs.iter().any(|&(idle_first, _)| idle_first),
        "no seed published the idle before the reply"
    );
    assert!(
        runs.iter().any(|&(idle_first, _)| !idle_first),
        "no seed published the reply first"
    );
    assert!(
        runs.iter().any(|&(_, handled_first)| handled_first),
        "the manager never handled the idle before its start returned"
    );
}
