//! The production manager's other entry points (refresh, update, registry, hydrate) against a
//! small in-memory backend, in paused tokio time.

use std::time::Duration;

use agent_lifecycle::{
    AgentId, AgentManager, Lifecycle, LifecycleError, ManagerConfig, SessionId, SideKind,
    StartRequest, Status, Workdir,
};
use tokio::time::Instant;

mod support;

use support::Shared;

const IDLE: Duration = Duration::from_secs(60);

fn manager(backend: &Shared) -> AgentManager<Shared> {
    let config = ManagerConfig {
        call_timeout: Duration::from_secs(5),
        idle_timeout: IDLE,
        retry_pause: Duration::from_millis(100),
        request_lifetime: Duration::from_secs(10),
    };
    AgentManager::new(backend.clone(), config)
}

fn request(agent: &str, workdir: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new(workdir),
        prompt: format!("{agent}, go"),
    }
}

fn a(name: &str) -> AgentId {
    AgentId::new(name)
}

/// The manager's record of `agent`: (incarnation, status, session).
fn record(m: &AgentManager<Shared>, agent: &str) -> Option<(u64, Status, Option<SessionId>)> {
    m.snapshot()
        .agents
        .into_iter()
        .find(|r| r.agent == a(agent))
        .map(|r| (r.incarnation, r.status, r.session))
}

/// Every live session is exactly a Running record's session, and every server the manager
/// counts runs and counts the sessions tracked on it.
fn assert_tracked_is_live(m: &AgentManager<Shared>, backend: &Shared) {
    let snap = m.snapshot();
    let mut tracked: Vec<SessionId> = snap.agents.iter().filter_map(|r| r.session).collect();
    tracked.sort();
    let live: Vec<SessionId> = backend.live_sessions().iter().map(|s| s.0).collect();
    assert_eq!(tracked, live, "tracked sessions are not the live ones");
    let open = backend.open_servers();
    for server in &snap.servers {
        assert!(
            open.contains(&server.server),
            "{} is counted, not running",
            server.server
        );
        let on = backend
            .live_sessions()
            .iter()
            .filter(|s| s.2 == server.server)
            .count();
        assert_eq!(server.count, on as i64, "{} miscounted", server.server);
    }
    assert_eq!(
        open.len(),
        snap.servers.len(),
        "a running server nobody counts"
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_moves_a_running_agent_onto_a_fresh_server_with_one_live_session() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    let (first, _, old_session) = record(&m, "a0").unwrap();
    let old_server = backend.open_servers()[0];

    assert_eq!(m.refresh().await, Ok(()));

    let (incarnation, status, session) = record(&m, "a0").unwrap();
    assert!(incarnation > first, "refresh made no new incarnation");
    assert_eq!(status, Status::Running);
    let live = backend.live_sessions();
    assert_eq!(live.len(), 1, "exactly one live session: {live:?}");
    assert_eq!(Some(live[0].0), session);
    assert_ne!(session, old_session);
    assert_ne!(live[0].2, old_server, "the session is on the old server");
    assert_eq!(
        backend.open_servers(),
        vec![live[0].2],
        "the old server still runs"
    );
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn a_refreshed_agent_is_idle_and_exits_after_the_idle_timeout() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    // A started agent is working: no idle event, so no timer.
    assert!(
        m.snapshot()
            .side
            .iter()
            .all(|s| s.kind != SideKind::IdleTimer)
    );
    m.refresh().await.unwrap();
    let (incarnation, ..) = record(&m, "a0").unwrap();
    let timers: Vec<u64> = m
        .snapshot()
        .side
        .iter()
        .filter(|s| s.kind == SideKind::IdleTimer)
        .map(|s| s.incarnation)
        .collect();
    assert_eq!(timers, vec![incarnation], "the restarted session's timer");

    tokio::time::sleep(IDLE + Duration::from_millis(1)).await;
    assert_eq!(record(&m, "a0").unwrap().1, Status::Exited);
    assert!(backend.live_sessions().is_empty());
    assert!(backend.open_servers().is_empty());
}

#[tokio::test(start_paused = true)]
async fn refresh_leaves_a_starting_agent_alone_and_does_not_wait_for_it() {
    let backend = Shared::default();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let m = manager(&backend);
    let began = Instant::now();
    let (started, refreshed) = tokio::join!(m.start(request("a0", "w0")), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let refreshed = m.refresh().await;
        (refreshed, began.elapsed(), record(&m, "a0").unwrap().1)
    });
    assert_eq!(started, Ok(()));
    let (refreshed, at, status_then) = refreshed;
    assert_eq!(refreshed, Ok(()));
    assert_eq!(
        at,
        Duration::from_millis(10),
        "the refresh waited for the start"
    );
    assert_eq!(status_then, Status::Starting);
    // The start's own incarnation runs: nothing restarted it.
    let (incarnation, status, _) = record(&m, "a0").unwrap();
    assert_eq!((incarnation, status), (1, Status::Running));
    assert_eq!(backend.with(|b| b.sessions.len()), 1);
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn refresh_moves_the_agents_of_a_shared_workdir_together_onto_one_fresh_server() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "shared")).await.unwrap();
    m.start(request("a1", "shared")).await.unwrap();
    let old_server = backend.open_servers()[0];

    m.refresh().await.unwrap();

    let live = backend.live_sessions();
    assert_eq!(live.len(), 2);
    assert_eq!(live[0].2, live[1].2, "one server per workdir");
    assert_ne!(live[0].2, old_server);
    assert_eq!(backend.open_servers(), vec![live[0].2]);
    assert_eq!(m.snapshot().servers[0].count, 2);
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn a_refresh_whose_restart_fails_ends_the_agent_failed_holding_nothing() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    m.start(request("a1", "w1")).await.unwrap();
    backend.with(|b| b.failing_creates = 1);

    let refreshed = m.refresh().await;

    assert!(
        matches!(refreshed, Err(LifecycleError::Backend(_))),
        "{refreshed:?}"
    );
    let statuses: Vec<Status> = ["a0", "a1"]
        .iter()
        .map(|n| record(&m, n).unwrap().1)
        .collect();
    assert!(statuses.contains(&Status::Failed), "{statuses:?}");
    assert!(statuses.contains(&Status::Running), "{statuses:?}");
    assert_eq!(backend.live_sessions().len(), 1);
    assert_eq!(
        backend.open_servers().len(),
        1,
        "the failed agent's servers closed"
    );
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn update_of_an_agent_not_running_is_not_running() {
    let backend = Shared::default();
    let m = manager(&backend);
    assert_eq!(
        m.update(&a("nobody"), "m2").await,
        Err(LifecycleError::NotRunning)
    );
    m.start(request("a0", "w0")).await.unwrap();
    m.stop(&a("a0")).await.unwrap();
    assert_eq!(
        m.update(&a("a0"), "m2").await,
        Err(LifecycleError::NotRunning)
    );
    assert!(backend.live_sessions().is_empty());
}

