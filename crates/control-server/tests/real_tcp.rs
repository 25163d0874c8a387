//! The control API on a real TCP socket (127.0.0.1, an ephemeral port), over the production
//! manager with in-memory sessions. The server is a task of the test's runtime: it ends with
//! the test, failed or not.

use std::sync::Arc;
use std::time::Duration;

use agent_lifecycle::{AgentManager, Lifecycle, ManagerConfig};
use control_server::{
    ClientError, Control, ControlClient, FileRegistry, InMemoryBackend, StartBody, router,
};
use tokio::net::{TcpListener, TcpStream};

fn start(agent: &str, dispatch: &str) -> StartBody {
    StartBody {
        agent: agent.into(),
        workdir: "w0".into(),
        prompt: "work".into(),
        dispatch: Some(dispatch.into()),
    }
}

#[tokio::test]
async fn the_control_api_starts_fences_stops_and_reports_over_real_tcp() {
    let manager = Arc::new(AgentManager::new(
        InMemoryBackend::new(),
        ManagerConfig::default(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server =
        tokio::spawn(axum::serve(listener, router(Control::new(manager.clone()))).into_future());
    let client = ControlClient::new(move || TcpStream::connect(addr));

    let scenario = async {
        client.health().await.unwrap();
        assert!(client.status("a0").await.unwrap().is_none());
        let refused = client.stop("a0").await.unwrap_err();
        assert!(
            matches!(&refused, ClientError::Refused { status: 404, .. }),
            "{refused}"
        );

        assert_eq!(
            client.start(&start("a0", "d1")).await.unwrap().outcome,
            "started"
        );
        let running = client.status("a0").await.unwrap().expect("a record");
        assert_eq!(running.status, "running");
        assert!(running.session.is_some());
        // A retry of the same dispatch starts nothing: the same incarnation and session.
        assert_eq!(
            client.start(&start("a0", "d1")).await.unwrap().outcome,
            "already-serving"
        );
        assert_eq!(client.status("a0").await.unwrap(), Some(running.clone()));
        // Another dispatch restarts it.
        assert_eq!(
            client.start(&start("a0", "d2")).await.unwrap().outcome,
            "started"
        );
        let restarted = client.status("a0").await.unwrap().expect("a record");
        assert!(restarted.incarnation > running.incarnation);
        assert_ne!(restarted.session, running.session);
        assert_eq!(manager.snapshot().agents.len(), 1);

        let stopped = client.stop("a0").await.unwrap();
        assert_eq!(stopped.status, "exited");
        assert_eq!(stopped.session, None);

        let bad = client
            .start(&StartBody {
                agent: String::new(),
                ..start("a0", "d3")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&bad, ClientError::Refused { status: 400, .. }),
            "{bad}"
        );
    };
    tokio::time::timeout(Duration::from_secs(30), scenario)
        .await
        .expect("the scenario finishes within 30 s");
    server.abort();
}

/// Serves a fresh manager with the registry file at `path`; returns the server task, its
/// client and its control.
async fn boot(
    path: &std::path::Path,
) -> (
    tokio::task::JoinHandle<std::io::Result<()>>,
    ControlClient<impl Fn() -> TcpConnect + use<>>,
    Arc<Control<InMemoryBackend, AgentManager<InMemoryBackend>>>,
) {
    let manager = Arc::new(AgentManager::new(
        InMemoryBackend::new(),
        ManagerConfig::default(),
    ));
    let control = Control::with_registry(manager, Box::new(FileRegistry::new(path)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, router(control.clone())).into_future());
    let connect = move || -> TcpConnect { Box::pin(TcpStream::connect(addr)) };
    (server, ControlClient::new(connect), control)
}

type TcpConnect =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<TcpStream>> + Send>>;

#[tokio::test]
async fn a_crashed_container_takes_its_agents_up_again_and_an_evicted_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    let scenario = async {
        // First boot: a0 and a1 start, a1 is stopped, and the container dies without a drain.
        let (server, client, control) = boot(&path).await;
        assert_eq!(control.hydrate().await, (0, Vec::new()));
        client.start(&start("a0", "d1")).await.unwrap();
        client.start(&start("a1", "d2")).await.unwrap();
        client.stop("a1").await.unwrap();
        server.abort();
        drop(control);
        let held: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0]["agent"], "a0");

        // Second boot: hydration starts a0 again, and not the stopped a1.
        let (server, client, control) = boot(&path).await;
        assert_eq!(control.hydrate().await, (1, Vec::new()));
        assert_eq!(
            client.status("a0").await.unwrap().unwrap().status,
            "running"
        );
        assert!(client.status("a1").await.unwrap().is_none());

        // An eviction stops everything and empties the registry.
        control.evict().await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "[]");
        server.abort();
    };
    tokio::time::timeout(Duration::from_secs(30), scenario)
        .await
        .expect("the scenario finishes within 30 s");
}
