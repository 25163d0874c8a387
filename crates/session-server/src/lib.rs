//! A real session server (`docs/real-system.md`): one process per working directory,
//! multiplexing agent sessions over HTTP, each session a child process that lives until it is
//! aborted, exits, or the server goes (shutdown, or its process group killed).
//!
//! - [`Server`] is the state: the workdir, the [`AgentCommand`] each session runs, and the table
//!   of live sessions (`sessions.rs`); a supervisor task owns each session's child
//!   (`supervisor.rs`).
//! - [`router`] is the HTTP API over it (`routes.rs`).
//! - [`serve`] serves the router until a shutdown, then kills and reaps every child.
//! - [`run_agent`] is the default agent, what `session-server agent` runs (`agent.rs`).
//! - [`HttpBackend`] is the manager's `SessionBackend` on these servers: it starts one per
//!   workdir and calls it over HTTP (`backend.rs`, `wire.rs`).

mod agent;
mod backend;
mod routes;
mod sessions;
mod supervisor;
mod wire;

use std::future::{Future, IntoFuture};
use std::io;
use std::time::Duration;

use tokio::net::TcpListener;

pub use agent::{AgentEnd, FAIL, run_agent};
pub use backend::{HttpBackend, HttpBackendConfig};
pub use routes::{ApiError, router};
pub use sessions::{AgentCommand, Server, SessionError, SessionEvent, SessionInfo};

/// Once the children are dead, how long open connections get to finish before the server stops
/// anyway.
const DRAIN: Duration = Duration::from_secs(2);

/// Serves `server` on `listener` until `shutdown` resolves or `POST /shutdown` is called; then
/// kills every child, waits for them, and returns.
pub async fn serve<F>(listener: TcpListener, server: Server, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (closed, children_dead) = tokio::sync::oneshot::channel::<()>();
    let closer = server.clone();
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            () = closer.shutdown_requested() => {}
        }
        // The children go first: their event streams are open responses, and a graceful
        // shutdown waits for open responses to end.
        closer.close().await;
        let _ = closed.send(());
    };
    let serving = axum::serve(listener, router(server.clone()))
        .with_graceful_shutdown(stop)
        .into_future();
    tokio::pin!(serving);
    let drained = async {
        match children_dead.await {
            Ok(()) => tokio::time::sleep(DRAIN).await,
            // Only dropped with `serving`, which has then ended.
            Err(_) => std::future::pending().await,
        }
    };
    let served = tokio::select! {
        served = &mut serving => served,
        () = drained => Ok(()),
    };
    // Also when serving failed: nothing this server started may outlive it.
    server.close().await;
    served
}