#[tokio::test(start_paused = true)]
async fn update_moves_the_agent_to_a_new_server_and_the_registry_keeps_its_config() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    let old_server = backend.open_servers()[0];
    assert_eq!(m.registry(), vec![request("a0", "w0")]);

    m.update(&a("a0"), "model-b").await.unwrap();

    let live = backend.live_sessions();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].2, old_server);
    assert_eq!(backend.open_servers(), vec![live[0].2]);
    let registry = m.registry();
    assert_eq!(registry.len(), 1);
    assert!(registry[0].prompt.contains("model-b"), "{registry:?}");

    // The next boot gets the config back: its registry is the same.
    let next = Shared::default();
    let rebooted = manager(&next);
    rebooted.hydrate(registry.clone()).await.unwrap();
    assert_eq!(rebooted.registry(), registry);
    assert_eq!(next.live_sessions().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn update_leaves_the_other_agents_on_the_old_server_running() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "shared")).await.unwrap();
    m.start(request("a1", "shared")).await.unwrap();
    let a1_session = record(&m, "a1").unwrap().2.unwrap();

    m.update(&a("a0"), "model-b").await.unwrap();

    assert!(
        backend.live_sessions().iter().any(|s| s.0 == a1_session),
        "the update killed another agent's session"
    );
    assert_eq!(record(&m, "a0").unwrap().1, Status::Running);
    assert_tracked_is_live(&m, &backend);
    // Once the last of them leaves, the retired server closes.
    m.stop(&a("a1")).await.unwrap();
    m.stop(&a("a0")).await.unwrap();
    assert!(backend.open_servers().is_empty());
    assert!(m.snapshot().servers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn update_waits_for_a_start_in_flight_then_applies_to_what_it_started() {
    let backend = Shared::default();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let m = manager(&backend);
    let (started, updated) = tokio::join!(m.start(request("a0", "w0")), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.update(&a("a0"), "model-b").await
    });
    assert_eq!(started, Ok(()), "the update cancelled the start");
    assert_eq!(updated, Ok(()));
    let (incarnation, status, _) = record(&m, "a0").unwrap();
    assert!(incarnation > 1);
    assert_eq!(status, Status::Running);
    assert!(m.registry()[0].prompt.contains("model-b"));
    assert_eq!(backend.live_sessions().len(), 1);
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_an_update_wins_and_leaves_nothing_live() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let a0 = a("a0");
    let (updated, stopped) = tokio::join!(m.update(&a0, "model-b"), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.stop(&a("a0")).await
    });
    assert_eq!(updated, Err(LifecycleError::Cancelled));
    assert_eq!(stopped, Ok(()));
    assert_eq!(record(&m, "a0").unwrap().1, Status::Exited);
    assert!(backend.live_sessions().is_empty());
    assert!(backend.open_servers().is_empty());
    assert!(m.registry().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_registry_lists_the_starting_and_running_agents_in_agent_order() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a2", "w2")).await.unwrap();
    m.start(request("a0", "w0")).await.unwrap();
    m.start(request("a1", "w1")).await.unwrap();
    m.stop(&a("a1")).await.unwrap();
    assert_eq!(m.registry(), vec![request("a0", "w0"), request("a2", "w2")]);

    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let (_, during) = tokio::join!(m.start(request("a1", "w1")), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.registry().len()
    });
    assert_eq!(during, 3, "a Starting agent is registered");
}

