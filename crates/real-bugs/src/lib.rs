//! The real gastown process manager's lifecycle bugs (Kilo-Org/cloud,
//! `services/gastown/container/src/process-manager.ts`), each as a small manager a user writes
//! through the public API (`agent_lifecycle::Lifecycle` over any `SessionBackend`), once as it was
//! before the fix and once with the fix: `tests/suite.rs` shows that the harness finds every
//! pre-fix manager and passes every fixed one.
//!
//! One module per bug, each citing the real issue, PR or commit and the exact step; the step is
//! the module's one override of [`kit::Steps`], and its `FIXED` const generic picks the pre-fix or
//! the fixed lines. Everything else is [`kit`], the same for every bug and correct in every step
//! but the one a bug overrides.
//!
//! | module | real reference | step |
//! | --- | --- | --- |
//! | [`abort_orphan`] | #1995 (PR #1862's review fix `83337e4d`), the #1341 follow-up | store the session id before the abort check after `session.create` |
//! | [`server_leak`] | #1075 | give the workdir's count back on the idle exit and on a stream error |
//! | [`refresh_starting`] | #2835 (PR #2919 via #2932) | a refresh restarts only `running` agents, not `starting` ones |
//! | [`refresh_orphan`] | #2835 (PR #2919 via #2932) | a refresh whose server spawn timed out reaps the server it still starts |
//! | [`hydration_lock`] | #3151 | user starts wait at the hydration gate instead of queueing behind a lock the hydration holds |
//! | [`stuck_starting`] | PR #1828 | the record is `running` before the initial prompt goes out, not once it returned |

pub mod abort_orphan;
pub mod hydration_lock;
pub mod kit;
pub mod refresh_orphan;
pub mod refresh_starting;
pub mod server_leak;
pub mod stuck_starting;
mod watched;

pub use abort_orphan::AbortOrphan;
pub use hydration_lock::HydrationLock;
pub use refresh_orphan::RefreshOrphan;
pub use refresh_starting::RefreshStarting;
pub use server_leak::ServerLeak;
pub use stuck_starting::StuckStarting;
