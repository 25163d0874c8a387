//! Server leases: one server per workdir, opened by the first lease and closed when the last
//! lease is released. A lease is a value, released by consuming it, so it can be released
//! at most once; the record that holds it is its only owner.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::{BackendError, ServerId, SessionBackend, Workdir};
use crate::lifecycle::bounded;

/// The right to run sessions on a workdir's server.
#[must_use = "a lease must be stored or released, or its server never closes"]
#[derive(Debug)]
pub(crate) struct ServerLease {
    workdir: Workdir,
    server: ServerId,
}

impl ServerLease {
    pub(crate) fn server(&self) -> ServerId {
        self.server
    }
}

#[derive(Default)]
struct ServerState {
    server: Option<ServerId>,
    leases: u32,
}

/// The servers of every workdir. A gate per workdir serialises opening and closing, so a
/// lease is never granted on a server that is being closed.
#[derive(Default)]
pub(crate) struct Servers {
    gates: Mutex<BTreeMap<Workdir, Arc<tokio::sync::Mutex<ServerState>>>>,
}

impl Servers {
    fn gate(&self, workdir: &Workdir) -> Arc<tokio::sync::Mutex<ServerState>> {
        let mut gates = self.gates.lock().expect("server gates poisoned");
        gates.entry(workdir.clone()).or_default().clone()
    }

    pub(crate) async fn acquire<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
        workdir: &Workdir,
    ) -> Result<ServerLease, BackendError> {
        let gate = self.gate(workdir);
        let mut state = gate.lock().await;
        let server = match state.server {
            Some(server) => server,
            None => {
                let server = bounded(timeout, backend.ensure_server(workdir)).await?;
                state.server = Some(server);
                server
            }
        };
        state.leases += 1;
        Ok(ServerLease {
            workdir: workdir.clone(),
            server,
        })
    }

    /// Gives a lease back; the last one closes the server. A failed close leaves the server
    /// known, so the next lease reuses it and eviction retries the close.
    pub(crate) async fn release<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
        lease: ServerLease,
    ) -> Result<(), BackendError> {
        let gate = self.gate(&lease.workdir);
        let mut state = gate.lock().await;
        state.leases -= 1;
        if state.leases > 0 {
            return Ok(());
        }
        match state.server.take() {
            Some(server) => bounded(timeout, backend.close_server(server))
                .await
                .inspect_err(|_| state.server = Some(server)),
            None => Ok(()),
        }
    }

    /// Closes every server that no lease holds (eviction, after every agent is stopped).
    pub(crate) async fn close_unleased<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let gates: Vec<_> = {
            let gates = self.gates.lock().expect("server gates poisoned");
            gates.values().cloned().collect()
        };
        let mut outcome = Ok(());
        for gate in gates {
            let mut state = gate.lock().await;
            if state.leases > 0 {
                continue;
            }
            if let Some(server) = state.server.take()
                && let Err(e) = bounded(timeout, backend.close_server(server)).await
            {
                state.server = Some(server);
                outcome = Err(e);
            }
        }
        outcome
    }
}
