//! The HTTP API over a [`Server`]: JSON in and out, errors as `{"error": kind, "detail": text}`.
//! Bodies and path ids are parsed here rather than by axum's extractors, whose rejections are
//! plain text: every refusal has the same JSON shape.

use std::future::Future;

use std::convert::Infallible;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::sessions::{Server, SessionError, SessionEvent};

/// The session server's routes.
pub fn router(server: Server) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/sessions", get(list).post(create))
        .route("/sessions/{id}/prompt", post(prompt))
        .route("/sessions/{id}/abort", post(abort))
        .route("/sessions/{id}/events", get(events))
        .route("/shutdown", post(shutdown))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(server)
}

/// A refusal: its status and the JSON body every refusal has.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    detail: String,
}

impl ApiError {
    fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "bad-request",
            detail: detail.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.kind, "detail": self.detail });
        (self.status, Json(body)).into_response()
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        let detail = error.to_string();
        let (status, kind) = match error {
            SessionError::Gone(_) => (StatusCode::NOT_FOUND, "gone"),
            SessionError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            SessionError::Closing => (StatusCode::SERVICE_UNAVAILABLE, "shutting-down"),
            SessionError::Spawn(_) => (StatusCode::INTERNAL_SERVER_ERROR, "spawn-failed"),
        };
        Self {
            status,
            kind,
            detail,
        }
    }
}

#[derive(Deserialize)]
struct CreateBody {
    agent: String,
}

#[derive(Deserialize)]
struct PromptBody {
    text: String,
}

fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| ApiError::bad_request(format!("unreadable body: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
}

fn session_id(raw: &str) -> Result<u64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request(format!("a session id is a number, not {raw:?}")))
}

async fn health(State(server): State<Server>) -> Json<Value> {
    Json(json!({
        "ok": true,
        "workdir": server.workdir().to_string_lossy(),
        "pid": std::process::id(),
    }))
}

async fn list(State(server): State<Server>) -> Json<Value> {
    Json(json!(server.list()))
}

/// Runs a call's effect in a task of its own, so that it completes even when its client
/// went away (as a Node handler does): a caller that timed out may still have created the
/// session, and a listing finds it (a lost reply).
async fn to_the_end<T: Send + 'static>(effect: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(effect).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

async fn create(
    State(server): State<Server>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: CreateBody = parse(body)?;
    let agent = body.agent.clone();
    let id = to_the_end(async move { server.create(&agent).await }).await?;
    tracing::info!(id, agent = body.agent, "session created");
    Ok(Json(json!({ "id": id })))
}

async fn prompt(
    State(server): State<Server>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    let body: PromptBody = parse(body)?;
    to_the_end(async move { server.prompt(id, &body.text).await }).await?;
    Ok(Json(json!({})))
}

async fn abort(
    State(server): State<Server>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = session_id(&id)?;
    to_the_end(async move { server.abort(id).await }).await?;
    tracing::info!(id, "session aborted");
    Ok(Json(json!({})))
}

async fn events(
    State(server): State<Server>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = session_id(&id)?;
    // Subscribed before the response's head is sent: a client that has the head sees every
    // event from then on.
    let receiver = server.subscribe(id)?;
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((Ok(to_sse(event)), receiver)),
                // A subscriber too slow to keep up loses the oldest events, not the stream.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    // Keep-alive comments let a watcher that went away be noticed while the session is quiet.
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn to_sse(event: SessionEvent) -> Event {
    match event {
        SessionEvent::Idle => Event::default().event("idle").data("{}"),
        SessionEvent::Error(detail) => Event::default().event("error").data(detail.to_string()),
    }
}

async fn shutdown(State(server): State<Server>) -> Json<Value> {
    // `serve` sees the request, kills the children and stops once this answer is out.
    server.request_shutdown();
    Json(json!({}))
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "not-found",
        detail: "no such route".into(),
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        kind: "method-not-allowed",
        detail: "this route does not take that method".into(),
    }
}
