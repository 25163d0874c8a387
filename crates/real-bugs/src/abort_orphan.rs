//! #1995: a restart or a stop during `session.create` orphans the created session (the #1341
//! follow-up).
//!
//! **The real bug.** Kilo-Org/cloud PR #1862 fixed #1341 by threading an abort token
//! (`startupAbortController`) through `startAgent`: a second start, or a stop, aborts the token of
//! a startup still in flight, and the startup checks it after each await and takes its abort path
//! (`StartupAbortedError`), which aborts `agent.sessionId` if it is set, gives back the count and
//! closes the server at 0. As first written, the check after ⏸`session.create` came *before*
//! `agent.sessionId = S`: a startup cancelled while its create was in flight threw with the id
//! still `''`, so its abort path had nothing to abort, and the session `create` had just made
//! stayed live with no record tracking it. The review fix, commit `83337e4d`, "stores sessionId
//! before the abort check so the cleanup can session.abort the orphan"; the fix reached `main`
//! through #1995 (2026-04-04). Source: docs/real-system.md (the
//! resolution, and "startAgent — POST" ("after ⏸session.create (`rec.sessionId` stored first,
//! then check)")).
//!
//! **The step.** [`Steps1995::on_created`], the step right after ⏸`session.create` returns:
//!
//! | | pre-fix (PR #1862 before `83337e4d`) | fixed (`83337e4d`, via #1995) |
//! | --- | --- | --- |
//! | 1 | check the token: cancelled ⇒ abort path | `rec.sessionId = S` |
//! | 2 | `rec.sessionId = S` | check the token: cancelled ⇒ abort path, which aborts `S` |
//!
//! **What it takes.** A start of `a` whose create is in flight when a restart of `a` (or a stop)
//! cancels it, and a server kept up by another count when the orphan's startup gives its own
//! back: the restart's (it counts on the same workdir's server before the create returns), so
//! closing at 0 does not kill the orphan with its server. The harness reports it as I6 (a start
//! that returned `Cancelled` left its session live) or I1 (a live session no record tracks),
//! whichever look comes first; `tests/suite.rs` names the one it reaches.

use agent_lifecycle::SessionId;
use agent_lifecycle::point::Point;

use crate::kit::{Cancelled, KitManager, POINTS, Record, Steps};

/// #1995's step; `FIXED` picks the order.
pub struct Steps1995<const FIXED: bool>;

impl<const FIXED: bool> Steps for Steps1995<FIXED> {
    fn on_created(record: &Record, session: SessionId) -> Result<(), Cancelled> {
        if FIXED {
            // 83337e4d: store the id first, so the abort path can abort the orphan.
            record.set_session(session);
            record.check()
        } else {
            // PR #1862 as first written: the check throws before the id is stored.
            record.check()?;
            record.set_session(session);
            Ok(())
        }
    }
}

/// The manager of #1995: `AbortOrphan<B, false>` is PR #1862 before its review fix,
/// `AbortOrphan<B, true>` after it.
pub type AbortOrphan<B, const FIXED: bool> = KitManager<B, Steps1995<FIXED>>;

/// The coverage points its campaign requires: what the suite's subject and the head-to-head's
/// are built with.
pub fn points() -> Vec<Point> {
    POINTS.to_vec()
}
