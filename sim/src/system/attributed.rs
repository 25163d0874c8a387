//! The container's own operations made workload operations: a start of boot hydration and
//! the eviction run outside any control request, so the manager is wrapped to number them,
//! show them in flight to the checker and attribute their backend calls, as the middleware
//! does for requests.

use std::future::Future;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{
    AgentId, Lifecycle, LifecycleError, ManagerConfig, RequestContext, Snapshot, StartRequest,
};

use super::control_host::{Pending, SharedRequests, agent_index, begin, record_end};
use crate::scenario::names::agent_of;
use crate::scenario::workload::OpKind;
use crate::world::World;
use crate::world::backend::FakeBackend;

pub struct Attributed<M> {
    inner: Arc<M>,
    world: Option<Arc<Mutex<World>>>,
    requests: SharedRequests,
}

impl<M: Lifecycle<FakeBackend>> Attributed<M> {
    pub fn around(inner: Arc<M>, world: Arc<Mutex<World>>, requests: SharedRequests) -> Self {
        Self {
            inner,
            world: Some(world),
            requests,
        }
    }

    /// Runs `call` as an operation of its own unless it runs inside one (a request).
    async fn own<F: Future<Output = Result<(), LifecycleError>>>(
        &self,
        kind: Option<OpKind>,
        hydration: bool,
        call: F,
    ) -> Result<(), LifecycleError> {
        let (Some(kind), Some(world), None) = (kind, &self.world, RequestContext::current()) else {
            return call.await;
        };
        let hydration = hydration && matches!(kind, OpKind::Start(_));
        let op = begin(world, &self.requests, kind, hydration);
        let mut pending = Pending::new(world.clone(), op);
        let context = RequestContext {
            id: u64::from(op),
            agent: agent_of(kind),
        };
        let result = context.scope(call).await;
        record_end(world, &self.requests, op, kind, None, result.clone());
        pending.done = true;
        result
    }
}

impl<M: Lifecycle<FakeBackend>> Lifecycle<FakeBackend> for Attributed<M> {
    /// Only for the trait: the system container wraps the manager it booted with `around`.
    fn new(backend: FakeBackend, config: ManagerConfig) -> Self {
        Self {
            inner: Arc::new(M::new(backend, config)),
            world: None,
            requests: SharedRequests::default(),
        }
    }

    fn start(
        &self,
        request: StartRequest,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        let kind = agent_index(&request.agent.to_string()).map(OpKind::Start);
        async move {
            let call = self.inner.start(request);
            // Outside a request, a start is boot hydration's.
            self.own(kind, true, call).await
        }
    }

    fn stop(&self, agent: &AgentId) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        let kind = agent_index(&agent.to_string()).map(OpKind::Stop);
        async move { self.own(kind, false, self.inner.stop(agent)).await }
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.own(Some(OpKind::Evict), false, self.inner.evict())
            .await
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }
}
