//! What `@kilocode/sdk` 7.2.14's `createKilo` and `server.close()` do to the real processes
//! (docs/real-system.md), with `kilo` on PATH being either the `@kilocode/cli` 7.0.33
//! Node launcher (as in the gastown image) or the native binary itself.
//!
//! Each scenario is one run of `sdk/spawn.mjs` under node: PATH starts with a temp directory whose
//! `kilo` is a symlink to the launcher or the native binary, cwd is a fresh `git init`ed workdir,
//! the env is the recipe's offline one (`server::environment`, its `KILO_CONFIG_CONTENT` passed as
//! createKilo's `config` instead, as the manager does) plus `KILO_CONTRACT_SPAWN_MARKER`, a value
//! unique to the run. Every process createKilo starts inherits the marker (the launcher's
//! `spawnSync` passes its env on), so [`Marked`] finds them in `/proc` and SIGKILLs them when
//! the scenario ends, the orphaned native server included, panics included.
//!
//! Scenarios (the script's `stable` part is recorded in
//! `recorded/sdk-7.2.14-spawn-on-kilo-<version>.json`, keyed `<launcher|native>.<scenario>`):
//! * `ready_close` (rows 1, 4): createKilo resolves; then `close()`, and 20 s of watching which
//!   processes remain, whether the port still answers and what `/event` still delivers;
//! * `port_in_use` (row 2): the explicit port is taken; createKilo rejects before its timeout;
//! * `timeout_short` (row 3): `timeout: 500`, shorter than any startup; createKilo rejects, and
//!   the next 20 s show whether a server comes up on the port anyway.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kilo_contract::install::{self, KiloVersion, SDK_VERSION};
use kilo_contract::mock_provider::MockProvider;
use kilo_contract::record::Recorder;
use kilo_contract::server::{config_content, environment};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// One script run, bounded (the longest, `ready_close` on a slow start, is 90 s + 20 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

/// The env var whose value marks every process of one scenario.
const MARKER: &str = "KILO_CONTRACT_SPAWN_MARKER";

/// What `kilo` on PATH is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Launcher,
    Native,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Launcher => "launcher",
            Kind::Native => "native",
        }
    }
}

const SCENARIOS: [&str; 3] = ["ready_close", "port_in_use", "timeout_short"];

