//! A scripted OpenAI-compatible LLM provider for `kilo serve` to call.
//!
//! The real server's answers depend on what its model does (stream, fail, hang), so each case
//! must decide that, turn by turn, without a network: this server on `127.0.0.1:0` speaks
//! `POST /v1/chat/completions` (`stream: true` as server-sent `data: {...}` chunks, then
//! `data: [DONE]`; a plain JSON completion otherwise) and `GET /v1/models`. Requests for the main
//! model consume a queue of [`Behaviour`]s, one per request; when the queue is empty the
//! [`MockProvider::set_default`] behaviour answers (retry loops consume it again and again). The
//! small model `fast` (titles) always answers at once, so it never takes a case's turn. Every
//! request is logged with what became of its stream, so a case can wait for "the turn is
//! streaming" instead of sleeping, and can tell whether kilo cancelled the upstream request.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The small model's name in the kilo config (`small_model: "mock/fast"`).
pub const FAST_MODEL: &str = "fast";

/// What the provider does with one main-model request.
#[derive(Clone, Debug, PartialEq)]
pub enum Behaviour {
    /// 200, `chunks` text chunks `delay` apart, then `finish_reason: "stop"` and `[DONE]`.
    Ok { chunks: usize, delay: Duration },
    /// 500 with an OpenAI-style error body (retryable).
    Http500,
    /// 400 with an OpenAI-style error body (not retryable).
    Http400,
    /// 200 `text/event-stream` whose first data line is not JSON, then the end.
    Malformed,
    /// 200, `chunks` chunks, then the connection is cut mid-body (no finish, no `[DONE]`, no
    /// terminating chunk: the client sees a network error).
    DropAfter { chunks: usize },
    /// 200, `chunks` chunks, then the body ends cleanly without a finish or `[DONE]` (what a
    /// provider that closes a `connection: close` stream early looks like).
    EndAfter { chunks: usize },
    /// 200 headers, then nothing until the client goes away.
    Hang,
}

impl Behaviour {
    /// A short turn: two chunks, 50 ms apart.
    pub fn quick() -> Behaviour {
        Behaviour::Ok {
            chunks: 2,
            delay: Duration::from_millis(50),
        }
    }

    /// A turn of `chunks` chunks `ms` milliseconds apart.
    pub fn slow(chunks: usize, ms: u64) -> Behaviour {
        Behaviour::Ok {
            chunks,
            delay: Duration::from_millis(ms),
        }
    }

    fn name(&self) -> String {
        match self {
            Behaviour::Ok { chunks, delay } => format!("ok({chunks}x{}ms)", delay.as_millis()),
            Behaviour::Http500 => "http500".into(),
            Behaviour::Http400 => "http400".into(),
            Behaviour::Malformed => "malformed".into(),
            Behaviour::DropAfter { chunks } => format!("drop-after({chunks})"),
            Behaviour::EndAfter { chunks } => format!("end-after({chunks})"),
            Behaviour::Hang => "hang".into(),
        }
    }
}

/// What became of one request's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still being answered.
    Pending,
    /// A complete answer was handed to the connection.
    Completed,
    /// An error status was answered.
    ErrorStatus(u16),
    /// The stream was cut or ended early on purpose (`DropAfter`, `EndAfter`), or the malformed
    /// line was sent.
    CutOnPurpose,
    /// The client closed the connection before the stream ended (kilo cancelled the request).
    ClientWentAway,
}

/// One request the provider received.
#[derive(Clone, Debug)]
pub struct Request {
    /// When it arrived.
    pub at: Instant,
    /// The `model` field.
    pub model: String,
    /// The `stream` field.
    pub stream: bool,
    /// The behaviour it got.
    pub behaviour: String,
    /// Chunks written so far.
    pub chunks_sent: usize,
    /// When its answer ended (completed, cut, or the client went away).
    pub ended: Option<Instant>,
    /// What became of it.
    pub outcome: Outcome,
}

impl Request {
    /// Whether it was for the main model (not the title model).
    pub fn is_main(&self) -> bool {
        self.model != FAST_MODEL
    }
}

#[derive(Default)]
struct Script {
    queue: VecDeque<Behaviour>,
    default: Option<Behaviour>,
}

#[derive(Default)]
struct Shared {
    script: Mutex<Script>,
    log: Mutex<Vec<Request>>,
}

impl Shared {
    fn update(&self, index: usize, f: impl FnOnce(&mut Request)) {
        if let Some(r) = self.log.lock().unwrap().get_mut(index) {
            f(r);
        }
    }
}

/// The running provider; stops when dropped.
pub struct MockProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProvider {
    /// Starts on `127.0.0.1:0`; the default behaviour is [`Behaviour::quick`].
    pub async fn start() -> std::io::Result<MockProvider> {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/v1/models", get(models))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(MockProvider { addr, shared, task })
    }

    /// The port kilo's config points at.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Queues behaviours for the next main-model requests, in order.
    pub fn push(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.shared.script.lock().unwrap().queue.extend(behaviours);
    }

    /// The behaviour for main-model requests when the queue is empty.
    pub fn set_default(&self, behaviour: Behaviour) {
        self.shared.script.lock().unwrap().default = Some(behaviour);
    }

