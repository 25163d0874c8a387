//! The control API as an axum router over a [`Lifecycle`].

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use agent_lifecycle::{AgentId, Lifecycle, LifecycleError, SessionBackend, StartRequest, Workdir};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::api::{AgentState, ErrorBody, StartBody, StartReply};

/// What the router serves: a lifecycle manager, and which dispatch each agent serves.
pub struct Control<B, L> {
    lifecycle: Arc<L>,
    /// The dispatch of each agent's latest accepted start, until a stop or a failed start.
    serving: Mutex<BTreeMap<AgentId, String>>,
    backend: PhantomData<fn() -> B>,
}

impl<B: SessionBackend, L: Lifecycle<B>> Control<B, L> {
    pub fn new(lifecycle: Arc<L>) -> Arc<Self> {
        Arc::new(Self {
            lifecycle,
            serving: Mutex::new(BTreeMap::new()),
            backend: PhantomData,
        })
    }

    pub fn lifecycle(&self) -> &Arc<L> {
        &self.lifecycle
    }

    fn serving(&self) -> std::sync::MutexGuard<'_, BTreeMap<AgentId, String>> {
        self.serving.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn state_of(&self, agent: &AgentId) -> Option<AgentState> {
        let snapshot = self.lifecycle.snapshot();
        snapshot
            .agents
            .iter()
            .find(|r| &r.agent == agent)
            .map(AgentState::of)
    }
}

/// The control API (`../shared/seed-system.md` §2): `POST /agents/start`,
/// `POST /agents/{id}/stop`, `GET /agents/{id}/status`, `GET /health`.
pub fn router<B: SessionBackend, L: Lifecycle<B>>(control: Arc<Control<B, L>>) -> Router {
    Router::new()
        .route("/agents/start", post(start::<B, L>))
        .route("/agents/{id}/stop", post(stop::<B, L>))
        .route("/agents/{id}/status", get(status::<B, L>))
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .with_state(control)
}

fn error(code: StatusCode, error: &str, detail: String) -> Response {
    let body = ErrorBody {
        error: error.to_string(),
        detail,
    };
    (code, Json(body)).into_response()
}

fn refused(e: &LifecycleError) -> Response {
    let (code, kind) = match e {
        LifecycleError::Evicting => (StatusCode::SERVICE_UNAVAILABLE, "evicting"),
        LifecycleError::Cancelled => (StatusCode::CONFLICT, "cancelled"),
        LifecycleError::Backend(_) => (StatusCode::BAD_GATEWAY, "backend"),
    };
    error(code, kind, e.to_string())
}

/// Answers once the start returned (the real route answers after the initial prompt). A
/// start of the dispatch the agent already serves answers at once and starts nothing.
async fn start<B: SessionBackend, L: Lifecycle<B>>(
    State(control): State<Arc<Control<B, L>>>,
    Json(body): Json<StartBody>,
) -> Response {
    if body.agent.is_empty() || body.workdir.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "agent and workdir must not be empty".into(),
        );
    }
    let agent = AgentId::new(&body.agent);
    if let Some(dispatch) = &body.dispatch {
        let mut serving = control.serving();
        if serving.get(&agent) == Some(dispatch) {
            let reply = StartReply {
                agent: body.agent,
                outcome: "already-serving".into(),
            };
            return Json(reply).into_response();
        }
        serving.insert(agent.clone(), dispatch.clone());
    }
    let request = StartRequest {
        agent: agent.clone(),
        workdir: Workdir::new(&body.workdir),
        prompt: body.prompt,
    };
    match control.lifecycle.start(request).await {
        Ok(()) => Json(StartReply {
            agent: body.agent,
            outcome: "started".into(),
        })
        .into_response(),
        Err(e) => {
            if let Some(dispatch) = &body.dispatch {
                let mut serving = control.serving();
                if serving.get(&agent) == Some(dispatch) {
                    serving.remove(&agent);
                }
            }
            refused(&e)
        }
    }
}

/// 404 for an agent the container has no record of, as the real route.
async fn stop<B: SessionBackend, L: Lifecycle<B>>(
    State(control): State<Arc<Control<B, L>>>,
    Path(id): Path<String>,
) -> Response {
    let agent = AgentId::new(&id);
    if control.state_of(&agent).is_none() {
        return error(StatusCode::NOT_FOUND, "not-found", format!("no agent {id}"));
    }
    control.serving().remove(&agent);
    match control.lifecycle.stop(&agent).await {
        Ok(()) => match control.state_of(&agent) {
            Some(state) => Json(state).into_response(),
            None => error(StatusCode::NOT_FOUND, "not-found", format!("no agent {id}")),
        },
        Err(e) => refused(&e),
    }
}

async fn status<B: SessionBackend, L: Lifecycle<B>>(
    State(control): State<Arc<Control<B, L>>>,
    Path(id): Path<String>,
) -> Response {
    match control.state_of(&AgentId::new(&id)) {
        Some(state) => Json(state).into_response(),
        None => error(StatusCode::NOT_FOUND, "not-found", format!("no agent {id}")),
    }
}
