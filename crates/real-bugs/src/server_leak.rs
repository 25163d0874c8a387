//! #1075: a server leak. The per-workdir session count (`sessionCount` of the workdir's
//! `sdkInstances` entry) was given back neither when an agent exited on its idle timer nor when
//! its event stream failed, so the count never reached 0 and the workdir's `kilo serve` process
//! was never closed.
//!
//! **The real bug.** Kilo-Org/cloud #1075. Its text was not found in the stored issue, PR and
//! code corpora this crate was written against (searched: "gastown sessionCount idle timer leak
//! kilo serve", "exitAgent sessionCount decrement", the issue and PR URLs); what is cited is
//! the code as docs/real-system.md describes it after the fix:
//! the idle timer "fires `exitAgent` only if `rec.status == running`: status exited(completed),
//! report completion, `sessionCount--` (close at ≤0)", and a "stream throw (not aborted) while
//! `running` → `failed`, report, `sessionCount--` (close and delete the instance at ≤0)". Before
//! the fix both paths marked the record and stopped there.
//!
//! **The step.** [`Steps1075::release_on_exit`], the tail of both background exits:
//!
//! | path | pre-fix | fixed |
//! | --- | --- | --- |
//! | idle timer fires on a `Running` record (`exitAgent`) | `exited`, no `sessionCount--` | `exited`, `sessionCount--`, close at 0 |
//! | stream error or end on a `Running` record (the stream's catch) | `failed`, no `sessionCount--` | `failed`, `sessionCount--`, close at 0 |
//!
//! The kit's exits abort the session first in both forms (the real `exitAgent` leaves it to the
//! server's close), so the pre-fix manager leaks exactly the server: a `kilo serve` still running
//! that the manager lists with a count no record holds. The harness's I3 names that: at every
//! step with nothing in flight, a server must count exactly the sessions tracked on it, and once
//! settled, a running server must be one the manager knows, counted by live records, and not
//! left running at 0 (sim/src/check/settle.rs).

use agent_lifecycle::point::Point;

use crate::kit::{ExitCause, KitManager, POINTS, Release, Steps};

/// #1075's step; `FIXED` gives the count back.
pub struct Steps1075<const FIXED: bool>;

impl<const FIXED: bool> Steps for Steps1075<FIXED> {
    fn release_on_exit(_cause: ExitCause) -> Release {
        if FIXED {
            Release::Give
        } else {
            // Before the fix neither `exitAgent` nor the stream's catch ran `sessionCount--`.
            Release::Keep
        }
    }
}

/// The manager of #1075: `ServerLeak<B, false>` before the fix, `ServerLeak<B, true>` after.
pub type ServerLeak<B, const FIXED: bool> = KitManager<B, Steps1075<FIXED>>;

/// The coverage points its campaign requires: what the suite's subject and the head-to-head's
/// are built with.
pub fn points() -> Vec<Point> {
    POINTS.to_vec()
}
