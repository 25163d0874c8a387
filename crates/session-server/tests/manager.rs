//! The production manager on real session servers (`HttpBackend`): after every step the
//! session processes on this machine (found under /proc by their environment markers) are
//! exactly the sessions the manager tracks; after an eviction none remain, nor any server.
//! Bounded in time, 127.0.0.1 only; the backend kills every process group it started when it
//! is dropped, also when a test fails.

use std::time::Duration;

use agent_lifecycle::{AgentId, Lifecycle, StartRequest, Workdir};

mod real;
use real::{
    manager_on_real_sessions, no_leak_after, nothing_left_under, servers_under as server_processes,
    sessions_under as session_processes, tracked,
};

fn start(agent: &str, workdir: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new(workdir),
        prompt: format!("work for {agent}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_restart_stop_and_evict_leave_exactly_the_tracked_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let run = async {
        let m = manager_on_real_sessions(&root, 50);
        m.start(start("a0", "w0")).await.unwrap();
        m.start(start("a1", "w0")).await.unwrap();
        m.start(start("a2", "w1")).await.unwrap();
        no_leak_after("a step", &m, &root).await;
        assert_eq!(session_processes(&root).len(), 3);
        assert_eq!(server_processes(&root), 2);

        // A restart replaces a0's session with a new process.
        let before = session_processes(&root);
        m.start(start("a0", "w0")).await.unwrap();
        no_leak_after("a step", &m, &root).await;
        let after = session_processes(&root);
        assert_eq!(after.len(), 3);
        assert_ne!(before, after, "a restart makes a new session process");

        m.stop(&AgentId::new("a1")).await.unwrap();
        no_leak_after("a step", &m, &root).await;
        assert_eq!(tracked(&m), ["a0", "a2"]);

        // Concurrent starts of one agent: one session survives.
        let (x, y) = tokio::join!(m.start(start("a2", "w1")), m.start(start("a2", "w1")));
        assert!(x.is_ok() || y.is_ok(), "{x:?} {y:?}");
        no_leak_after("a step", &m, &root).await;

        m.evict().await.unwrap();
        no_leak_after("a step", &m, &root).await;
        nothing_left_under(&root).await;
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the test ends within a minute");
    // Whatever happened, nothing of this test runs any more (the backend, dropped with the
    // manager, killed its process groups).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(session_processes(&root), []);
}
