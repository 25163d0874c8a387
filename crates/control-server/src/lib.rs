//! The container's control server: the HTTP API the town's control plane calls to start, stop
//! and watch agents (`../shared/seed-system.md` §2, "Control server"), over any
//! [`Lifecycle`](agent_lifecycle::Lifecycle) implementation.
//!
//! - [`router`] is the axum router; it serves on anything axum can listen on: a real TCP
//!   listener in the `control-server` binary, turmoil's simulated network in the harness.
//! - [`ControlClient`] speaks the same API over any byte stream (a real or a simulated TCP
//!   connection), one connection a request, as the town's `fetch` does.
//! - [`InMemoryBackend`] is a session backend that keeps its sessions in memory, so that the
//!   binary runs before a real session backend exists.

mod api;
mod client;
mod memory;
mod router;

pub use api::{AgentState, ErrorBody, StartBody, StartReply};
pub use client::{ClientError, ControlClient};
pub use memory::InMemoryBackend;
pub use router::{Control, router};
