//! The production manager against a small in-memory backend, in paused tokio time. The
//! simulation harness (sim/) explores interleavings; these pin the basic contract.

use std::time::Duration;

use agent_lifecycle::{
    AgentId, AgentManager, Lifecycle, LifecycleError, ManagerConfig, StartRequest, Status, Workdir,
};

mod support;

use support::Shared;

fn request(agent: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new("repo"),
        prompt: "go".into(),
    }
}

fn manager(backend: &Shared) -> AgentManager<Shared> {
    let config = ManagerConfig {
        call_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(60),
        retry_pause: Duration::from_millis(100),
        request_lifetime: Duration::from_secs(10),
    };
    AgentManager::new(backend.clone(), config)
}

#[tokio::test(start_paused = true)]
async fn stopping_an_unknown_agent_is_a_no_op() {
    let backend = Shared::default();
    let m = manager(&backend);
    assert_eq!(m.stop(&AgentId::new("nobody")).await, Ok(()));
    assert!(m.snapshot().agents.is_empty());
}

#[tokio::test(start_paused = true)]
async fn start_then_stop_leaves_nothing_running() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a")).await.unwrap();
    let snap = m.snapshot();
    assert_eq!(snap.agents[0].status, Status::Running);
    assert_eq!(snap.servers[0].count, 1);
    assert_eq!(
        backend.live_session_ids(),
        vec![snap.agents[0].session.unwrap()]
    );

    m.stop(&AgentId::new("a")).await.unwrap();
    assert_eq!(m.snapshot().agents[0].status, Status::Exited);
    assert!(m.snapshot().servers.is_empty());
    assert!(backend.live_session_ids().is_empty());
    assert_eq!(backend.open_servers().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_restart_during_a_slow_create_leaves_exactly_one_session() {
    let backend = Shared::default();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let m = manager(&backend);
    let (first, second) = tokio::join!(m.start(request("a")), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.start(request("a")).await
    });
    assert_eq!(first, Err(LifecycleError::Cancelled));
    assert_eq!(second, Ok(()));
    let snap = m.snapshot();
    assert_eq!(
        backend.live_session_ids(),
        vec![snap.agents[0].session.unwrap()]
    );
    assert_eq!(snap.servers[0].count, 1);
}

#[tokio::test(start_paused = true)]
async fn a_create_that_lies_is_reconciled() {
    let backend = Shared::default();
    backend.with(|b| b.lying_creates = 1);
    let m = manager(&backend);
    assert!(matches!(
        m.start(request("a")).await,
        Err(LifecycleError::Backend(_))
    ));
    assert!(
        backend.live_session_ids().is_empty(),
        "the orphan of the lying create survived"
    );
    assert_eq!(m.snapshot().agents[0].status, Status::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_abort_keeps_the_session_tracked_until_a_retry_succeeds() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a")).await.unwrap();
    backend.with(|b| b.failing_aborts = 1);
    assert!(m.stop(&AgentId::new("a")).await.is_err());
    let snap = m.snapshot();
    assert_eq!(snap.agents[0].status, Status::Stopping);
    assert_eq!(
        backend.live_session_ids(),
        vec![snap.agents[0].session.unwrap()]
    );

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(m.snapshot().agents[0].status, Status::Exited);
    assert!(backend.live_session_ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn eviction_stops_everything_and_refuses_new_starts() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a")).await.unwrap();
    m.start(request("b")).await.unwrap();
    m.evict().await.unwrap();
    assert!(backend.live_session_ids().is_empty());
    assert_eq!(backend.open_servers().len(), 0);
    assert_eq!(m.start(request("c")).await, Err(LifecycleError::Evicting));
}