/// The pids of the live processes whose environment holds `MARKER=value`.
fn marked(value: &str) -> Vec<i32> {
    let needle = format!("{MARKER}={value}");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Owns one scenario's processes: on drop, SIGKILLs node's process group and then every process
/// carrying the marker (repeatedly, bounded: a launcher may still be spawning), so nothing
/// outlives the test.
struct Marked {
    value: String,
    group: Option<i32>,
}

impl Drop for Marked {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        let started = Instant::now();
        loop {
            let left = marked(&self.value);
            if left.is_empty() {
                return;
            }
            if started.elapsed() > Duration::from_secs(10) {
                eprintln!("marker {}: still alive after 10 s: {left:?}", self.value);
                return;
            }
            for pid in left {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

struct Tools {
    sdk: PathBuf,
    node: PathBuf,
    /// `kilo` on PATH, per kind measured.
    targets: Vec<(Kind, PathBuf)>,
}

fn tools(version: KiloVersion) -> Option<Tools> {
    let found = (|| {
        let mut targets = Vec::new();
        if version == install::LAUNCHER_VERSION {
            targets.push((Kind::Launcher, install::kilo_launcher()?));
        }
        targets.push((Kind::Native, install::kilo_bin(version)?));
        Ok::<_, String>(Tools {
            sdk: install::sdk_dir()?,
            node: install::node()?,
            targets,
        })
    })();
    match found {
        Ok(tools) => Some(tools),
        Err(reason) => {
            install::skip_or_fail(&reason);
            None
        }
    }
}

/// Runs one scenario with `kilo` on PATH being `target`; kills all it started. Answers
/// `{stable, noise}`.
async fn run_scenario(tools: &Tools, target: &Path, scenario: &str, mock_port: u16) -> Value {
    let dir = tempfile::Builder::new()
        .prefix("kilo-contract-spawn-")
        .tempdir()
        .expect("temp dir");
    let (home, work, bin) = (
        dir.path().join("home"),
        dir.path().join("work"),
        dir.path().join("bin"),
    );
    for d in [&home, &work, &bin] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&work)
        .status()
        .expect("git init");
    assert!(git.success(), "git init: {git}");
    std::os::unix::fs::symlink(target, bin.join("kilo")).expect("symlink kilo");

    let mut env: Vec<(String, String)> = environment(&home, mock_port)
        .into_iter()
        .filter(|(k, _)| k != "KILO_CONFIG_CONTENT" && k != "PATH")
        .collect();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))
            .expect("PATH");
    env.push(("PATH".into(), path.to_string_lossy().into_owned()));
    let value = format!(
        "kc-{}-{}-{}",
        std::process::id(),
        dir.path().file_name().unwrap().to_string_lossy(),
        scenario
    );
    env.push((MARKER.into(), value.clone()));

    let mut guard = Marked { value, group: None };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk/spawn.mjs");
    let mut command = tokio::process::Command::new(&tools.node);
    command
        .arg(&script)
        .arg(&tools.sdk)
        .arg(scenario)
        .arg(free_port().to_string())
        .arg(config_content(mock_port))
        .current_dir(&work)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn node");
    guard.group = child.id().map(|pid| pid as i32);
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr_text = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let result = tokio::time::timeout(SCRIPT_TIMEOUT, async {
        while let Ok(Some(line)) = stdout.next_line().await {
            if let Some(json) = line.strip_prefix("RESULT ") {
                return Some(serde_json::from_str::<Value>(json).expect("RESULT json"));
            }
        }
        None
    })
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    drop(guard);
    let log = tokio::time::timeout(Duration::from_secs(5), stderr_text)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    println!("spawn.mjs {scenario} ({}) stderr:\n{log}", target.display());
    match result {
        Ok(Some(result)) => result,
        Ok(None) => panic!("spawn.mjs {scenario} ended without a RESULT line; stderr:\n{log}"),
        Err(_) => panic!("spawn.mjs {scenario} took more than {SCRIPT_TIMEOUT:?}; stderr:\n{log}"),
    }
}

/// What §7 / §10 rows 1–4 say, per kind: the expected `stable` part of each scenario.
fn expected(kind: Kind, scenario: &str) -> Value {
    let launcher = kind == Kind::Launcher;
    match scenario {
        "ready_close" => {
            let mut want = json!({
                "resolved": true,
                "url": "http://127.0.0.1:PORT",
                "server_keys": ["close", "url"],
                "list_before_close": 200,
                "event_first": "server.connected",
                "close_returned": "undefined",
            });
            let rest = if launcher {
                // Row 4: SIGTERM reaches the launcher only; the native server keeps serving.
                json!({
                    "processes_when_ready": ["launcher<-sdk", "native<-launcher"],
                    "gone_within_20s": ["launcher"],
                    "running_after_20s": ["native<-orphan"],
                    "native_reparented": true,
                    "port_after_close": "listening",
                    "http_after_close": 200,
                    "events_after_close": ["server.heartbeat"],
                    "event_stream": "open",
                })
            } else {
                // The native server gets the SIGTERM: graceful shutdown, the stream ends.
                json!({
                    "processes_when_ready": ["native<-sdk"],
                    "gone_within_20s": ["native"],
                    "running_after_20s": [],
                    "native_reparented": null,
                    "port_after_close": "closed",
                    "http_after_close": "refused",
                    "events_after_close": ["server.instance.disposed"],
                    "event_stream": "ended",
                })
            };
            want.as_object_mut()
                .unwrap()
                .extend(rest.as_object().unwrap().clone());
            want
        }
        "port_in_use" => json!({
            "resolved": false,
            "message": "Server exited with code 1",
            "has_server_output": true,
            "before_timeout": true,
            "running_1s_after": [],
        }),
        "timeout_short" => {
            if launcher {
                // Row 3: the launcher dies; the native server comes up later, untracked.
                json!({
                    "resolved": false,
                    "message": "Timeout waiting for server to start after 500ms",
                    "listening_within_20s": true,
                    "http_after_listening": 200,
                    "running_at_end": ["native<-orphan"],
                })
            } else {
                json!({
                    "resolved": false,
                    "message": "Timeout waiting for server to start after 500ms",
                    "listening_within_20s": false,
                    "http_after_listening": null,
                    "running_at_end": [],
                })
            }
        }
        other => panic!("unknown scenario {other}"),
    }
}

async fn spawn_and_close(version: KiloVersion) {
    let Some(tools) = tools(version) else {
        return;
    };
    // Nothing here prompts; the provider only makes the config point at a live 127.0.0.1 port.
    let mock = MockProvider::start().await.expect("mock provider");
    let mut rec = Recorder::new(
        &format!("sdk-{SDK_VERSION}-spawn-on-kilo-{}", version.label()),
        &format!(
            "@kilocode/sdk {SDK_VERSION} (node) createKilo / server.close() with `kilo` on PATH \
             being the @kilocode/cli launcher or the native kilo {}",
            version.label()
        ),
    );
    let mut failures = Vec::new();
    for (kind, target) in &tools.targets {
        for scenario in SCENARIOS {
            let started = Instant::now();
            let outcome = run_scenario(&tools, target, scenario, mock.port()).await;
            let mut noise = outcome["noise"].clone();
            noise["run_ms"] = json!(started.elapsed().as_millis() as u64);
            let name = format!("{}.{scenario}", kind.label());
            rec.case(&name, &outcome["stable"], noise);
            let want = expected(*kind, scenario);
            if outcome["stable"] != want {
                failures.push(format!(
                    "{name}:\n  measured: {}\n  expected: {want}",
                    outcome["stable"]
                ));
            }
        }
    }
    rec.finish();
    assert!(
        failures.is_empty(),
        "spawn/close on kilo {}: {} expectation(s) failed:\n{}",
        version.label(),
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spawn_and_close_kilo_7_0_33() {
    spawn_and_close(KiloVersion::V7_0_33).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spawn_and_close_kilo_7_7_9() {
    spawn_and_close(KiloVersion::V7_7_9).await;
}
