//! `KiloServe`: one real `kilo serve` process, offline, on 127.0.0.1, that cannot outlive its test.
//!
//! The install notes (`docs/contract.md`) say what it takes to run the server here: a
//! fresh HOME (its `kilo.db` lives there), a `git init`ed workdir (the instance directory), every
//! `KILO_*` switch that would reach the network turned off, and `KILO_CONFIG_CONTENT` naming the
//! mock provider as the only one. It also found that a request sent before the stdout line
//! `kilo server listening` can hang for minutes, so [`KiloServe::start`] returns only after that
//! line. The process runs in its own process group, and `Drop` SIGKILLs the whole group and reaps
//! it, so a panicking test leaves nothing behind. [`KiloServe::kill`] and
//! [`KiloServe::restart`] (same HOME, workdir and port) are the server-death cases.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::json;

/// How long `kilo serve` may take to print its listening line (seen: 4–23 s).
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// The stdout line prefix that means the server accepts requests.
pub const LISTENING: &str = "kilo server listening";

/// The most output kept per process (the tail).
const OUTPUT_CAP: usize = 64 * 1024;

/// A running (or killed) `kilo serve`.
pub struct KiloServe {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    mock_port: u16,
    child: Option<Child>,
    output: Arc<Mutex<String>>,
    /// How long the last start took to print the listening line.
    pub ready_after: Duration,
}

/// The config the recipe found: the mock provider as the only one, `fast` as the title model.
pub fn config_content(mock_port: u16) -> String {
    let model = |name: &str| json!({"name": name, "tool_call": false, "limit": {"context": 100000, "output": 4096}});
    json!({
        "provider": {"mock": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Mock",
            "options": {"baseURL": format!("http://127.0.0.1:{mock_port}/v1"), "apiKey": "x"},
            "models": {"mock": model("mock"), "fast": model("fast")},
        }},
        "enabled_providers": ["mock"],
        "model": "mock/mock",
        "small_model": "mock/fast",
        "autoupdate": false,
        "share": "disabled",
        "snapshot": false,
        "experimental": {"openTelemetry": false},
    })
    .to_string()
}

/// The offline environment of the recipe for a server whose HOME is `home`.
pub fn environment(home: &Path, mock_port: u16) -> Vec<(String, String)> {
    let h = |sub: &str| home.join(sub).display().to_string();
    let mut env: Vec<(String, String)> = vec![
        ("HOME".into(), h("")),
        ("KILO_TEST_HOME".into(), h("")),
        ("XDG_CONFIG_HOME".into(), h(".config")),
        ("XDG_DATA_HOME".into(), h(".local/share")),
        ("XDG_CACHE_HOME".into(), h(".cache")),
        ("XDG_STATE_HOME".into(), h(".local/state")),
        ("KILO_AUTH_CONTENT".into(), "{}".into()),
        ("KILO_TELEMETRY_LEVEL".into(), "off".into()),
        ("KILO_CONFIG_CONTENT".into(), config_content(mock_port)),
    ];
    for switch in [
        "KILO_DISABLE_MODELS_FETCH",
        "KILO_DISABLE_AUTOUPDATE",
        "KILO_DISABLE_SHARE",
        "KILO_DISABLE_DEFAULT_PLUGINS",
        "KILO_PURE",
        "KILO_DISABLE_PROJECT_CONFIG",
        "KILO_DISABLE_CODEBASE_INDEXING",
        "KILO_DISABLE_LSP_DOWNLOAD",
        "KILO_DISABLE_SESSION_INGEST",
        "KILO_DISABLE_PRESENCE",
        "KILO_NO_DAEMON",
        "KILO_DISABLE_CLAUDE_CODE",
        "KILO_DISABLE_EXTERNAL_SKILLS",
        // The opencode-era names, read by older builds.
        "OPENCODE_DISABLE_MODELS_FETCH",
        "OPENCODE_DISABLE_AUTOUPDATE",
        "OPENCODE_DISABLE_SHARE",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS",
    ] {
        env.push((switch.into(), "1".into()));
    }
    for keep in ["PATH", "LANG", "TZ"] {
        if let Ok(value) = std::env::var(keep) {
            env.push((keep.into(), value));
        }
    }
    env
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn keep_tail(buffer: &Mutex<String>, line: &str) {
    let mut out = buffer.lock().unwrap();
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

fn pump(stream: impl Read + Send + 'static, tag: &'static str, buffer: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            keep_tail(&buffer, &format!("{tag}{line}"));
        }
    });
}

impl KiloServe {
    /// A fresh HOME and workdir, then [`KiloServe::spawn`] on a free port.
    pub async fn start(bin: &Path, mock_port: u16) -> Result<KiloServe, String> {
        let dir = tempfile::Builder::new()
            .prefix("kilo-contract-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        std::fs::create_dir_all(dir.path().join("home")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.path().join("work")).map_err(|e| e.to_string())?;
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path().join("work"))
            .status()
            .map_err(|e| format!("git init: {e}"))?;
        if !git.success() {
            return Err(format!("git init: {git}"));
        }
        let mut server = KiloServe {
            bin: bin.to_path_buf(),
            dir,
            port: free_port().map_err(|e| format!("free port: {e}"))?,
            mock_port,
            child: None,
            output: Arc::new(Mutex::new(String::new())),
            ready_after: Duration::ZERO,
        };
        server.spawn().await?;
        Ok(server)
    }

    /// Spawns `kilo serve` (own process group) and waits for the listening line, at most
    /// [`READY_TIMEOUT`]; on failure the process group is killed and the error holds its output.
    pub async fn spawn(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "spawn while a server runs");
        let home = self.dir.path().join("home");
        self.output = Arc::new(Mutex::new(String::new()));
        let mut command = Command::new(&self.bin);
        command
            .args([
                "serve",
                "--hostname",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
            ])
            .current_dir(self.workdir())
            .env_clear()
            .envs(environment(&home, self.mock_port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        pump(stderr, "[err] ", self.output.clone());
        // stdout is read here, line by line, until the listening line; then pumped on.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let buffer = self.output.clone();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut ready = Some(ready_tx);
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                keep_tail(&buffer, &line);
                if line.starts_with(LISTENING)
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        loop {
            if ready_rx.try_recv().is_ok() {
                self.ready_after = started.elapsed();
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.reap();
                return Err(format!(
                    "kilo serve exited ({status}) before `{LISTENING}`; output:\n{}",
                    self.output()
                ));
            }
            if started.elapsed() > READY_TIMEOUT {
                self.kill();
                return Err(format!(
                    "no `{LISTENING}` line within {READY_TIMEOUT:?}; output:\n{}",
                    self.output()
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The instance directory the server was spawned in.
    pub fn workdir(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// The pid of the `kilo serve` process (also its process group), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the process printed (the tail), stdout and `[err] `-prefixed stderr.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGKILLs the whole process group and reaps the server; no-op when none runs.
    pub fn kill(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        self.reap();
    }

    /// Sends SIGTERM to the server process and waits (bounded by `timeout`) for it to exit; on
    /// timeout the group is SIGKILLed. Answers how it exited and after how long, or `None` when
    /// it did not exit in time.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<(ExitStatus, Duration)> {
        let pid = self.pid()?;
        let sent = Instant::now();
        let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        while sent.elapsed() < timeout {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let after = sent.elapsed();
                // Anything else left in its group goes too.
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                self.child = None;
                return Some((status, after));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        None
    }

    /// Kills the server if it runs, then spawns it again on the same HOME, workdir and port.
    pub async fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn().await
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for KiloServe {
    fn drop(&mut self) {
        self.kill();
    }
}
