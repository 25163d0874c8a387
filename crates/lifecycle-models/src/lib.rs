//! Historical versions of the gastown container's process manager, ported step by step from
//! the real code (`docs/real-system.md` says which versions), bugs included, so that the
//! simulation harness can show what goes wrong in each. Never use these in production:
//! [`agent_lifecycle::AgentManager`] is the design that fixes them.
//!
//! - [`LegacyManager`]: PRE, the #1341 code.
//! - [`AbortTokenManager`]: POST, the abort-token fix (PR #1862).
//! - [`StartLockManager`]: LATEST's per-agent start lock (PR #3055).
//!
//! The models drive the SDK surface the real code uses ([`KiloSdk`]) and read its answers as
//! SDK [`SDK_VERSION`] hands them over; each module's doc maps its steps to the real code, and
//! `common/mod.rs` lists the assumptions where the reading is silent.

mod abort_token;
mod common;
mod legacy;
pub mod points;
mod sdk;
mod start_lock;

pub use abort_token::AbortTokenManager;
pub use legacy::LegacyManager;
pub use sdk::{EventStream, KiloSdk, SDK_VERSION, ServerEvent};
pub use start_lock::StartLockManager;