#[tokio::test(start_paused = true)]
async fn the_registry_keeps_an_agent_while_its_restart_is_in_flight() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    // The old session's abort is slow: the old record is Stopping, the new one not yet made.
    backend.with(|b| b.abort_delay = Duration::from_millis(50));
    let (_, during) = tokio::join!(m.refresh(), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        (m.registry(), record(&m, "a0").unwrap().1)
    });
    assert_eq!(during, (vec![request("a0", "w0")], Status::Stopping));
}

#[tokio::test(start_paused = true)]
async fn hydrate_skips_an_agent_stopped_or_started_since_boot() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.stop(&a("a0")).await.unwrap();
    let mut newer = request("a1", "w1");
    newer.prompt = "newer".into();
    m.start(newer.clone()).await.unwrap();

    let registry = vec![
        request("a0", "w0"),
        request("a1", "w1"),
        request("a2", "w2"),
    ];
    assert_eq!(m.hydrate(registry).await, Ok(()));

    assert_eq!(record(&m, "a0"), None, "a stopped agent was resurrected");
    assert_eq!(m.registry(), vec![newer, request("a2", "w2")]);
    assert_eq!(backend.live_sessions().len(), 2);
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn hydration_starts_run_at_once_and_a_start_meanwhile_waits_for_none_of_them() {
    let backend = Shared::default();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let m = manager(&backend);
    let began = Instant::now();
    let registry = (0..4).map(|i| request(&format!("a{i}"), &format!("w{i}")));
    let (hydrated, other) = tokio::join!(m.hydrate(registry.collect()), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = m.start(request("b", "wb")).await;
        (started, began.elapsed())
    });
    assert_eq!(hydrated, Ok(()));
    assert_eq!(began.elapsed(), Duration::from_millis(60));
    assert_eq!(other, (Ok(()), Duration::from_millis(60)));
    assert_eq!(backend.live_sessions().len(), 5);
    assert_tracked_is_live(&m, &backend);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_hydration_wins_over_the_hydration_start() {
    let backend = Shared::default();
    backend.with(|b| b.create_delay = Duration::from_millis(50));
    let m = manager(&backend);
    let (hydrated, stopped) = tokio::join!(m.hydrate(vec![request("a0", "w0")]), async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        m.stop(&a("a0")).await
    });
    assert_eq!(hydrated, Ok(()), "a cancelled hydration start is no error");
    assert_eq!(stopped, Ok(()));
    assert_eq!(record(&m, "a0").unwrap().1, Status::Exited);
    assert!(backend.live_sessions().is_empty());
    assert!(m.registry().is_empty());
}

#[tokio::test(start_paused = true)]
async fn nothing_new_is_accepted_once_the_eviction_began() {
    let backend = Shared::default();
    let m = manager(&backend);
    m.start(request("a0", "w0")).await.unwrap();
    m.evict().await.unwrap();
    assert_eq!(m.refresh().await, Err(LifecycleError::Evicting));
    assert_eq!(m.update(&a("a0"), "m").await, Err(LifecycleError::Evicting));
    assert_eq!(
        m.hydrate(vec![request("a1", "w1")]).await,
        Err(LifecycleError::Evicting)
    );
    assert!(backend.live_sessions().is_empty());
    assert!(m.registry().is_empty());
}
