//! The end-to-end leak test: the production manager behind the control server, on real
//! session servers and processes, under a scripted burst of concurrent starts, restarts,
//! stops and an eviction, all over real TCP on 127.0.0.1. After every step the session
//! processes (counted from /proc by their markers) are exactly the sessions the manager
//! tracks; after the eviction none remain, nor any server. Bounded in time; everything the
//! test started is killed when the backend is dropped, also when it fails.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{AgentManager, Lifecycle, ManagerConfig};
use control_server::{Control, ControlClient, StartBody, router};
use session_server::{HttpBackend, HttpBackendConfig};
use tokio::net::{TcpListener, TcpStream};

mod procs;
use procs::{servers_under as server_processes, sessions_under as session_processes};

type Manager = AgentManager<HttpBackend>;

fn tracked(manager: &Manager) -> Vec<String> {
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

/// After a step: what runs is what the manager tracks (a killed process may take a moment
/// to leave /proc, so this waits, bounded).
async fn step_leaves_no_leak(step: &str, manager: &Manager, root: &Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut running: Vec<String> = session_processes(root)
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        running.sort();
        if running == tracked(manager) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after {step}: processes of {running:?}, but the manager tracks {:?}",
            tracked(manager)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn body(agent: &str, workdir: &str) -> StartBody {
    StartBody {
        agent: agent.into(),
        workdir: workdir.into(),
        prompt: format!("work for {agent}"),
        dispatch: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_control_calls_leaves_exactly_the_tracked_sessions_running() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let backend = HttpBackend::new(HttpBackendConfig {
        binary: env!("CARGO_BIN_EXE_session-server").into(),
        work_ms: 30,
        call_timeout: Duration::from_secs(5),
        root: root.clone(),
    });
    let manager = Arc::new(AgentManager::new(
        backend,
        ManagerConfig {
            call_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            retry_pause: Duration::from_millis(50),
            request_lifetime: Duration::from_secs(6),
        },
    ));
    let control = Control::new(manager.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(axum::serve(listener, router(control.clone())).into_future());
    let client = Arc::new(ControlClient::new(move || TcpStream::connect(addr)));

    let script = async {
        let start = |agent: &'static str, workdir: &'static str| {
            let client = client.clone();
            async move { client.start(&body(agent, workdir)).await.map(|_| ()) }
        };
        let stop = |agent: &'static str| {
            let client = client.clone();
            async move { client.stop(agent).await.map(|_| ()) }
        };

        let (a, b, c) = tokio::join!(start("a0", "w0"), start("a1", "w0"), start("a2", "w1"));
        assert!(a.is_ok() && b.is_ok() && c.is_ok(), "{a:?} {b:?} {c:?}");
        step_leaves_no_leak("three starts at once", &manager, &root).await;
        assert_eq!(tracked(&manager), ["a0", "a1", "a2"]);

        // Two restarts of a0 racing each other, and a new agent.
        let _ = tokio::join!(start("a0", "w0"), start("a0", "w0"), start("a3", "w1"));
        step_leaves_no_leak("two restarts of a0 and a start of a3", &manager, &root).await;

        // A stop racing a start of the same agent: whichever wins, nothing leaks.
        let _ = tokio::join!(stop("a1"), start("a1", "w0"));
        step_leaves_no_leak("a stop racing a start of a1", &manager, &root).await;

        // A stop, a restart during it, and another stop.
        let _ = tokio::join!(stop("a0"), start("a2", "w1"), stop("a3"));
        step_leaves_no_leak("stops of a0 and a3 and a restart of a2", &manager, &root).await;

        // An eviction while a start is on its way.
        let (evicted, _) = tokio::join!(control.evict(), start("a4", "w0"));
        assert!(evicted.is_ok(), "{evicted:?}");
        step_leaves_no_leak("an eviction racing a start", &manager, &root).await;
        assert_eq!(session_processes(&root), []);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while server_processes(&root) > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a session server outlived the eviction"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(60), script).await;
    serving.abort();
    drop((control, manager));
    finished.expect("the script ends within a minute");
    // Nothing this test started runs any more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(session_processes(&root), []);
    assert_eq!(server_processes(&root), 0);
}
