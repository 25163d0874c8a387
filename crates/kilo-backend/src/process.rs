//! One `kilo serve` process: spawned in its workdir and its own process group, ready once its
//! stdout says where it listens, and killed as a whole group.
//!
//! The process is a `std::process::Child` whose stdout and stderr are read by two threads for
//! the whole of its life (a pipe nobody reads would block the server once full); the stdout
//! thread hands the listening address over through a oneshot. A [`Server`] is killed when
//! dropped, so a start whose caller gives up (the manager's call timeout drops the future), or
//! that fails, leaves nothing behind.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// The stdout line that says the server accepts requests:
/// `kilo server listening on http://127.0.0.1:PORT`.
pub const LISTENING: &str = "kilo server listening on ";

/// The most output kept per server (the tail), for error messages.
const OUTPUT_CAP: usize = 16 * 1024;

/// A running (or exited) `kilo serve`.
pub(crate) struct Server {
    child: Child,
    /// The process group: the server and whatever it spawned.
    pub(crate) group: i32,
    pub(crate) addr: SocketAddr,
    /// The canonical workdir the server runs in (kilo's `directory` of its sessions).
    pub(crate) dir: PathBuf,
    output: Arc<Mutex<String>>,
    /// Killed and reaped already: its group id may name someone else's group by now.
    killed: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a server is spawned with.
pub(crate) struct Spec<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) dir: &'a Path,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) ready_timeout: Duration,
}

fn keep_tail(buffer: &Mutex<String>, line: &str) {
    let mut out = buffer.lock().unwrap_or_else(|p| p.into_inner());
    out.push_str(line);
    out.push('\n');
    if out.len() > OUTPUT_CAP {
        let cut = out.len() - OUTPUT_CAP / 2;
        let cut = (cut..out.len())
            .find(|&i| out.is_char_boundary(i))
            .unwrap_or(0);
        out.replace_range(..cut, "[...]\n");
    }
}

fn pump(
    stream: impl Read + Send + 'static,
    tag: &'static str,
    buffer: Arc<Mutex<String>>,
    mut ready: Option<tokio::sync::oneshot::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            keep_tail(&buffer, &format!("{tag}{line}"));
            if let Some(url) = line.strip_prefix(LISTENING)
                && let Some(tx) = ready.take()
            {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
}

/// `http://127.0.0.1:PORT` (with or without a trailing slash) as an address.
fn parse_url(url: &str) -> Option<SocketAddr> {
    url.strip_prefix("http://")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

impl Server {
    /// Spawns `kilo serve --hostname 127.0.0.1 --port 0` in `spec.dir`, in a process group of
    /// its own, with exactly `spec.env`, and waits (at most `spec.ready_timeout`) for the
    /// listening line. On any failure, or if this future is dropped, the group is killed.
    pub(crate) async fn spawn(spec: Spec<'_>) -> Result<Server, String> {
        let mut command = Command::new(spec.binary);
        command
            .args(["serve", "--hostname", "127.0.0.1", "--port", "0"])
            .current_dir(spec.dir)
            .env_clear()
            .envs(spec.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", spec.binary.display()))?;
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, mut ready_rx) = tokio::sync::oneshot::channel();
        pump(
            child.stdout.take().expect("piped stdout"),
            "",
            output.clone(),
            Some(ready_tx),
        );
        pump(
            child.stderr.take().expect("piped stderr"),
            "[err] ",
            output.clone(),
            None,
        );
        let group = child.id() as i32;
        // Killed when dropped: on every early return below, and when this future is dropped.
        let mut server = Server {
            child,
            group,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir: spec.dir.to_path_buf(),
            output,
            killed: false,
        };
        let url = loop {
            if let Ok(url) = ready_rx.try_recv() {
                break url;
            }
            if !server.alive() {
                return Err(format!(
                    "kilo serve exited before `{LISTENING}`; output:\n{}",
                    server.output()
                ));
            }
            if started.elapsed() > spec.ready_timeout {
                return Err(format!(
                    "no `{LISTENING}` line within {:?}; output:\n{}",
                    spec.ready_timeout,
                    server.output()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        server.addr = parse_url(&url)
            .ok_or_else(|| format!("cannot read an address from `{LISTENING}{url}`"))?;
        Ok(server)
    }

    /// Whether the process still runs (an exited one is reaped here).
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The pid of `kilo serve` (also its process group).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server printed (the tail), stdout and `[err] `-prefixed stderr.
    pub(crate) fn output(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// SIGKILLs the whole process group, then reaps the server (at once: a SIGKILLed process
    /// exits without running any code). Once only.
    pub(crate) fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        if self.group > 0 {
            let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
