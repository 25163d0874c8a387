//! What the tests share: the server binary as a child process that dies with its guard, a small
//! HTTP/1 client (one connection a request, as `control-server`'s client does), an SSE reader,
//! and a search of /proc for a server's session children.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long any single step may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);
/// How long a whole test may take.
pub const WHOLE: Duration = Duration::from_secs(40);

/// A `session-server serve` process, in a process group of its own; dropping this SIGKILLs the
/// group, so a failed test leaves neither the server nor its sessions behind.
pub struct Running {
    pub child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Held open so the server never writes to a closed pipe.
    stdout: BufReader<ChildStdout>,
}

impl Running {
    pub async fn start(workdir: &Path, agent_command: &[&str]) -> Running {
        let mut command = Command::new(env!("CARGO_BIN_EXE_session-server"));
        command
            .args(["serve", "--workdir"])
            .arg(workdir)
            .args(["--work-ms", "50"]);
        if !agent_command.is_empty() {
            command.arg("--").args(agent_command);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let pid = child.id().expect("a running server has a pid");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // The guard exists before anything can fail.
        let mut running = Running {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stdout,
        };
        let mut line = String::new();
        let read = timeout(STEP, running.stdout.read_line(&mut line)).await;
        assert!(
            matches!(read, Ok(Ok(n)) if n > 0),
            "no readiness line: {read:?}"
        );
        running.addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("not a readiness line: {line:?}"));
        running
    }

    /// Sends `signal` to the server alone, or (`group`) to its whole process group.
    pub fn signal(&self, signal: i32, group: bool) {
        let target = if group {
            -(self.pid as i32)
        } else {
            self.pid as i32
        };
        // SAFETY: kill(2) with a pid this test started; it touches no memory.
        let sent = unsafe { libc::kill(target, signal) };
        assert_eq!(sent, 0, "kill({target}, {signal})");
    }

    pub async fn exited(&mut self) -> ExitStatus {
        timeout(STEP, self.child.wait())
            .await
            .expect("the server exits in time")
            .expect("the server's exit status")
    }

    /// Ends a test that went well: `POST /shutdown`, a clean exit, no session left. (A failed
    /// test leaves this to the guard's SIGKILL.)
    pub async fn stop(mut self) {
        let (status, _) = self.call(Method::POST, "/shutdown", None).await;
        assert_eq!(status, 200);
        assert!(self.exited().await.success());
        assert_eq!(session_processes(self.pid), Vec::new());
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        call(self.addr, method, path, body).await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: as in `signal`. The group outlives a dead leader while any session lives.
        unsafe {
            libc::kill(-(self.pid as i32), libc::SIGKILL);
        }
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
    }
}

async fn connect(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (hyper::Response<Incoming>, JoinHandle<()>) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    // The connection runs beside the exchange; it ends when the server closes it.
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "session-server")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a well-formed request");
    let response = sender.send_request(request).await.expect("an answer");
    (response, connection)
}

/// One request; the status and the JSON body (`Null` when empty or not JSON).
pub async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    call_raw(addr, method, path, body.map(|b| b.to_string().into_bytes())).await
}

/// One request with a body of any bytes.
pub async fn call_raw(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let exchange = async {
        let (response, connection) = connect(addr, method, path, body.unwrap_or_default()).await;
        let status = response.status().as_u16();
        let body = json_of(response).await;
        connection.abort();
        (status, body)
    };
    timeout(STEP, exchange).await.expect("an answer in time")
}

/// A whole answer's body as JSON (`null` when it is not JSON).
async fn json_of(response: hyper::Response<Incoming>) -> Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// A session's event stream, read as it comes.
pub struct Events {
    body: Incoming,
    buffer: String,
    connection: JoinHandle<()>,
}

impl Drop for Events {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// Subscribes to a session's events: `Err((status, body))` when refused. Returns once the
/// response's head is in, which is when the server has subscribed.
pub async fn events(addr: SocketAddr, id: u64) -> Result<Events, (u16, Value)> {
    let path = format!("/sessions/{id}/events");
    let (response, connection) = timeout(STEP, connect(addr, Method::GET, &path, Vec::new()))
        .await
        .expect("an events answer in time");
    let status = response.status().as_u16();
    if status != 200 {
        return Err((status, json_of(response).await));
    }
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    Ok(Events {
        body: response.into_body(),
        buffer: String::new(),
        connection,
    })
}

impl Events {
    /// The next event; `None` when the stream ended. Keep-alive comments are skipped.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.event = name.trim().into();
                        any = true;
                    } else if let Some(data) = line.strip_prefix("data:") {
                        event.data.push_str(data.trim());
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.push_str(&String::from_utf8_lossy(&data));
                    }
                }
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next event, which must come within [`STEP`].
    pub async fn next_in_time(&mut self) -> Option<SseEvent> {
        timeout(STEP, self.next())
            .await
            .expect("an event (or the end) in time")
    }
}

/// A process that carries a server's session markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProcess {
    pub pid: u32,
    pub session: u64,
    pub agent: String,
    pub workdir: String,
}

/// The live (not zombie) processes whose environment says they are sessions of `server_pid`.
pub fn session_processes(server_pid: u32) -> Vec<SessionProcess> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let server = server_pid.to_string();
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A zombie's environment reads empty, but say it outright: a zombie is dead.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let mut vars = std::collections::HashMap::new();
        for var in environ.split(|&b| b == 0) {
            let var = String::from_utf8_lossy(var);
            if let Some((key, value)) = var.split_once('=') {
                vars.insert(key.to_string(), value.to_string());
            }
        }
        if vars.get("LIFECYCLE_SIM_SERVER_PID") != Some(&server) {
            continue;
        }
        let Some(session) = vars
            .get("LIFECYCLE_SIM_SESSION")
            .and_then(|s| s.parse().ok())
        else {
            continue;
        };
        found.push(SessionProcess {
            pid,
            session,
            agent: vars.get("LIFECYCLE_SIM_AGENT").cloned().unwrap_or_default(),
            workdir: vars
                .get("LIFECYCLE_SIM_WORKDIR")
                .cloned()
                .unwrap_or_default(),
        });
    }
    found
}

/// The session processes of `server_pid`, once there are `n` of them (waiting up to [`STEP`]).
/// A create answers once its child's exec has begun, but the kernel sets the new program's
/// environment a moment later; until then `/proc/PID/environ` reads empty and the child shows no
/// marker. Looking right after a create failed CI once.
pub async fn wait_for_session_processes(server_pid: u32, n: usize) -> Vec<SessionProcess> {
    let mut found = Vec::new();
    eventually(&format!("{n} session children run"), || {
        found = session_processes(server_pid);
        found.len() == n
    })
    .await;
    found
}

/// Waits (up to [`STEP`]) until `check` holds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + STEP;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ids of the sessions `GET /sessions` lists.
pub async fn listed(addr: SocketAddr) -> Vec<u64> {
    let (status, body) = call(addr, Method::GET, "/sessions", None).await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_u64().expect("an id"))
        .collect()
}

/// `POST /sessions` for `agent`: the new id.
pub async fn create(addr: SocketAddr, agent: &str) -> u64 {
    let (status, body) = call(
        addr,
        Method::POST,
        "/sessions",
        Some(serde_json::json!({ "agent": agent })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_u64().expect("an id")
}
