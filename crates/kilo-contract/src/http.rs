//! A raw HTTP client for the kilo routes, one TCP connection per request.
//!
//! The measurement needs what a library would hide: when the status line arrived versus when the
//! body ended (7.0.33 sends a prompt's 200 at the start of the turn), an empty body versus a cut
//! one, a connection that dies mid-answer. So this is hyper's bare HTTP/1 connection over a
//! fresh `TcpStream` per request (the same client the workspace's session server uses, no new
//! dependency), and every call answers an [`Exchange`] instead of a `Result`. [`EventTap`] reads
//! `GET /event` in a task of its own and keeps every event with the time it was received.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How one request went.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// When it was sent.
    pub sent: Instant,
    /// The status, when the status line arrived.
    pub status: Option<u16>,
    /// When the status line arrived.
    pub headers_at: Option<Instant>,
    /// `content-length`, when given.
    pub content_length: Option<u64>,
    /// The body read so far (all of it when `end` is `Complete`).
    pub body: Bytes,
    /// How it ended.
    pub end: End,
    /// When it ended.
    pub ended: Instant,
}

/// How an exchange ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The whole body arrived.
    Complete,
    /// The connection failed (refused, reset, closed mid-answer); the error text.
    Lost(String),
    /// Nothing ended within the bound.
    TimedOut,
}

impl Exchange {
    /// The body as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Seconds from sending to the end.
    pub fn took(&self) -> f64 {
        (self.ended - self.sent).as_secs_f64()
    }
}

/// The kilo routes on one server address.
#[derive(Clone, Debug)]
pub struct Client {
    addr: SocketAddr,
    /// Bound on every call but [`Client::prompt`]'s own.
    pub timeout: Duration,
}

impl Client {
    /// A client of the server at `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            timeout: Duration::from_secs(30),
        }
    }

    /// One request, bounded by `timeout` as a whole.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Exchange {
        let sent = Instant::now();
        let mut ex = Exchange {
            sent,
            status: None,
            headers_at: None,
            content_length: None,
            body: Bytes::new(),
            end: End::TimedOut,
            ended: sent,
        };
        let progress = Arc::new(Mutex::new(ex.clone()));
        let run = exchange(self.addr, method, path, body, progress.clone());
        let end = match tokio::time::timeout(timeout, run).await {
            Ok(end) => end,
            Err(_) => End::TimedOut,
        };
        ex = progress.lock().unwrap().clone();
        ex.end = end;
        ex.ended = Instant::now();
        ex
    }

    /// `POST /session` with `{}`.
    pub async fn create(&self) -> Exchange {
        self.request("POST", "/session", Some(json!({})), self.timeout)
            .await
    }

    /// `POST /session` and the new id; panics with the exchange when there is none.
    pub async fn create_id(&self) -> String {
        let ex = self.create().await;
        ex.json()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("POST /session gave no id: {ex:?}"))
    }

    /// `POST /session/{id}/message` with one text part, bounded by `timeout`.
    pub async fn prompt(&self, id: &str, text: &str, timeout: Duration) -> Exchange {
        let body = json!({"parts": [{"type": "text", "text": text}]});
        self.prompt_with(id, body, timeout).await
    }

    /// `POST /session/{id}/message` with any body.
    pub async fn prompt_with(&self, id: &str, body: Value, timeout: Duration) -> Exchange {
        self.request(
            "POST",
            &format!("/session/{id}/message"),
            Some(body),
            timeout,
        )
        .await
    }

    /// `POST /session/{id}/abort` (`id` may be empty: `/session//abort`).
    pub async fn abort(&self, id: &str) -> Exchange {
        self.request("POST", &format!("/session/{id}/abort"), None, self.timeout)
            .await
    }

    /// `GET /session/{id}`.
    pub async fn get(&self, id: &str) -> Exchange {
        self.request("GET", &format!("/session/{id}"), None, self.timeout)
            .await
    }

    /// `GET /session/{id}/message`.
    pub async fn messages(&self, id: &str) -> Exchange {
        self.request("GET", &format!("/session/{id}/message"), None, self.timeout)
            .await
    }

    /// `GET /session`.
    pub async fn list(&self) -> Exchange {
        self.request("GET", "/session", None, self.timeout).await
    }

    /// The ids `GET /session` lists (empty when the answer is not a list).
    pub async fn list_ids(&self) -> Vec<String> {
        self.list()
            .await
            .json()
            .and_then(|v| {
                v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s["id"].as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// `GET /session/status`.
    pub async fn status(&self) -> Exchange {
        self.request("GET", "/session/status", None, self.timeout)
            .await
    }
}

async fn connect(
    addr: SocketAddr,
) -> Result<
    hyper::client::conn::http1::SendRequest<
        http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
    >,
    String,
> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

fn build(
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Request<http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    match body {
        Some(body) => builder
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())).boxed()),
        None => builder.body(Empty::new().boxed()),
    }
    .expect("a well-formed request")
}

