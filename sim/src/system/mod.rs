//! The whole system over turmoil's network: the container's control server on a `container`
//! host, called by the town's control plane from a `town` host.
//!
//! So far: the adapter that lets the product's router serve on turmoil's network
//! ([`SimListener`]) and the connector its client uses ([`connect`]).

mod listener;

pub use listener::{SimListener, connect, connect_town, serve, serve_on};

/// The container host's name on turmoil's network, and its control port.
pub const CONTAINER_HOST: &str = "container";
pub const CONTROL_PORT: u16 = 8080;

/// The town's host and the port its API (heartbeats) listens on.
pub const TOWN_HOST: &str = "town";
pub const TOWN_PORT: u16 = 8787;