    /// Empties the queue and restores the quick default.
    pub fn reset(&self) {
        let mut script = self.shared.script.lock().unwrap();
        script.queue.clear();
        script.default = None;
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Request> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Main-model requests so far.
    pub fn main_requests(&self) -> Vec<Request> {
        self.log().into_iter().filter(Request::is_main).collect()
    }

    /// Waits (polling, bounded by `timeout`) until the `index`th main-model request (counting
    /// from 0 over the whole log) satisfies `pred`; returns it, or `None` on timeout.
    pub async fn wait_main(
        &self,
        index: usize,
        timeout: Duration,
        pred: impl Fn(&Request) -> bool,
    ) -> Option<Request> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.main_requests().get(index)
                && pred(r)
            {
                return Some(r.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn models() -> impl IntoResponse {
    axum::Json(json!({
        "object": "list",
        "data": [
            {"id": "mock", "object": "model", "owned_by": "mock"},
            {"id": FAST_MODEL, "object": "model", "owned_by": "mock"},
        ]
    }))
}

fn sse_chunk(model: &str, content: Option<&str>, finish: Option<&str>) -> Bytes {
    let delta = match content {
        Some(text) => json!({"role": "assistant", "content": text}),
        None => json!({}),
    };
    let mut chunk = json!({
        "id": "mock-1", "object": "chat.completion.chunk", "created": 0, "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    });
    if finish.is_some() {
        chunk["usage"] = json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2});
    }
    Bytes::from(format!("data: {chunk}\n\n"))
}

fn error_status(status: StatusCode, code: &str) -> Response {
    let body = json!({"error": {"message": format!("mock failure {code}"), "type": "server_error", "code": code}});
    (status, axum::Json(body)).into_response()
}

async fn completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = body["model"].as_str().unwrap_or("").to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let behaviour = if model == FAST_MODEL {
        Behaviour::Ok {
            chunks: 1,
            delay: Duration::ZERO,
        }
    } else {
        let mut script = shared.script.lock().unwrap();
        script
            .queue
            .pop_front()
            .or_else(|| script.default.clone())
            .unwrap_or_else(Behaviour::quick)
    };
    let index = {
        let mut log = shared.log.lock().unwrap();
        log.push(Request {
            at: Instant::now(),
            model: model.clone(),
            stream,
            behaviour: behaviour.name(),
            chunks_sent: 0,
            ended: None,
            outcome: Outcome::Pending,
        });
        log.len() - 1
    };
    let end = |outcome: Outcome| {
        let shared = shared.clone();
        move || {
            shared.update(index, |r| {
                r.ended = Some(Instant::now());
                r.outcome = outcome;
            })
        }
    };
    match behaviour {
        Behaviour::Http500 => {
            end(Outcome::ErrorStatus(500))();
            return error_status(StatusCode::INTERNAL_SERVER_ERROR, "http500");
        }
        Behaviour::Http400 => {
            end(Outcome::ErrorStatus(400))();
            return error_status(StatusCode::BAD_REQUEST, "http400");
        }
        _ => {}
    }
    if !stream {
        end(Outcome::Completed)();
        let text = if model == FAST_MODEL {
            "Mock title"
        } else {
            "mock answer"
        };
        return axum::Json(json!({
            "id": "mock-1", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }))
        .into_response();
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(feed(shared.clone(), index, model, behaviour, tx));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("a well-formed response")
}

/// Writes one streamed answer; notes in the log how it ended.
async fn feed(
    shared: Arc<Shared>,
    index: usize,
    model: String,
    behaviour: Behaviour,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let finish = |outcome: Outcome| {
        shared.update(index, |r| {
            r.ended = Some(Instant::now());
            r.outcome = outcome;
        })
    };
    let sent = |n: usize| shared.update(index, |r| r.chunks_sent = n);
    let (chunks, delay, cut, short) = match behaviour {
        Behaviour::Ok { chunks, delay } => (chunks, delay, false, false),
        Behaviour::DropAfter { chunks } => (chunks, Duration::from_millis(50), true, false),
        Behaviour::EndAfter { chunks } => (chunks, Duration::from_millis(50), false, true),
        Behaviour::Malformed => {
            let _ = tx
                .send(Ok(Bytes::from("data: {this is not json\n\n")))
                .await;
            sent(1);
            // Let the line reach the client before the stream ends.
            tokio::time::sleep(Duration::from_millis(100)).await;
            finish(Outcome::CutOnPurpose);
            return;
        }
        Behaviour::Hang => {
            tx.closed().await;
            finish(Outcome::ClientWentAway);
            return;
        }
        Behaviour::Http500 | Behaviour::Http400 => unreachable!("answered before streaming"),
    };
    for i in 0..chunks {
        let text = if model == FAST_MODEL {
            "Mock title".to_string()
        } else {
            format!("w{i} ")
        };
        if tx
            .send(Ok(sse_chunk(&model, Some(&text), None)))
            .await
            .is_err()
        {
            finish(Outcome::ClientWentAway);
            return;
        }
        sent(i + 1);
        if i + 1 < chunks || !(cut || short) {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = tx.closed() => { finish(Outcome::ClientWentAway); return; }
            }
        }
    }
    if cut {
        let _ = tx
            .send(Err(std::io::Error::other("mock provider cuts the stream")))
            .await;
        finish(Outcome::CutOnPurpose);
        return;
    }
    if short {
        finish(Outcome::CutOnPurpose);
        return;
    }
    let tail = [
        sse_chunk(&model, None, Some("stop")),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ];
    for bytes in tail {
        if tx.send(Ok(bytes)).await.is_err() {
            finish(Outcome::ClientWentAway);
            return;
        }
    }
    finish(Outcome::Completed);
}