async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
    progress: Arc<Mutex<Exchange>>,
) -> End {
    let mut sender = match connect(addr).await {
        Ok(sender) => sender,
        Err(e) => return End::Lost(e),
    };
    let response = match sender.send_request(build(method, path, body)).await {
        Ok(response) => response,
        Err(e) => return End::Lost(format!("request: {e}")),
    };
    {
        let mut p = progress.lock().unwrap();
        p.status = Some(response.status().as_u16());
        p.headers_at = Some(Instant::now());
        p.content_length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
    }
    let mut body = response.into_body();
    let mut read = Vec::new();
    loop {
        match body.frame().await {
            None => return End::Complete,
            Some(Err(e)) => return End::Lost(format!("body: {e}")),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    read.extend_from_slice(&data);
                    progress.lock().unwrap().body = Bytes::from(read.clone());
                }
            }
        }
    }
}

/// One event from `GET /event`.
#[derive(Clone, Debug)]
pub struct Event {
    /// When it was received.
    pub at: Instant,
    /// `type`.
    pub kind: String,
    /// `properties.sessionID`, or `properties.info.sessionID` / `.part.sessionID`, or for
    /// `session.created/updated` `properties.info.id`.
    pub session: Option<String>,
    /// `properties`.
    pub properties: Value,
}

impl Event {
    fn parse(at: Instant, data: &str) -> Option<Event> {
        let value: Value = serde_json::from_str(data).ok()?;
        let kind = value["type"].as_str()?.to_string();
        let properties = value["properties"].clone();
        let p = &properties;
        let session = [
            &p["sessionID"],
            &p["info"]["sessionID"],
            &p["part"]["sessionID"],
        ]
        .into_iter()
        .find_map(|v| v.as_str())
        .or_else(|| {
            kind.starts_with("session.")
                .then(|| p["info"]["id"].as_str())
                .flatten()
        })
        .map(str::to_string);
        Some(Event {
            at,
            kind,
            session,
            properties,
        })
    }

    /// `properties.status.type` (for `session.status`).
    pub fn status(&self) -> Option<&str> {
        self.properties["status"]["type"].as_str()
    }

    /// `properties.error.name` (for `session.error`).
    pub fn error_name(&self) -> Option<&str> {
        self.properties["error"]["name"].as_str()
    }
}

/// How an event stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The body ended cleanly.
    Eof,
    /// Reading failed; the error text.
    Error(String),
    /// The stream never opened; the reason (status or connection error).
    NotOpened(String),
}

#[derive(Default)]
struct TapState {
    status: Option<u16>,
    events: Vec<Event>,
    end: Option<(Instant, StreamEnd)>,
}

/// A `GET /event` stream read in the background; the task stops when the tap is dropped.
pub struct EventTap {
    state: Arc<Mutex<TapState>>,
    task: JoinHandle<()>,
    /// When it was opened.
    pub opened: Instant,
}

impl Drop for EventTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventTap {
    /// Opens `GET /event` on `addr` and waits (at most 10 s) for the status line.
    pub async fn open(addr: SocketAddr) -> EventTap {
        let state = Arc::new(Mutex::new(TapState::default()));
        let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(read_events(addr, state.clone(), opened_tx));
        let _ = tokio::time::timeout(Duration::from_secs(10), opened_rx).await;
        EventTap {
            state,
            task,
            opened: Instant::now(),
        }
    }

    /// The stream's HTTP status, once known.
    pub fn status(&self) -> Option<u16> {
        self.state.lock().unwrap().status
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.state.lock().unwrap().events.clone()
    }

    /// Events of session `id` so far.
    pub fn events_of(&self, id: &str) -> Vec<Event> {
        self.events()
            .into_iter()
            .filter(|e| e.session.as_deref() == Some(id))
            .collect()
    }

    /// How and when the stream ended, if it did.
    pub fn end(&self) -> Option<(Instant, StreamEnd)> {
        self.state.lock().unwrap().end.clone()
    }

    /// Waits (bounded) until an event satisfies `pred`; returns it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Event) -> bool,
    ) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the stream ends.
    pub async fn wait_end(&self, timeout: Duration) -> Option<(Instant, StreamEnd)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.end() {
                return Some(end);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn read_events(
    addr: SocketAddr,
    state: Arc<Mutex<TapState>>,
    opened: tokio::sync::oneshot::Sender<()>,
) {
    let finish = |end: StreamEnd| state.lock().unwrap().end = Some((Instant::now(), end));
    let mut sender = match connect(addr).await {
        Ok(sender) => sender,
        Err(e) => return finish(StreamEnd::NotOpened(e)),
    };
    let response = match sender.send_request(build("GET", "/event", None)).await {
        Ok(response) => response,
        Err(e) => return finish(StreamEnd::NotOpened(e.to_string())),
    };
    let status = response.status().as_u16();
    state.lock().unwrap().status = Some(status);
    let _ = opened.send(());
    if status != 200 {
        return finish(StreamEnd::NotOpened(format!("status {status}")));
    }
    let mut body = response.into_body();
    let mut pending = String::new();
    let mut data = String::new();
    loop {
        let frame = match body.frame().await {
            None => return finish(StreamEnd::Eof),
            Some(Err(e)) => return finish(StreamEnd::Error(e.to_string())),
            Some(Ok(frame)) => frame,
        };
        let Ok(bytes) = frame.into_data() else {
            continue;
        };
        pending.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(newline) = pending.find('\n') {
            let line: String = pending.drain(..=newline).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !data.is_empty() {
                    if let Some(event) = Event::parse(Instant::now(), &data) {
                        state.lock().unwrap().events.push(event);
                    }
                    data.clear();
                }
            } else if let Some(rest) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            }
        }
    }
}
