//! Connections that fail: every connection a host opens during the chaos fails at once with
//! a drawn probability (a refused connection, a reset before the request was written). The
//! draws come from the scenario's own stream, in the order the hosts dial, which turmoil makes
//! deterministic.

use std::io;
use std::sync::{Arc, Mutex};

use turmoil::net::TcpStream;

use super::{connect, connect_town};
use crate::decisions::Decisions;

#[derive(Clone)]
pub struct Dialer(Arc<Mutex<Dialing>>);

struct Dialing {
    decisions: Decisions,
    per_mille: u32,
    until_ms: u64,
}

impl Dialer {
    pub fn new(seed: u64, per_mille: u32, until_ms: u64) -> Self {
        Self(Arc::new(Mutex::new(Dialing {
            decisions: Decisions::from_seed(seed.wrapping_add(0xd1a1)),
            per_mille,
            until_ms,
        })))
    }

    fn fails(&self) -> bool {
        let mut d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = turmoil::sim_elapsed().map_or(0, |e| e.as_millis() as u64);
        d.per_mille > 0 && now < d.until_ms && d.decisions.below(1_000) < d.per_mille
    }

    fn refused() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connection failed (drawn)",
        )
    }

    /// A connection to the container's control port.
    pub async fn container(self) -> io::Result<TcpStream> {
        if self.fails() {
            return Err(Self::refused());
        }
        connect().await
    }

    /// A connection to the town's API.
    pub async fn town(self) -> io::Result<TcpStream> {
        if self.fails() {
            return Err(Self::refused());
        }
        connect_town().await
    }
}
