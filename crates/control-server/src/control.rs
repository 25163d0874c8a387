//! What the control server keeps besides the manager: which dispatch each agent serves, the
//! registry of the agents it runs, and the boot hydration gate.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{
    AgentId, Gate, Lifecycle, LifecycleError, SessionBackend, StartRequest, Workdir,
};

use crate::api::{AgentState, StartBody};
use crate::registry::{NoRegistry, Registry};

/// What `POST /agents/{id}/stop` does first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopRoute {
    /// Ours: the agent is forgotten in the registry before anything else, so that neither a
    /// death during the stop nor boot hydration still running starts it again.
    ForgetsFirst,
    /// The real route (`docs/real-system.md` control server): 404 for an agent with
    /// no record, touching nothing; so a stop that comes while boot hydration has not yet
    /// started its agent does not stop hydration from starting it. Kept for the historical
    /// models.
    NotFoundFirst,
}

/// What the router serves: a lifecycle manager, which dispatch each agent serves, and the
/// registry that lets a restarted container take its agents up again.
pub struct Control<B, L> {
    pub(crate) lifecycle: Arc<L>,
    /// The dispatch of each agent's latest accepted start, until a stop or a failed start.
    serving: Mutex<BTreeMap<AgentId, String>>,
    registry: Box<dyn Registry>,
    /// The starts the registry holds: every agent accepted and not stopped or failed since.
    registered: Mutex<BTreeMap<AgentId, StartBody>>,
    /// How many starts of each agent are running.
    pub(crate) starting: Mutex<BTreeMap<AgentId, usize>>,
    /// Open once boot hydration has run: starts wait for it (LATEST's hydration gate), in
    /// the order they came.
    pub(crate) hydrated: Gate,
    pub(crate) stop_route: StopRoute,
    backend: PhantomData<fn() -> B>,
}

impl<B: SessionBackend, L: Lifecycle<B>> Control<B, L> {
    /// A control server with no registry: nothing survives a restart.
    pub fn new(lifecycle: Arc<L>) -> Arc<Self> {
        Self::with_registry(lifecycle, Box::new(NoRegistry))
    }

    /// A control server that records its agents in `registry` on every change. Starts wait
    /// until [`Control::hydrate`] has run.
    pub fn with_registry(lifecycle: Arc<L>, registry: Box<dyn Registry>) -> Arc<Self> {
        Self::with_stop_route(lifecycle, registry, StopRoute::ForgetsFirst)
    }

    /// As [`Control::with_registry`], with the stop route's order chosen.
    pub fn with_stop_route(
        lifecycle: Arc<L>,
        registry: Box<dyn Registry>,
        stop_route: StopRoute,
    ) -> Arc<Self> {
        let hydrated = Gate::closed();
        let control = Arc::new(Self {
            lifecycle,
            serving: Mutex::new(BTreeMap::new()),
            registry,
            registered: Mutex::new(BTreeMap::new()),
            starting: Mutex::new(BTreeMap::new()),
            hydrated,
            stop_route,
            backend: PhantomData,
        });
        if control.registry.is_none() {
            control.hydrated.open();
        }
        control
    }

