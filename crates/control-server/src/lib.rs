//! The container's control server: the HTTP API the town's control plane calls to start, stop
//! and watch agents (`docs/real-system.md`, "Control server"), over any
//! [`Lifecycle`](agent_lifecycle::Lifecycle) implementation.
//!
//! - [`router`] is the axum router; it serves on anything axum can listen on: a real TCP
//!   listener in the `control-server` binary, turmoil's simulated network in the harness.
//! - [`ControlClient`] speaks the same API over any byte stream (a real or a simulated TCP
//!   connection), one connection a request, as the town's `fetch` does.
//! - [`InMemoryBackend`] is a session backend that keeps its sessions in memory, so that the
//!   binary runs before a real session backend exists.
//! - [`send_heartbeats`] tells the town, every interval, which agents live here.
//! - A [`Registry`] records the agents the container runs on every change;
//!   [`Control::hydrate`] starts them again at boot, and starts wait for it.

mod api;
mod client;
mod control;
mod heartbeat;
mod memory;
mod registry;
mod router;

pub use api::{AgentState, ErrorBody, Heartbeat, StartBody, StartReply};
pub use client::{ClientError, ControlClient, TownClient};
pub use control::{Control, StopRoute};
pub use heartbeat::send_heartbeats;
pub use memory::InMemoryBackend;
pub use registry::{FileRegistry, MemoryRegistry, NoRegistry, Registry};
pub use router::router;
