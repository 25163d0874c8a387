//! The production manager behind a request screen, with coverage points of its own: the
//! screen turns away a start with an empty prompt. The harness never sends one, so that point
//! can never be reached, and `explore --require-coverage` says so (tests/cli.rs). It stands for
//! a branch a change to a manager or to the workload made unreachable without anyone noticing.

use lifecycle_sim::point::{Point, p};
use lifecycle_sim::{
    AgentId, AgentManager, BackendError, FakeBackend, Lifecycle, LifecycleError, Manager,
    ManagerConfig, SessionBackend, Snapshot, StartRequest, point,
};

/// The screen's coverage points (its catalog; `point!` marks them in the code below).
pub const SCREEN_POINTS: &[Point] = &[
    p("screen.passed", "a start passed the screen"),
    p(
        "screen.empty_prompt_refused",
        "a start with an empty prompt was turned away",
    ),
];

pub struct Screened<B> {
    inner: AgentManager<B>,
}

impl<B: SessionBackend> Lifecycle<B> for Screened<B> {
    fn new(backend: B, config: ManagerConfig) -> Self {
        Self {
            inner: AgentManager::new(backend, config),
        }
    }

    async fn start(&self, request: StartRequest) -> Result<(), LifecycleError> {
        if request.prompt.is_empty() {
            point!("screen.empty_prompt_refused");
            return Err(LifecycleError::Backend(BackendError::Failed(
                "an empty prompt".into(),
            )));
        }
        point!("screen.passed");
        self.inner.start(request).await
    }

    async fn stop(&self, agent: &AgentId) -> Result<(), LifecycleError> {
        self.inner.stop(agent).await
    }

    async fn evict(&self) -> Result<(), LifecycleError> {
        self.inner.evict().await
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }
}

/// The screened manager as the harness's subject, its points declared.
pub fn screened() -> Manager<Screened<FakeBackend>> {
    Manager::new("screened")
        .about("the production manager behind a screen that turns away empty prompts")
        .points(SCREEN_POINTS.iter().copied())
}
