//! #3151: boot hydration held the global lock while `/agents/start` calls queued behind it.
//!
//! **The real bug.** Kilo-Org/cloud PR #3151 ("release: gastown-staging -> main", merged
//! 2026-05-12; its review found "2 warnings around hydration gating"). At LATEST
//! (`process-manager.ts` @ `9840aa59`) the fix is the hydration gate: `_hydrationComplete`,
//! "Resolved when bootHydration() returns. /agents/start and /refresh-token must await this
//! before contending for the global sdkServerLock — without this gate, fresh dispatches arriving
//! during boot queue behind every in-flight registry agent + the mayor prewarm and the DO-side
//! 60s AbortSignal.timeout fires before they ever get the lock"; `bootHydration` installs it on
//! entry and resolves it in a `finally` with a resolver of its own (`let resolve!: () => void`,
//! local to the call, so a second hydration cannot orphan the first one's). Issue #3368
//! ("Improve Gastown cold-start to mayor-ready latency", 2026-05-20) describes the path after the
//! fix: "`/agents/start` waits for `awaitHydration()` before calling `runAgent()`"; #3369 (via
//! #3353) then moved non-critical work off it. Also docs/real-system.md
//! (bootHydration; LATEST's gate).
//!
//! **The step.** [`Steps3151::hydration_holds_lock`]: where a user start waits for the hydration.
//!
//! | | pre-fix | fixed (the gate) |
//! | --- | --- | --- |
//! | `hydrate` | holds the global lock across its loop of starts | closes the gate, runs its loop, opens it; holds nothing |
//! | user `start` | takes its agent's turn, then the global lock (as `startAgent` reaches `sdkServerLock` inside `withStartAgentLock`) | waits at the gate, then takes its agent's turn |
//!
//! **What it takes, and what is found.** A reboot with agents persisted, and a user start of
//! an agent that comes later in the registry arriving while the hydration is on an earlier one
//! (or a stop of an agent whose user start is queued): the start holds the agent's turn and
//! waits for the lock; the hydration holds the lock and, reaching that agent, waits for its
//! turn. Neither returns: L1 (operations still in flight 10 s after the last was issued). That
//! is the "start that never returns" of the report, reached through a lock-order inversion; the
//! other half of the report, a start that *does* return but only after the whole hydration
//! (the DO's 60 s dispatch timeout firing first), is no finding: L1 bounds the progress of the
//! container as a whole, not how long one start waits for unrelated agents (README, harness
//! gaps).

use agent_lifecycle::point::Point;

use crate::kit::{BOOT_BUG_POINTS, BOOT_POINTS, KitManager, Steps};

/// #3151's step; `FIXED` uses the gate.
pub struct Steps3151<const FIXED: bool>;

impl<const FIXED: bool> Steps for Steps3151<FIXED> {
    fn hydration_holds_lock() -> bool {
        !FIXED
    }
}

/// The manager of #3151: `HydrationLock<B, false>` holds the lock across the hydration,
/// `HydrationLock<B, true>` gates user starts instead.
pub type HydrationLock<B, const FIXED: bool> = KitManager<B, Steps3151<FIXED>>;

/// The coverage points its campaign requires: what the suite's subject and the head-to-head's
/// are built with.
pub fn points() -> Vec<Point> {
    BOOT_POINTS.iter().chain(BOOT_BUG_POINTS).copied().collect()
}