    /// Boot hydration: starts, one after another, every agent the registry holds (what ran
    /// when the last container died without a drain), then opens the gate for new starts.
    /// Returns how many the registry held and the errors of those that did not start.
    pub async fn hydrate(&self) -> (usize, Vec<(String, String)>) {
        let held = match self.registry.load() {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!("registry unreadable, hydrating nothing: {e}");
                Vec::new()
            }
        };
        let mut failed = Vec::new();
        {
            let mut registered = self.registered();
            for body in &held {
                registered.insert(AgentId::new(&body.agent), body.clone());
            }
        }
        for body in &held {
            let agent = AgentId::new(&body.agent);
            // A stop that came while hydration ran (it answered 404: no record yet) forgot
            // the agent: it must not be started after all.
            if self.registered().get(&agent) != Some(body) {
                continue;
            }
            if let Err(e) = self.lifecycle.start(request_of(body)).await {
                self.unregister(&agent, body);
                failed.push((body.agent.clone(), e.to_string()));
            }
        }
        self.hydrated.open();
        (held.len(), failed)
    }

    /// Eviction (SIGTERM): stops everything, and empties the registry if nothing is left.
    pub async fn evict(&self) -> Result<(), LifecycleError> {
        let evicted = self.lifecycle.evict().await;
        if evicted.is_ok() {
            let mut registered = self.registered();
            registered.clear();
            self.save(&registered);
        }
        evicted
    }

    fn registered(&self) -> std::sync::MutexGuard<'_, BTreeMap<AgentId, StartBody>> {
        self.registered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records (or, with `None`, forgets) an agent's start, and writes the registry.
    pub(crate) fn register(&self, agent: &AgentId, start: Option<StartBody>) {
        let mut registered = self.registered();
        let changed = match start {
            Some(body) => registered.insert(agent.clone(), body.clone()) != Some(body),
            None => registered.remove(agent).is_some(),
        };
        if changed {
            self.save(&registered);
        }
    }

    /// Forgets the agent's start if the registry still holds this one (a later start of the
    /// agent registered its own).
    pub(crate) fn unregister(&self, agent: &AgentId, start: &StartBody) {
        let mut registered = self.registered();
        if registered.get(agent) == Some(start) {
            registered.remove(agent);
            self.save(&registered);
        }
    }

    /// Forgets the agents that finished on their own (an idle exit): their record is
    /// terminal and no start of theirs is running. Run after each start and each heartbeat.
    pub fn sync_registry(&self) {
        let snapshot = self.lifecycle.snapshot();
        let starting = self.starting();
        let mut registered = self.registered();
        let before = registered.len();
        registered.retain(|agent, _| {
            starting.get(agent).is_some_and(|n| *n > 0)
                || !snapshot
                    .agents
                    .iter()
                    .any(|r| &r.agent == agent && r.status.is_terminal())
        });
        if registered.len() != before {
            self.save(&registered);
        }
    }

    fn starting(&self) -> std::sync::MutexGuard<'_, BTreeMap<AgentId, usize>> {
        self.starting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, registered: &BTreeMap<AgentId, StartBody>) {
        let agents = registered.values().cloned().collect();
        if let Err(e) = self.registry.save(agents) {
            tracing::warn!("registry not written: {e}");
        }
    }

    pub fn lifecycle(&self) -> &Arc<L> {
        &self.lifecycle
    }

    pub(crate) fn serving(&self) -> std::sync::MutexGuard<'_, BTreeMap<AgentId, String>> {
        self.serving.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a start of the agent runs, or its record has not finished.
    pub(crate) fn is_live(&self, agent: &AgentId) -> bool {
        let starting = self.starting().contains_key(agent);
        starting
            || self
                .lifecycle
                .snapshot()
                .agents
                .iter()
                .any(|r| &r.agent == agent && !r.status.is_terminal())
    }

    pub(crate) fn state_of(&self, agent: &AgentId) -> Option<AgentState> {
        let snapshot = self.lifecycle.snapshot();
        snapshot
            .agents
            .iter()
            .find(|r| &r.agent == agent)
            .map(AgentState::of)
    }
}

pub(crate) fn request_of(body: &StartBody) -> StartRequest {
    StartRequest {
        agent: AgentId::new(&body.agent),
        workdir: Workdir::new(&body.workdir),
        prompt: body.prompt.clone(),
    }
}

/// One start counted as running, until it returns or its future is dropped (a caller that
/// went away drops the handler with it).
pub(crate) struct InFlight<'a> {
    counts: &'a Mutex<BTreeMap<AgentId, usize>>,
    agent: AgentId,
}

impl<'a> InFlight<'a> {
    pub(crate) fn count(counts: &'a Mutex<BTreeMap<AgentId, usize>>, agent: &AgentId) -> Self {
        *counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(agent.clone())
            .or_default() += 1;
        Self {
            counts,
            agent: agent.clone(),
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.agent) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.agent);
            }
        }
    }
}
