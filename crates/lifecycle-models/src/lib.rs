//! Historical versions of the lifecycle manager, ported faithfully (bugs included) so that the
//! simulation harness can show it finds what went wrong in each. Never use these in production:
//! [`agent_lifecycle::AgentManager`] is the design that fixes them.
//!
//! - [`LegacyManager`]: the original (#1341).
//! - [`AbortTokenManager`]: the first fix, an abort signal per record.
//! - [`StartLockManager`]: the next fix, a per-agent lock around start.

mod abort_token;
mod common;
mod legacy;
mod start_lock;

pub use abort_token::AbortTokenManager;
pub use legacy::LegacyManager;
pub use start_lock::StartLockManager;
