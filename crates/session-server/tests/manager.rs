//! The production manager on real session servers (`HttpBackend`): after every step the
//! session processes on this machine (found under /proc by their environment markers) are
//! exactly the sessions the manager tracks; after an eviction none remain, nor any server.
//! Bounded in time, 127.0.0.1 only; the backend kills every process group it started when it
//! is dropped, also when a test fails.

use std::path::Path;
use std::time::Duration;

use agent_lifecycle::{AgentId, AgentManager, Lifecycle, ManagerConfig, StartRequest, Workdir};
use session_server::{HttpBackend, HttpBackendConfig};

mod procs;
use procs::{servers_under as server_processes, sessions_under as session_processes};

/// The agents the manager tracks a session for, sorted.
fn tracked(manager: &AgentManager<HttpBackend>) -> Vec<String> {
    let mut agents: Vec<String> = manager
        .snapshot()
        .agents
        .iter()
        .filter(|r| !r.status.is_terminal() && r.session.is_some())
        .map(|r| r.agent.to_string())
        .collect();
    agents.sort();
    agents
}

/// Waits (bounded) until the processes match what the manager tracks: a killed process may
/// take a moment to leave /proc.
async fn processes_match(manager: &AgentManager<HttpBackend>, root: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let running: Vec<String> = session_processes(root)
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        let mut running = running;
        running.sort();
        if running == tracked(manager) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "processes {running:?}, tracked {:?}",
            tracked(manager)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn start(agent: &str, workdir: &str) -> StartRequest {
    StartRequest {
        agent: AgentId::new(agent),
        workdir: Workdir::new(workdir),
        prompt: format!("work for {agent}"),
    }
}

fn manager(root: &Path) -> AgentManager<HttpBackend> {
    let backend = HttpBackend::new(HttpBackendConfig {
        binary: env!("CARGO_BIN_EXE_session-server").into(),
        work_ms: 50,
        call_timeout: Duration::from_secs(5),
        root: root.to_path_buf(),
    });
    AgentManager::new(
        backend,
        ManagerConfig {
            call_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            retry_pause: Duration::from_millis(50),
            request_lifetime: Duration::from_secs(6),
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_restart_stop_and_evict_leave_exactly_the_tracked_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let run = async {
        let m = manager(&root);
        m.start(start("a0", "w0")).await.unwrap();
        m.start(start("a1", "w0")).await.unwrap();
        m.start(start("a2", "w1")).await.unwrap();
        processes_match(&m, &root).await;
        assert_eq!(session_processes(&root).len(), 3);
        assert_eq!(server_processes(&root), 2);

        // A restart replaces a0's session with a new process.
        let before = session_processes(&root);
        m.start(start("a0", "w0")).await.unwrap();
        processes_match(&m, &root).await;
        let after = session_processes(&root);
        assert_eq!(after.len(), 3);
        assert_ne!(before, after, "a restart makes a new session process");

        m.stop(&AgentId::new("a1")).await.unwrap();
        processes_match(&m, &root).await;
        assert_eq!(tracked(&m), ["a0", "a2"]);

        // Concurrent starts of one agent: one session survives.
        let (x, y) = tokio::join!(m.start(start("a2", "w1")), m.start(start("a2", "w1")));
        assert!(x.is_ok() || y.is_ok(), "{x:?} {y:?}");
        processes_match(&m, &root).await;

        m.evict().await.unwrap();
        processes_match(&m, &root).await;
        assert_eq!(session_processes(&root), []);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while server_processes(&root) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a server outlived the eviction"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the test ends within a minute");
    // Whatever happened, nothing of this test runs any more (the backend, dropped with the
    // manager, killed its process groups).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(session_processes(&root), []);
}
