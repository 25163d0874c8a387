//! The control API as an axum router over a [`Lifecycle`].

use std::sync::Arc;

use agent_lifecycle::{AgentId, Lifecycle, LifecycleError, SessionBackend};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::api::{ErrorBody, StartBody, StartReply};
use crate::control::{Control, InFlight, StopRoute, request_of};

/// The control API (`docs/real-system.md`): `POST /agents/start`,
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
        LifecycleError::NotRunning => (StatusCode::NOT_FOUND, "not_running"),
        LifecycleError::Unsupported => (StatusCode::NOT_IMPLEMENTED, "unsupported"),
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
    // LATEST: a start that arrives during boot hydration waits for it.
    control.hydrated.wait().await;
    let agent = AgentId::new(&body.agent);
    if let Some(dispatch) = &body.dispatch {
        // The agent still serves this dispatch while a start of it runs or its record lives;
        // once the record has finished (an idle exit, a failure), the dispatch may run again.
        let live = control.is_live(&agent);
        let mut serving = control.serving();
        if serving.get(&agent) == Some(dispatch) && live {
            let reply = StartReply {
                agent: body.agent,
                outcome: "already-serving".into(),
            };
            return Json(reply).into_response();
        }
        serving.insert(agent.clone(), dispatch.clone());
    }
    // Registered before it runs: a container that dies during the start takes it up again.
    control.register(&agent, Some(body.clone()));
    let counted = InFlight::count(&control.starting, &agent);
    let started = control.lifecycle.start(request_of(&body)).await;
    drop(counted);
    control.sync_registry();
    match started {
        Ok(()) => Json(StartReply {
            agent: body.agent,
            outcome: "started".into(),
        })
        .into_response(),
        Err(e) => {
            if !matches!(e, LifecycleError::Cancelled) {
                control.unregister(&agent, &body);
            }
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
    // Forgotten before anything else: a container that dies during the stop must not
    // resurrect the agent at its next boot, and boot hydration must not start it if it has
    // not yet (found by the system runs: a stop during hydration answered 404, and the agent
    // was started after it).
    if control.stop_route == StopRoute::ForgetsFirst {
        control.register(&agent, None);
    }
    if control.state_of(&agent).is_none() {
        return error(StatusCode::NOT_FOUND, "not-found", format!("no agent {id}"));
    }
    control.register(&agent, None);
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
