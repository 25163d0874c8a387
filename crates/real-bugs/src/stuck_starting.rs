//! #1828: stuck in `starting`. The record became `running` only once the initial prompt
//! returned, and `session.prompt` blocks for the model's whole first turn (minutes): all that
//! time the agent showed `starting`, the control plane took it for an agent still coming up, and
//! a stream error during that prompt went unseen (the stream's catch acts only on `running`).
//!
//! **The real bug.** Kilo-Org/cloud PR #1828, a staging batch whose entries this crate's sources
//! summarise as "stream error during the initial prompt ⇒ avoid the double decrement; the drain
//! waits for idle timers". Its text was not found in the stored issue and PR corpora (searched:
//! "gastown process-manager status running before initial prompt", "stream error during initial
//! prompt"); what is cited is the code as docs/real-system.md describes it on either side:
//! - PRE `startAgent`: `⏸ client.session.prompt(S, initial prompt)`, then `if rec.status ==
//!   starting: rec.status = running`.
//! - POST and LATEST: "status set `running` **before** the prompt; after the prompt, if the stream
//!   handler already marked `failed`, clear `counted` and throw".
//!
//! **The step.** [`Steps1828::running_before_prompt`]:
//!
//! | | pre-fix (PRE's order) | fixed (POST's order) |
//! | --- | --- | --- |
//! | status during the initial prompt | `Starting` | `Running` |
//! | a stream error during it | ignored (the prompt's answer decides) | the stream's exit, which the startup finishes when the prompt returns, with one decrement |
//!
//! The kit is correct around the step either way: the startup owns the record until its prompt
//! returns, and a stop, a drain or an exit meanwhile cuts the turn short by aborting the session
//! (a prompt that lands after that abort revives the session, which the startup aborts again).
//! So what the pre-fix manager shows is exactly the status: the harness's L5 (running before
//! the turn ends) names it whenever a turn lasts longer than a request. L5 rests on the fake's
//! prompt blocking for the turn (`Timing::turn_ms`), as the real server's `session.prompt` does
//! (docs/real-system.md, the session server's table).
//!
//! Not judged: the unseen stream error itself. After a `session.error` the real session persists
//! and goes idle (docs/real-system.md, the session server's table), so the pre-fix record runs on and exits on its idle
//! timer: nothing leaks, and no invariant of the harness is broken by the error going unseen.

use agent_lifecycle::point::Point;

use crate::kit::{KitManager, POINTS, Steps, TURN_POINTS};

/// #1828's step; `FIXED` marks the record `Running` before the initial prompt.
pub struct Steps1828<const FIXED: bool>;

impl<const FIXED: bool> Steps for Steps1828<FIXED> {
    fn running_before_prompt() -> bool {
        // PRE set `running` only after `⏸ session.prompt` returned.
        FIXED
    }
}

/// The manager of #1828: `StuckStarting<B, false>` before the fix, `StuckStarting<B, true>`
/// after.
pub type StuckStarting<B, const FIXED: bool> = KitManager<B, Steps1828<FIXED>>;

/// The coverage points its campaign requires: what the suite's subject and the head-to-head's
/// are built with.
pub fn points() -> Vec<Point> {
    POINTS.iter().chain(TURN_POINTS).copied().collect()
}
