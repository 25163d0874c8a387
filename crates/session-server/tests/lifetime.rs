//! How the server ends, and that its sessions end with it: `POST /shutdown`, SIGTERM, and
//! SIGKILL of its process group (a container runtime's kill). Each test checks /proc for any
//! process still carrying the server's marker.

mod common;

use common::{
    Running, WHOLE, create, events, eventually, session_processes, wait_for_session_processes,
};
use hyper::Method;
use serde_json::json;
use tokio::time::timeout;

async fn three_sessions(server: &Running) {
    for agent in ["a0", "a1", "a2"] {
        create(server.addr, agent).await;
    }
    wait_for_session_processes(server.pid, 3).await;
}

#[tokio::test]
async fn shutdown_over_http_kills_every_child_and_exits_0() {
    let workdir = tempfile::tempdir().unwrap();
    let mut server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        three_sessions(&server).await;
        let mut stream = events(server.addr, 1).await.expect("a stream");
        let (status, body) = server.call(Method::POST, "/shutdown", None).await;
        assert_eq!((status, body), (200, json!({})));
        // An open event stream does not hold the server up: it ends with its session.
        assert_eq!(stream.next_in_time().await, None);
        assert!(server.exited().await.success());
        assert_eq!(session_processes(server.pid), Vec::new());
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn sigterm_kills_every_child_and_exits_0() {
    let workdir = tempfile::tempdir().unwrap();
    let mut server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        three_sessions(&server).await;
        server.signal(libc::SIGTERM, false);
        assert!(server.exited().await.success());
        assert_eq!(session_processes(server.pid), Vec::new());
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn sigkill_of_the_process_group_leaves_no_child() {
    let workdir = tempfile::tempdir().unwrap();
    let mut server = Running::start(workdir.path(), &[]).await;
    timeout(WHOLE, async {
        three_sessions(&server).await;
        server.signal(libc::SIGKILL, true);
        let status = server.exited().await;
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        // The children were in the server's group; once dead they are reparented and reaped
        // (a zombie awaiting its reaper has no environment and counts as gone).
        eventually("no session child is left", || {
            session_processes(server.pid).is_empty()
        })
        .await;
    })
    .await
    .expect("the test finished in time");
}

#[tokio::test]
async fn a_chosen_agent_command_runs_each_session() {
    let workdir = tempfile::tempdir().unwrap();
    // An agent that says idle at once, and names its session in an unrecognised line first.
    let script = r#"while read line; do echo "session $LIFECYCLE_SIM_SESSION"; echo idle; done"#;
    let mut server = Running::start(workdir.path(), &["sh", "-c", script]).await;
    timeout(WHOLE, async {
        let id = create(server.addr, "custom").await;
        let mut stream = events(server.addr, id).await.expect("a stream");
        let path = format!("/sessions/{id}/prompt");
        let (status, _) = server
            .call(Method::POST, &path, Some(json!({ "text": "go" })))
            .await;
        assert_eq!(status, 200);
        assert_eq!(stream.next_in_time().await.expect("an event").event, "idle");
        let children = session_processes(server.pid);
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].agent, "custom");
        let (status, _) = server.call(Method::POST, "/shutdown", None).await;
        assert_eq!(status, 200);
        assert!(server.exited().await.success());
        assert_eq!(session_processes(server.pid), Vec::new());
    })
    .await
    .expect("the test finished in time");
}
