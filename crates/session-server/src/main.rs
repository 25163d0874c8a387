//! `session-server`: `serve` runs the session server for one working directory; `agent` is the
//! default agent each session runs.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use session_server::{AgentCommand, AgentEnd, Server, run_agent, serve};

#[derive(Parser)]
#[command(
    name = "session-server",
    about = "A session server: agent sessions over HTTP, each a child process"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve sessions for one working directory; prints `listening on ADDR` once ready.
    Serve {
        /// The working directory the sessions run in.
        #[arg(long)]
        workdir: PathBuf,
        /// Where to listen (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// How long the default agent works on each prompt, in milliseconds.
        #[arg(long, default_value_t = 300)]
        work_ms: u64,
        /// The command each session runs (default: this binary's `agent --work-ms N`).
        #[arg(last = true, value_name = "AGENT_COMMAND")]
        agent_command: Vec<OsString>,
    },
    /// The default agent: answers each line on stdin with `idle` after working on it.
    Agent {
        /// How long each prompt takes, in milliseconds.
        #[arg(long, default_value_t = 300)]
        work_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Agent { work_ms } => agent(work_ms),
        Command::Serve {
            workdir,
            listen,
            work_ms,
            agent_command,
        } => {
            // Logs go to stderr: stdout carries the readiness line and nothing else.
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_writer(std::io::stderr)
                .init();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
            };
            runtime.block_on(serve_workdir(workdir, listen, work_ms, agent_command))
        }
    }
}

fn agent(work_ms: u64) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(1, format!("cannot start the runtime: {e}")),
    };
    let end = runtime.block_on(run_agent(
        tokio::io::stdin(),
        tokio::io::stdout(),
        Duration::from_millis(work_ms),
    ));
    // Tokio's stdin reads on a blocking thread; do not wait for it.
    runtime.shutdown_background();
    match end {
        Ok(AgentEnd::Eof) => ExitCode::SUCCESS,
        Ok(AgentEnd::Failed) => ExitCode::from(1),
        Err(e) => fail(1, format!("agent: {e}")),
    }
}

async fn serve_workdir(
    workdir: PathBuf,
    listen: SocketAddr,
    work_ms: u64,
    agent_command: Vec<OsString>,
) -> ExitCode {
    // Absolute, so that a child whose current directory is the workdir reads a path it can use.
    let workdir = std::path::absolute(&workdir).unwrap_or(workdir);
    let command = match agent_command.split_first() {
        Some((program, args)) => AgentCommand::new(program.clone(), args.iter().cloned()),
        None => match AgentCommand::default_agent(work_ms) {
            Ok(command) => command,
            Err(e) => return fail(1, format!("cannot find this binary for the agent: {e}")),
        },
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => return fail(2, format!("cannot listen on {listen}: {e}")),
    };
    let addr = listener.local_addr().map_or(listen, |addr| addr);
    // The readiness line: callers wait for it, so it is flushed before serving.
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "listening on {addr}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return fail(1, "cannot write the readiness line".into());
    }
    match serve(listener, Server::new(workdir, command), signalled()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, e.to_string()),
    }
}

fn fail(code: u8, message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// SIGTERM (how a container is stopped) or SIGINT.
async fn signalled() {
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
