//! The agent lifecycle manager: starts, stops and evicts coding-agent sessions on a
//! [`SessionBackend`], so that the sessions it tracks are exactly the sessions that are live.
//!
//! [`AgentManager`] is the production design ("owned" in the design notes): one owner per
//! incarnation, ownership types for server leases, every operation on an agent ordered, and
//! cancellation checked after every backend call.
//!
//! What it promises its callers:
//! - **Dropping a call's future abandons only the wait.** Each operation runs in a task of
//!   its own ([`detached`]), as an HTTP server's handler may be dropped when its client leaves:
//!   a start or stop whose caller goes away still finishes (or unwinds) whole, so no teardown
//!   is left half done.
//! - **A failed call is not a call that did nothing.** A backend call that errs or times out
//!   may still take effect until [`ManagerConfig::request_lifetime`] has passed; the manager
//!   keeps what it cannot prove dead and reconciles once nothing can land any more.

#![warn(missing_docs)]

mod ambiguity;
mod backend;
mod gate;
mod lease;
mod lifecycle;
mod manager;
pub mod point;
mod request;

#[doc(hidden)]
pub use tracing as __tracing;

pub use backend::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
pub use gate::Gate;
pub use lifecycle::{
    AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, ServerSnapshot, SideKind,
    SideSnapshot, Snapshot, StartRequest, Status, bounded,
};
pub use manager::AgentManager;
pub use request::{RequestContext, detached};
