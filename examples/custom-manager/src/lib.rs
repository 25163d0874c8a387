//! A lifecycle manager written the way a first try often is, outside the harness's crate, and
//! the subject that lets the harness judge it: explore, replay, shrink and regression tests
//! all run it through `lifecycle_sim`'s public API, and `src/main.rs` is the harness's CLI on
//! it.
//!
//! Its flaw is #1341's in miniature: a restart stops the record it finds and installs its
//! own, but a startup still waiting for its session is not a record yet, so nothing stops it;
//! its session lands later and overwrites the restart's record, and the restart's session is
//! left live with nothing tracking it.

pub mod messaging;
pub mod screened;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

// Everything comes from the harness, the manager trait and its types included: one dependency.
use lifecycle_sim::{
    AgentId, AgentSnapshot, FakeBackend, Lifecycle, LifecycleError, Manager, ManagerConfig,
    ServerId, ServerSnapshot, SessionBackend, SessionId, Snapshot, StartRequest, Status, View,
    Workdir, bounded,
};

struct Record {
    incarnation: u64,
    status: Status,
    server: ServerId,
    session: SessionId,
}

#[derive(Default)]
struct State {
    records: BTreeMap<AgentId, Record>,
    /// Sessions counted on each server, with its workdir.
    counts: BTreeMap<ServerId, (Workdir, i64)>,
    incarnations: u64,
}

/// Starts, stops and evicts with no ordering between calls on one agent.
pub struct NaiveManager<B> {
    backend: B,
    config: ManagerConfig,
    state: Arc<Mutex<State>>,
}

impl<B: SessionBackend> NaiveManager<B> {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets `agent`'s record, aborts its session and closes its server if that was the
    /// last session counted on it.
    async fn stop_record(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        let Some((server, session, last)) = ({
            let mut state = self.state();
            state.records.remove(agent).map(|r| {
                let count = state.counts.get_mut(&r.server).map(|(_, n)| {
                    *n -= 1;
                    *n
                });
                if count == Some(0) {
                    state.counts.remove(&r.server);
                }
                (r.server, r.session, count == Some(0))
            })
        }) else {
            return Ok(());
        };
        let timeout = self.config.call_timeout;
        bounded(timeout, self.backend.abort_session(session)).await?;
        if last {
            bounded(timeout, self.backend.close_server(server)).await?;
        }
        Ok(())
    }
}

impl<B: SessionBackend> Lifecycle<B> for NaiveManager<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            backend,
            config,
            state: Arc::default(),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        // A restart: stop what is recorded (a startup still in flight is not recorded yet).
        self.stop_record(&request.agent).await?;
        let timeout = self.config.call_timeout;
        let server = bounded(timeout, self.backend.ensure_server(&request.workdir)).await?;
        let session = bounded(timeout, self.backend.create_session(server, &request.agent)).await?;
        {
            let mut state = self.state();
            state.incarnations += 1;
            let incarnation = state.incarnations;
            state
                .counts
                .entry(server)
                .or_insert_with(|| (request.workdir.clone(), 0))
                .1 += 1;
            // Whatever record a concurrent start installed meanwhile is overwritten.
            let replaced = state.records.insert(
                request.agent.clone(),
                Record {
                    incarnation,
                    status: Status::Running,
                    server,
                    session,
                },
            );
            if let Some(old) = replaced
                && let Some((_, n)) = state.counts.get_mut(&old.server)
            {
                *n -= 1;
            }
        }
        bounded(timeout, self.backend.prompt(session, &request.prompt)).await?;
        Ok(())
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.stop_record(agent).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        let agents: Vec<AgentId> = self.state().records.keys().cloned().collect();
        for agent in agents {
            self.stop_record(&agent).await?;
        }
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let state = self.state();
        Snapshot {
            agents: state
                .records
                .iter()
                .map(|(agent, r)| AgentSnapshot {
                    agent: agent.clone(),
                    incarnation: r.incarnation,
                    status: r.status,
                    session: Some(r.session),
                    suspect_on: None,
                })
                .collect(),
            servers: state
                .counts
                .iter()
                .map(|(server, (workdir, count))| ServerSnapshot {
                    workdir: workdir.clone(),
                    server: *server,
                    count: *count,
                })
                .collect(),
            side: Vec::new(),
        }
    }
}

/// This crate's own invariant: every live record's session runs on a server the manager
/// counts (a record whose server it forgot could never be closed).
pub fn records_on_counted_servers(view: &View) -> Result<(), String> {
    for r in &view.snapshot.agents {
        if r.status.is_terminal() {
            continue;
        }
        let Some(session) = r.session else { continue };
        let Some(live) = view.ledger.session(session) else {
            continue;
        };
        if !view
            .snapshot
            .servers
            .iter()
            .any(|s| s.server == live.server)
        {
            return Err(format!(
                "agent {}'s record runs {session} on {}, which the manager does not count",
                r.agent, live.server
            ));
        }
    }
    Ok(())
}

/// The naive manager as the harness's subject, with its own invariant.
pub fn naive() -> Manager<NaiveManager<FakeBackend>> {
    Manager::new("naive")
        .about("a first try: a restart stops only what is recorded")
        .invariant("records-on-counted-servers", records_on_counted_servers)
}
