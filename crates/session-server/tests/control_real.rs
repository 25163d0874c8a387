//! The end-to-end leak test: the production manager behind the control server, on real
//! session servers and processes, under a scripted burst of concurrent starts, restarts,
//! stops and an eviction, all over real TCP on 127.0.0.1. After every step the session
//! processes (counted from /proc by their markers) are exactly the sessions the manager
//! tracks; after the eviction none remain, nor any server. Bounded in time; everything the
//! test started is killed when the backend is dropped, also when it fails.

use std::sync::Arc;
use std::time::Duration;

use control_server::{Control, ControlClient, StartBody, router};
use tokio::net::{TcpListener, TcpStream};

mod real;
use real::{
    manager_on_real_sessions, no_leak_after, nothing_left_under, servers_under as server_processes,
    sessions_under as session_processes, tracked,
};

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
    let manager = Arc::new(manager_on_real_sessions(&root, 30));
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
        no_leak_after("three starts at once", &manager, &root).await;
        assert_eq!(tracked(&manager), ["a0", "a1", "a2"]);

        // Two restarts of a0 racing each other, and a new agent.
        let _ = tokio::join!(start("a0", "w0"), start("a0", "w0"), start("a3", "w1"));
        no_leak_after("two restarts of a0 and a start of a3", &manager, &root).await;

        // A stop racing a start of the same agent: whichever wins, nothing leaks.
        let _ = tokio::join!(stop("a1"), start("a1", "w0"));
        no_leak_after("a stop racing a start of a1", &manager, &root).await;

        // A stop, a restart during it, and another stop.
        let _ = tokio::join!(stop("a0"), start("a2", "w1"), stop("a3"));
        no_leak_after("stops of a0 and a3 and a restart of a2", &manager, &root).await;

        // An eviction while a start is on its way.
        let (evicted, _) = tokio::join!(control.evict(), start("a4", "w0"));
        assert!(evicted.is_ok(), "{evicted:?}");
        no_leak_after("an eviction racing a start", &manager, &root).await;
        nothing_left_under(&root).await;
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
