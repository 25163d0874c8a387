//! The whole system over turmoil's network: the container's control server on a `container`
//! host, called by the town's control plane from a `town` host.
//!
//! So far: the adapter that lets the product's router serve on turmoil's network
//! ([`SimListener`]) and the connector its client uses ([`connect`]).

mod listener;

pub use listener::{SimListener, connect, serve};

/// The container host's name on turmoil's network, and its control port.
pub const CONTAINER_HOST: &str = "container";
pub const CONTROL_PORT: u16 = 8080;
