//! The agent lifecycle manager: starts, stops and evicts coding-agent sessions on a
//! [`SessionBackend`], so that the sessions it tracks are exactly the sessions that are live.
//!
//! [`AgentManager`] is the production design ("owned" in the design notes): one owner per
//! incarnation, ownership types for server leases, every operation on an agent ordered, and
//! cancellation checked after every backend call.

mod ambiguity;
mod backend;
mod lease;
mod lifecycle;
mod manager;
mod request;

pub use backend::{
    AgentId, BackendError, ServerId, SessionBackend, SessionEvent, SessionId, Workdir,
};
pub use lifecycle::{
    AgentSnapshot, Lifecycle, LifecycleError, ManagerConfig, ServerSnapshot, SideKind,
    SideSnapshot, Snapshot, StartRequest, Status, bounded,
};
pub use manager::AgentManager;
pub use request::{RequestContext, detached};
