//! Server leases: one server per workdir, opened by the first lease and closed when the last
//! lease on it is released. A lease is a value, released by consuming it, so it is released
//! at most once; the record that holds it is its only owner.
//!
//! Leases are counted per server, not per workdir: after a server dies and the workdir gets a
//! new one, releasing a lease on the old server can never close the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::backend::{BackendError, ServerId, SessionBackend, Workdir};
use crate::lifecycle::{ServerSnapshot, bounded};

/// Closes a server; one that is gone already counts as closed.
async fn close<B: SessionBackend>(
    backend: &B,
    timeout: Duration,
    server: ServerId,
) -> Result<(), BackendError> {
    match bounded(timeout, backend.close_server(server)).await {
        Err(BackendError::Gone(_)) => Ok(()),
        other => other,
    }
}

/// The right to run sessions on a server.
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

    pub(crate) fn workdir(&self) -> &Workdir {
        &self.workdir
    }
}

#[derive(Default)]
struct WorkdirServers {
    /// Serialises opening and closing this workdir's servers, so a lease is never granted on
    /// a server that is being closed.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// The server new leases go to; `None` until one is ensured, or after it was suspected dead.
    current: Option<ServerId>,
    leases: BTreeMap<ServerId, u32>,
    /// Servers without leases whose close failed; eviction tries again.
    unclosed: BTreeSet<ServerId>,
}

/// The servers of every workdir.
#[derive(Default)]
pub(crate) struct Servers {
    workdirs: Mutex<BTreeMap<Workdir, WorkdirServers>>,
}

impl Servers {
    fn workdirs(&self) -> MutexGuard<'_, BTreeMap<Workdir, WorkdirServers>> {
        self.workdirs.lock().expect("server table poisoned")
    }

    fn gate(&self, workdir: &Workdir) -> Arc<tokio::sync::Mutex<()>> {
        self.workdirs()
            .entry(workdir.clone())
            .or_default()
            .gate
            .clone()
    }

    pub(crate) async fn acquire<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
        workdir: &Workdir,
    ) -> Result<ServerLease, BackendError> {
        let gate = self.gate(workdir);
        let _gate = gate.lock().await;
        let current = self.workdirs()[workdir].current;
        let server = match current {
            Some(server) => server,
            None => bounded(timeout, backend.ensure_server(workdir)).await?,
        };
        let mut workdirs = self.workdirs();
        let entry = workdirs.get_mut(workdir).expect("entry made by gate()");
        entry.current = Some(server);
        entry.unclosed.remove(&server);
        *entry.leases.entry(server).or_default() += 1;
        Ok(ServerLease {
            workdir: workdir.clone(),
            server,
        })
    }

    /// Gives a lease back; the last lease on a server closes it.
    pub(crate) async fn release<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
        lease: ServerLease,
    ) -> Result<(), BackendError> {
        let ServerLease { workdir, server } = lease;
        let gate = self.gate(&workdir);
        let _gate = gate.lock().await;
        {
            let mut workdirs = self.workdirs();
            let entry = workdirs
                .get_mut(&workdir)
                .expect("a lease's workdir is known");
            let count = entry
                .leases
                .get_mut(&server)
                .expect("a lease's server is counted");
            *count -= 1;
            if *count > 0 {
                return Ok(());
            }
            entry.leases.remove(&server);
            if entry.current == Some(server) {
                entry.current = None;
            }
        }
        close(backend, timeout, server).await.inspect_err(|_| {
            let mut workdirs = self.workdirs();
            let entry = workdirs
                .get_mut(&workdir)
                .expect("a lease's workdir is known");
            entry.unclosed.insert(server);
        })
    }

    /// The workdir's current server may be dead: the next lease asks the backend again
    /// (`ensure_server` hands back the same server if it is still running).
    pub(crate) fn suspect(&self, workdir: &Workdir, server: ServerId) {
        if let Some(entry) = self.workdirs().get_mut(workdir)
            && entry.current == Some(server)
        {
            entry.current = None;
        }
    }

    /// Tries again to close the servers of `workdir` whose close failed.
    pub(crate) async fn close_unclosed<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
        workdir: &Workdir,
    ) -> Result<(), BackendError> {
        let gate = self.gate(workdir);
        let _gate = gate.lock().await;
        let unclosed: Vec<ServerId> = self
            .workdirs()
            .get_mut(workdir)
            .map(|entry| std::mem::take(&mut entry.unclosed).into_iter().collect())
            .unwrap_or_default();
        let mut outcome = Ok(());
        for server in unclosed {
            if let Err(e) = close(backend, timeout, server).await {
                if let Some(entry) = self.workdirs().get_mut(workdir) {
                    entry.unclosed.insert(server);
                }
                outcome = Err(e);
            }
        }
        outcome
    }

    /// Closes every server that no lease holds (eviction, after every agent is stopped).
    pub(crate) async fn close_unleased<B: SessionBackend>(
        &self,
        backend: &B,
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let workdirs: Vec<Workdir> = self.workdirs().keys().cloned().collect();
        let mut outcome = Ok(());
        for workdir in workdirs {
            let gate = self.gate(&workdir);
            let _gate = gate.lock().await;
            let idle: Vec<ServerId> = {
                let mut workdirs = self.workdirs();
                let entry = workdirs.get_mut(&workdir).expect("listed above");
                let mut idle: BTreeSet<ServerId> = std::mem::take(&mut entry.unclosed);
                if let Some(current) = entry.current
                    && !entry.leases.contains_key(&current)
                {
                    idle.insert(current);
                    entry.current = None;
                }
                idle.into_iter().collect()
            };
            for server in idle {
                if let Err(e) = close(backend, timeout, server).await {
                    self.workdirs()
                        .get_mut(&workdir)
                        .expect("listed above")
                        .unclosed
                        .insert(server);
                    outcome = Err(e);
                }
            }
        }
        outcome
    }

    /// Every server the manager knows to be running: leased ones with their lease count, and
    /// unleased ones whose close failed with count 0.
    pub(crate) fn snapshot(&self) -> Vec<ServerSnapshot> {
        self.workdirs()
            .iter()
            .flat_map(|(workdir, entry)| {
                let mut counts: BTreeMap<ServerId, u32> = entry.leases.clone();
                for &server in &entry.unclosed {
                    counts.entry(server).or_insert(0);
                }
                counts.into_iter().map(|(server, count)| ServerSnapshot {
                    workdir: workdir.clone(),
                    server,
                    count: i64::from(count),
                })
            })
            .collect()
    }
}
