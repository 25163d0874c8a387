//! #2835 (a): a token refresh restarted the server of an agent still `starting`.
//!
//! **The real bug.** Kilo-Org/cloud PR #2919 ("fix(gastown): propagate refreshed container
//! token to running kilo serve children", landed through the convoy PR #2932 "fix(gastown):
//! token auto-refresh and mayor session persistence", 2026-04-29) made `POST /refresh-token`
//! call `refreshTokenForAllAgents`, restarting each agent's `kilo serve` so the new child
//! inherits the token. As first written the route took `listAgents().filter(a => a.status ===
//! 'running' || a.status === 'starting')` (the PR's review thread on `control-server.ts:274`).
//! A `starting` agent's startup is still in `ensureSDKServer`, `sessionCount++`, `session.create`
//! and `subscribeToEvents`: the refresh's own `sdkInstances.delete`, `newInstance.sessionCount++`
//! and `subscribeToEvents` race it. The fix, in `refreshTokenForAllAgents` at LATEST
//! (`process-manager.ts` @ `9840aa59`): `const snapshot = [...agents.values()].filter(a =>
//! a.status === 'running')`, with the comment "racing the startup path would leave duplicate
//! subscriptions, an over-counted sessionCount, or an orphan server that never closes"; "an agent
//! that is still starting will pick up the fresh token on its own as part of normal startup".
//! Also docs/real-system.md ("Refresh restarts only
//! `running` agents, explicitly skipping `starting` ones") and its hazard 10. The stored corpora
//! hold no text of #2835 itself; what is cited is #2919/#2932 and the code after the fix.
//!
//! **The step.** [`Steps2835Starting::refresh_admits`], r0 of the refresh, the snapshot:
//!
//! | | pre-fix (#2919 as first written) | fixed (LATEST) |
//! | --- | --- | --- |
//! | r0 | restart every `running` or `starting` agent | restart every `running` agent |
//!
//! **What it takes.** A refresh while a start of some agent is between its record and its
//! first prompt's answer. Where the startup is decides the symptom: before its
//! `ensure_server`, both count on the new server (the over-count) and both create and subscribe
//! (the duplicate subscription; the refresh's session is then orphaned by the startup's);
//! after it, the refresh gives up the startup's server under it (its session aborted, the
//! server closed while the record is `Starting`). The harness reports whichever look comes
//! first; `tests/suite.rs` names it.
//!
//! The third part of #2835, an old stream's cleanup deleting the new subscription's controller
//! (`eventAbortControllers.delete(agentId)` with no identity check, fixed by deleting only "if
//! the map still holds *this* controller"), is not a module here: the kit's streams are the
//! record's own, and it reports no side state (`Snapshot::side`) for I5 to judge (README).

use agent_lifecycle::Status;
use agent_lifecycle::point::Point;

use crate::kit::{KitManager, Steps, refresh_campaign_points};

/// #2835 (a)'s step; `FIXED` restarts only `running` agents.
pub struct Steps2835Starting<const FIXED: bool>;

impl<const FIXED: bool> Steps for Steps2835Starting<FIXED> {
    fn refresh_admits(status: Status) -> bool {
        if FIXED {
            status == Status::Running
        } else {
            // #2919 as first written: `running || starting`.
            matches!(status, Status::Running | Status::Starting)
        }
    }
}

/// The manager of #2835 (a): `RefreshStarting<B, false>` restarts starting agents too,
/// `RefreshStarting<B, true>` only running ones.
pub type RefreshStarting<B, const FIXED: bool> = KitManager<B, Steps2835Starting<FIXED>>;

/// The coverage points its campaign requires: what the suite's subject and the head-to-head's
/// are built with.
pub fn points() -> Vec<Point> {
    refresh_campaign_points()
}
