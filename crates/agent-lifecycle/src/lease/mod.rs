//! Server leases: one server per workdir, opened by the first lease and closed when the last
//! lease on it is released. A lease is a value, released by consuming it, so it is released
//! at most once; the record that holds it is its only owner.
//!
//! Leases are counted per server, not per workdir: after a server dies and the workdir gets a
//! new one, releasing a lease on the old server can never close the new one.
//!
//! A server can be *retired* (a refresh or an update moves its agents off it): new leases stop
//! going to it, and it is closed when its last lease is released, so the agents still on it
//! keep running until they leave. The backend runs one server per workdir (`ensure_server`
//! hands back the running one), so a fresh server exists only once the retired one is closed;
//! until then a lease asked for on its workdir lands on it still, and it stays retired.
//!
//! A close that failed may still land later, so a server the manager failed to close is never
//! leased again: the next lease on its workdir closes it first. An `ensure_server` that failed
//! may still start a server later; [`Servers::reap_unowned`] closes such a server once the
//! request can no longer land.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;

use crate::ambiguity::Ambiguity;
use crate::backend::{BackendError, ServerId, SessionBackend, Workdir};
use crate::lifecycle::ServerSnapshot;
use crate::point;

mod eviction;

/// Closes a server; one that is gone already counts as closed.
async fn close<B: SessionBackend>(
    backend: &B,
    ask: &Ambiguity,
    server: ServerId,
) -> Result<(), BackendError> {
    match ask.ask(backend.close_server(server)).await {
        Err((BackendError::Gone(_), _)) => Ok(()),
        Err((e, _)) => Err(e),
        Ok(()) => Ok(()),
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
    /// Servers no new lease should go to, each closed by its last release.
    retired: BTreeSet<ServerId>,
    /// Servers the manager must close, each kept until a close of it succeeds (one whose close
    /// failed, or is in flight): the next lease on the workdir and eviction try again.
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

    /// A lease on the workdir's server, ensuring one if there is none. On an ambiguous
    /// failure, also the instant after which the `ensure_server` can no longer land.
    pub(crate) async fn acquire<B: SessionBackend>(
        &self,
        backend: &B,
        ask: &Ambiguity,
        workdir: &Workdir,
    ) -> Result<ServerLease, (BackendError, Option<Instant>)> {
        let gate = self.gate(workdir);
        let _gate = gate.lock().await;
        let current = self.workdirs()[workdir].current;
        let server = match current {
            // The current server is held by a lease (the last release forgets it).
            Some(server) => {
                point!("lease.shared");
                server
            }
            None => {
                // A close that failed may land later: never lease such a server again.
                self.close_unclosed_locked(backend, ask, workdir)
                    .await
                    .map_err(|e| (e, None))?;
                ask.ask(backend.ensure_server(workdir))
                    .await
                    .map_err(|(e, settles)| (e, Some(settles)))?
            }
        };
        let mut workdirs = self.workdirs();
        let entry = workdirs.get_mut(workdir).expect("entry made by gate()");
        if entry.retired.contains(&server) {
            // Still held by other leases, so still the workdir's running server: the backend
            // has no other to give. It stays retired, and the next lease asks again.
            point!("lease.retired_server_handed_back");
        } else {
            entry.current = Some(server);
        }
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
        ask: &Ambiguity,
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
                point!("lease.released_shared");
                return Ok(());
            }
            entry.leases.remove(&server);
            entry.retired.remove(&server);
            if entry.current == Some(server) {
                entry.current = None;
            }
            // The manager's until closed, as in `close_unclosed`: an eviction that gives up
            // while the close is in flight still reports it.
            entry.unclosed.insert(server);
        }
        point!("lease.last_release_closed");
        self.close_kept(backend, ask, server, &workdir)
            .await
            .inspect_err(|_| point!("lease.close_failed_remembered"))
    }

    /// The workdir's current server may be dead: the next lease asks the backend again
    /// (`ensure_server` hands back the same server if it is still running).
    pub(crate) fn suspect(&self, workdir: &Workdir, server: ServerId) {
        if let Some(entry) = self.workdirs().get_mut(workdir)
            && entry.current == Some(server)
        {
            point!("lease.dead_server_replaced");
            entry.current = None;
        }
    }

    /// Retires `server`: new leases on `workdir` no longer go to it, and its last release
    /// closes it (as for any server), so the sessions other leases hold on it keep running.
    pub(crate) fn retire(&self, workdir: &Workdir, server: ServerId) {
        if let Some(entry) = self.workdirs().get_mut(workdir) {
            if entry.current == Some(server) {
                entry.current = None;
            }
            if entry.leases.contains_key(&server) {
                point!("lease.retired");
                entry.retired.insert(server);
            }
        }
    }

    /// Tries again to close the servers of `workdir` whose close failed.
    pub(crate) async fn close_unclosed<B: SessionBackend>(
        &self,
        backend: &B,
        ask: &Ambiguity,
        workdir: &Workdir,
    ) -> Result<(), BackendError> {
        let gate = self.gate(workdir);
        let _gate = gate.lock().await;
        self.close_unclosed_locked(backend, ask, workdir).await
    }

    /// [`Self::close_unclosed`], with the workdir's gate held.
    async fn close_unclosed_locked<B: SessionBackend>(
        &self,
        backend: &B,
        ask: &Ambiguity,
        workdir: &Workdir,
    ) -> Result<(), BackendError> {
        // A server stays the manager's (and in its snapshot) until its close succeeds: one
        // whose close is still in flight is running, and an eviction that gives up meanwhile
        // must still report it.
        let unclosed: Vec<ServerId> = self
            .workdirs()
            .get(workdir)
            .map(|entry| entry.unclosed.iter().copied().collect())
            .unwrap_or_default();
        let mut outcome = Ok(());
        for server in unclosed {
            match self.close_kept(backend, ask, server, workdir).await {
                Ok(()) => point!("lease.unclosed_closed_before_ensure"),
                Err(e) => outcome = Err(e),
            }
        }
        outcome
    }

    /// Once an ambiguous `ensure_server` can no longer land (the caller waits for that),
    /// closes every running server that no lease holds and that is not the one new leases go
    /// to: one it started without the manager hearing of it. A listing names every workdir's
    /// servers, and each workdir's are judged under its own gate, one gate at a time.
    pub(crate) async fn reap_unowned<B: SessionBackend>(
        &self,
        backend: &B,
        ask: &Ambiguity,
    ) -> Result<(), BackendError> {
        // What the manager held before the listing was asked for: a server it failed to close
        // then and that the listing does not name is closed (ids are never reused), and one it
        // leased then is its own, whatever happened to it since.
        let before: BTreeMap<Workdir, (BTreeSet<ServerId>, BTreeSet<ServerId>)> = self
            .workdirs()
            .iter()
            .map(|(w, e)| {
                let held = e.leases.keys().copied().chain(e.current).collect();
                (w.clone(), (e.unclosed.clone(), held))
            })
            .collect();
        let running = ask.ask(backend.list_servers()).await.map_err(|(e, _)| e)?;
        let workdirs: BTreeSet<&Workdir> = running
            .iter()
            .map(|(_, w)| w)
            .chain(
                before
                    .iter()
                    .filter(|(_, (u, _))| !u.is_empty())
                    .map(|(w, _)| w),
            )
            .collect();
        let mut outcome = Ok(());
        for w in workdirs {
            let gate = self.gate(w);
            let _gate = gate.lock().await;
            let none = Default::default();
            let (unclosed_before, held_before) = before.get(w).unwrap_or(&none);
            let unowned: Vec<ServerId> = {
                let mut all = self.workdirs();
                let entry = all.get_mut(w).expect("entry made by gate()");
                // A close the manager gave up on (a lost reply) may have landed.
                for server in unclosed_before
                    .iter()
                    .filter(|s| !running.iter().any(|(r, _)| r == *s))
                {
                    if entry.unclosed.remove(server) {
                        point!("lease.unclosed_found_closed");
                    }
                }
                let unowned: Vec<ServerId> = running
                    .iter()
                    .filter(|(server, sw)| {
                        sw == w
                            && !held_before.contains(server)
                            && entry.current != Some(*server)
                            && !entry.leases.contains_key(server)
                    })
                    .map(|(server, _)| *server)
                    .collect();
                // The manager's until closed, as in `close_unclosed`: an eviction that gives
                // up while the close is in flight still reports it.
                entry.unclosed.extend(unowned.iter().copied());
                unowned
            };
            for server in unowned {
                point!("lease.unowned_server_closed");
                if let Err(e) = self.close_kept(backend, ask, server, w).await {
                    outcome = Err(e);
                }
            }
        }
        outcome
    }

    /// Closes a server the manager keeps in `unclosed`; once that succeeds, it is no longer
    /// the manager's.
    async fn close_kept<B: SessionBackend>(
        &self,
        backend: &B,
        ask: &Ambiguity,
        server: ServerId,
        workdir: &Workdir,
    ) -> Result<(), BackendError> {
        close(backend, ask, server).await?;
        self.forget_closed(server, workdir);
        Ok(())
    }

    /// A server whose close succeeded is no longer the manager's.
    fn forget_closed(&self, server: ServerId, workdir: &Workdir) {
        if let Some(entry) = self.workdirs().get_mut(workdir) {
            entry.unclosed.remove(&server);
        }
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
