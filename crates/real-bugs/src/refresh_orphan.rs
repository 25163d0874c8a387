//! #2835 (b): a refresh restart whose server spawn timed out left an orphan `kilo serve`.
//!
//! **The real bug.** In `refreshTokenForAllAgents` (Kilo-Org/cloud PR #2919, via #2932; see
//! [`crate::refresh_starting`]) each restart races `ensureSDKServer` against
//! `REFRESH_AGENT_TIMEOUT_MS` (6 s, from the review fix `dd06dfa`: "bounded timeouts per step
//! (6s `ensureSDKServer`, 2s `session.list`)") with `withTimeout`, which "races the promise with a
//! timer but cannot cancel the underlying spawn — the serialised SDK server creation may still
//! install an instance into sdkInstances after we've restored the old one, leaking the fresh
//! kilo serve child" (the comment above `pendingEnsure` at LATEST, `process-manager.ts` @
//! `9840aa59`). The fix keeps `pendingEnsure` and, in the catch, "If ensureSDKServer is still in
//! flight, attach a reaper": `pendingEnsure.then(...)` deletes the orphan instance, maps the old
//! one back and `orphan.server.close()` (log `refresh_token.orphan_reaped`). Also
//! docs/real-system.md ("refresh adds a 'reaper' for a late-arriving orphan server").
//!
//! **The step.** [`Steps2835Reaper::reap_timed_out_ensure`], the timeout branch of r2:
//!
//! | | pre-fix | fixed (the reaper) |
//! | --- | --- | --- |
//! | r2 times out | the restart fails; the spawn runs on and its server is nobody's | the restart fails; a task awaits the spawn and closes its server unless a start counted on it meanwhile |
//!
//! The kit's refresh timeout is a tenth of the call timeout (the real 6 s is a fifth of
//! `createKilo`'s 30 s, but the real spawn takes 1-2 s where the simulated calls take up to a
//! fifth of the call timeout): about half the refresh spawns outlast it. The simulated backend
//! lands a call its caller gave up on, as the real spawn runs on.
//!
//! **What it takes.** A refresh of a running agent whose `ensure_server` outlasts the refresh
//! timeout, and no start of the workdir adopting the server it starts (a start's
//! `ensure_server` is handed the running one). The harness reports it as I3 once settled ("is
//! running but the manager no longer knows it"), or I7 when an eviction returns first.

use agent_lifecycle::point::Point;

use crate::kit::{KitManager, Steps, refresh_campaign_points};

/// #2835 (b)'s step; `FIXED` reaps.
pub struct Steps2835Reaper<const FIXED: bool>;

impl<const FIXED: bool> Steps for Steps2835Reaper<FIXED> {
    fn reap_timed_out_ensure() -> bool {
        // Before the reaper, the timed-out spawn was left to run.
        FIXED
    }
}

/// The manager of #2835 (b): `RefreshOrphan<B, false>` leaves the spawn to run,
/// `RefreshOrphan<B, true>` reaps it.
pub type RefreshOrphan<B, const FIXED: bool> = KitManager<B, Steps2835Reaper<FIXED>>;

/// The coverage points its campaign requires: what the suite's subject and the head-to-head's
/// are built with.
pub fn points() -> Vec<Point> {
    refresh_campaign_points()
}
