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
//!
//! To come (needing entry points the harness does not drive yet): #2835 (refresh), #3151
//! (hydration), #1828 (a blocking initial prompt): a module and a [`kit::Steps`] step each.

pub mod abort_orphan;
pub mod kit;
pub mod server_leak;

pub use abort_orphan::AbortOrphan;
pub use server_leak::ServerLeak;
