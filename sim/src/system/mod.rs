//! The whole system over turmoil's network: the container's control server on a `container`
//! host, called by the town's control plane from a `town` host.
//!
//! - [`SimListener`], [`serve`], [`connect`]: the product's router and client on turmoil's
//!   network.
//! - [`town`]: the town's control plane, modelled, with its dispatch policies.
//! - `control_host`: the container host, the product's control server over a manager on the
//!   fake backend, each request a workload operation the checker sees.
//! - [`scene`]: the town, the network and the container's evictions around one run, judged by
//!   the checker every run is; [`scenario`]: what a system scenario is; [`saved`]: one saved
//!   as a case file, and shrunk.

mod alarm;
mod attributed;
pub(crate) mod control_host;
pub(crate) mod dialer;
mod listener;
pub(crate) mod registry;
pub mod saved;
pub mod scenario;
pub mod scene;
pub mod town;
mod town_api;
mod verdict;

pub use listener::{SimListener, connect, connect_town, serve, serve_on};

/// The container host's name on turmoil's network, and its control port.
pub const CONTAINER_HOST: &str = "container";
/// The container's control port.
pub const CONTROL_PORT: u16 = 8080;

/// The town's host and the port its API (heartbeats) listens on.
pub const TOWN_HOST: &str = "town";
/// The port the town's API listens on.
pub const TOWN_PORT: u16 = 8787;
