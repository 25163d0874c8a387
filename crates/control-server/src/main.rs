//! `control-server`: the container's control API on real TCP, over the production manager,
//! with real sessions (`--sessions real`: one `session-server` process per workdir, each
//! session a child process) or sessions kept in memory (`--sessions memory`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agent_lifecycle::{AgentManager, Lifecycle, ManagerConfig, SessionBackend};
use clap::{Parser, ValueEnum};
use control_server::{
    Control, FileRegistry, InMemoryBackend, NoRegistry, Registry, TownClient, router,
    send_heartbeats,
};
use session_server::{HttpBackend, HttpBackendConfig};

#[derive(Clone, Copy, ValueEnum)]
enum Sessions {
    /// Real session servers and processes (`session-server`).
    Real,
    /// Sessions kept in memory: every call succeeds at once.
    Memory,
}

#[derive(Parser)]
#[command(about = "The container's control server (start, stop and status of agents over HTTP)")]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The registry file: the agents this container runs, rewritten on every change and
    /// started again at the next boot (after a crash; an eviction empties it).
    #[arg(long, value_name = "FILE")]
    registry: Option<PathBuf>,
    /// The town's address (HOST:PORT): heartbeats go to its `/agents/{id}/heartbeat`.
    #[arg(long, value_name = "HOST:PORT")]
    town: Option<String>,
    /// Seconds between heartbeat rounds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_secs: u64,
    #[arg(long, value_enum, default_value_t = Sessions::Memory)]
    sessions: Sessions,
    /// With `--sessions real`: the `session-server` binary (default: the one beside this
    /// binary, as `cargo build --release -p session-server` makes it).
    #[arg(long, value_name = "FILE")]
    session_server: Option<PathBuf>,
    /// With `--sessions real`: where each workdir's directory is made.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// With `--sessions real`: how long the default agent works on a prompt before it goes
    /// idle.
    #[arg(long, default_value_t = 2_000)]
    work_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    match args.sessions {
        Sessions::Memory => run(InMemoryBackend::new(), args).await,
        Sessions::Real => {
            let binary = match &args.session_server {
                Some(path) => path.clone(),
                None => std::env::current_exe()
                    .ok()
                    .and_then(|exe| Some(exe.parent()?.join("session-server")))
                    .unwrap_or_else(|| PathBuf::from("session-server")),
            };
            if !binary.is_file() {
                eprintln!(
                    "error: no session server at {} (build it: cargo build --release -p session-server, or give --session-server FILE)",
                    binary.display()
                );
                return ExitCode::from(2);
            }
            let root = args.root.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("control-server-{}", std::process::id()))
            });
            let backend = HttpBackend::new(HttpBackendConfig {
                binary,
                work_ms: args.work_ms,
                call_timeout: ManagerConfig::default().call_timeout,
                root,
            });
            run(backend, args).await
        }
    }
}

async fn run<B: SessionBackend>(backend: B, args: Args) -> ExitCode {
    let manager = Arc::new(AgentManager::new(backend, ManagerConfig::default()));
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().map_or(args.listen, |a| a);
    println!("listening on http://{addr}");
    let registry: Box<dyn Registry> = match &args.registry {
        Some(path) => Box::new(FileRegistry::new(path)),
        None => Box::new(NoRegistry),
    };
    let control = Control::with_registry(manager, registry);
    let app = router(control.clone());
    if let Some(town) = args.town.clone() {
        let boot = format!(
            "{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        );
        let client = TownClient::new(move || tokio::net::TcpStream::connect(town.clone()));
        let every = std::time::Duration::from_secs(args.heartbeat_secs);
        tokio::spawn(send_heartbeats(control.clone(), client, every, boot));
    }
    // Boot hydration runs beside the server; starts wait for it.
    let hydrating = control.clone();
    tokio::spawn(async move {
        let (held, failed) = hydrating.hydrate().await;
        if held > 0 {
            println!(
                "hydrated {} of {held} agents from the registry",
                held - failed.len()
            );
        }
        for (agent, error) in failed {
            eprintln!("warning: {agent} did not start again: {error}");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await;
    // A shutdown is an eviction: nothing may be left running.
    if let Err(e) = control.evict().await {
        eprintln!("error: eviction failed: {e}");
        return ExitCode::from(1);
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// SIGTERM (how a container is evicted) or Ctrl-C.
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
