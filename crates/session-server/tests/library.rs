//! The library without the binary's CLI: a `Server` built with a chosen agent command, served
//! by `serve` in this test's runtime and stopped by the future handed to it.

mod common;

use common::{STEP, WHOLE, create, events, listed};
use hyper::Method;
use serde_json::json;
use session_server::{AgentCommand, Server, serve};
use tokio::net::TcpListener;
use tokio::time::timeout;

#[tokio::test]
async fn serve_runs_the_chosen_command_and_its_shutdown_future_kills_every_child() {
    let workdir = tempfile::tempdir().unwrap();
    let command = AgentCommand::new(
        env!("CARGO_BIN_EXE_session-server"),
        ["agent", "--work-ms", "20"],
    );
    let server = Server::new(workdir.path(), command);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // A task of the test's runtime: it ends with the test, and the children are kill_on_drop.
    let serving = tokio::spawn(serve(listener, server.clone(), async {
        let _ = stopped.await;
    }));
    timeout(WHOLE, async {
        let id = create(addr, "a0").await;
        let mut stream = events(addr, id).await.expect("a stream");
        let path = format!("/sessions/{id}/prompt");
        let (status, _) =
            common::call(addr, Method::POST, &path, Some(json!({ "text": "x" }))).await;
        assert_eq!(status, 200);
        assert_eq!(stream.next_in_time().await.expect("an event").event, "idle");
        assert_eq!(server.list().len(), 1);
        assert_eq!(listed(addr).await, vec![id]);

        let _ = stop.send(());
        assert_eq!(stream.next_in_time().await, None);
        timeout(STEP, serving)
            .await
            .expect("serve returns in time")
            .expect("serve did not panic")
            .expect("serve ended cleanly");
        assert!(server.list().is_empty());
        // Closed for good: no child may start after the server stopped.
        assert!(server.create("late").await.is_err());
        // The sessions were this test process's children: none is left.
        assert_eq!(common::session_processes(std::process::id()), Vec::new());
    })
    .await
    .expect("the test finished in time");
}
